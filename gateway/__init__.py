"""GRID: an OpenAI-compatible reverse-proxy gateway for LLM APIs."""

__version__ = "0.1.0"

import os as _os

# LiteLLM must never fetch its model map from the network: use the copy bundled in the package.
_os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
_os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
