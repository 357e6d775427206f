"""What kind of endpoint a model group serves, so fallbacks never cross kinds.

`GRID_MODEL_FALLBACK_CHAIN` and the `"*"` fallbacks apply to every group; an embedding request must
not fall back to a chat model (nor a chat request to an embedding model). A group's kind is its
deployments' `model_info.mode` when the config gives one (LiteLLM's spelling: `chat`, `completion`,
`embedding`, `image_generation`, ...), else the `mode` LiteLLM's model map lists for the model, else
`chat`. Chat and text completion models are one kind: both serve generation requests.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway import model_map
from gateway.config.model import Deployment

CHAT = "chat"
EMBEDDING = "embedding"
_GENERATION_MODES = frozenset({"chat", "completion", "responses"})


def deployment_kind(dep: Deployment) -> str:
    mode = dep.model_info.get("mode")
    if not isinstance(mode, str) or not mode:
        info = model_map.model_info(dep.model)
        mode = info.get("mode") if info is not None else None
    if not isinstance(mode, str) or not mode or mode in _GENERATION_MODES:
        return CHAT
    return mode


def group_kind(deployments: Iterable[Deployment]) -> str:
    """The kind of the first deployment that is not a chat model, else chat (a group mixing kinds is
    a config mistake; an embedding deployment in it makes the group an embedding group)."""
    kinds = [deployment_kind(d) for d in deployments]
    return next((k for k in kinds if k != CHAT), CHAT)
