"""Wire-format translation between the front doors (Responses, Anthropic Messages) and chat
completions, the one format every deployment serves (as bytes, or through LiteLLM)."""
