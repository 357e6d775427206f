"""Configuration: LiteLLM-proxy-compatible YAML turned into one immutable snapshot."""

from gateway.config.loader import ConfigError, load_config
from gateway.config.model import ApiKey, Deployment, GeneralSettings, ModelGroup, RouterSettings, Snapshot

__all__ = [
    "ApiKey",
    "ConfigError",
    "Deployment",
    "GeneralSettings",
    "ModelGroup",
    "RouterSettings",
    "Snapshot",
    "load_config",
]
