"""Which upstream path a deployment takes, and where an OpenAI-wire provider lives.

Providers that speak the OpenAI wire format are forwarded as bytes (the fast path); everything else
goes through LiteLLM's translation.
"""

from __future__ import annotations

# provider prefix -> default base URL (None: the deployment must set api_base)
OPENAI_WIRE: dict[str, str | None] = {
    "openai": "https://api.openai.com/v1",
    "text-completion-openai": "https://api.openai.com/v1",
    "custom_openai": None,
    "openai_like": None,
    "hosted_vllm": None,
    "vllm": None,
    "llamacpp": None,
    "lm_studio": None,
    "ollama_chat": None,
    "together_ai": "https://api.together.xyz/v1",
    "groq": "https://api.groq.com/openai/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "fireworks_ai": "https://api.fireworks.ai/inference/v1",
    "mistral": "https://api.mistral.ai/v1",
    "xai": "https://api.x.ai/v1",
    "perplexity": "https://api.perplexity.ai",
    "deepinfra": "https://api.deepinfra.com/v1/openai",
}


def split_model(model: str) -> tuple[str, str]:
    """`"anthropic/claude-3-5-haiku"` -> `("anthropic", "claude-3-5-haiku")`; no prefix means openai."""
    provider, sep, rest = model.partition("/")
    if sep and rest:
        return provider, rest
    return "openai", model


def default_path(provider: str) -> str:
    return "passthrough" if provider in OPENAI_WIRE else "litellm"


def default_api_base(provider: str) -> str | None:
    return OPENAI_WIRE.get(provider)
