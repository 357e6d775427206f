"""What counts as a deployment's secret, and how it is scrubbed from text bound for clients or logs."""

from __future__ import annotations

from gateway.config.model import Deployment

REDACTED = "[redacted]"
_SECRET_WORDS = ("key", "secret", "token", "password", "credential")


def deployment_secrets(dep: Deployment) -> tuple[str, ...]:
    """The deployment's key, its secret-named params, and an api_base carrying credentials."""
    found = [dep.api_key] if dep.api_key else []
    for name, value in dep.litellm_params.items():
        if isinstance(value, str) and len(value) >= 6 and any(w in name.lower() for w in _SECRET_WORDS):
            found.append(value)
    if dep.api_base and ("@" in dep.api_base or "?" in dep.api_base):
        found.append(dep.api_base)
    return tuple(found)


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
