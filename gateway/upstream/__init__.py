"""Upstream clients: the OpenAI-wire pass-through (aiohttp) and the LiteLLM translation path."""
