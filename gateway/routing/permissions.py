"""Which model groups a client key may be served by.

A key's model list (`general_settings.api_keys[].models`, group names and aliases) bounds every group
that may serve its requests, not only the one it asked for:

- the group the asked name resolves to: allowed when the key lists the name asked or the group (the
  route step checks it, with the 403 that names the model);
- every other group that might serve the request instead (an experiment variant, an auto-selection
  candidate, a `fallbacks` / `GRID_MODEL_FALLBACK_CHAIN` / `context_window_fallbacks` group): allowed
  only when the key lists that group or one of the aliases that lead to it. Listing an alias is
  permission for its group, not for the groups it might fall back to.

A key without a model list may use every group; that common case costs one attribute test. The
tests here are pure functions of the key, the snapshot and the group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import lru_cache

from gateway.config.model import ApiKey, Snapshot
from gateway.routing.resolve import Resolution, resolver_for


def restricted(key: ApiKey | None) -> bool:
    """Whether `key` has a model list at all (no key: auth is off, nothing is restricted)."""
    return key is not None and bool(key.models)


@lru_cache(maxsize=4)
def names_of(snapshot: Snapshot) -> Mapping[str, frozenset[str]]:
    """group -> the names that lead to it: itself and every alias that resolves to it."""
    resolver = resolver_for(snapshot)
    names: dict[str, set[str]] = {g: {g} for g in snapshot.groups}
    for alias in snapshot.router.model_group_alias:
        group = resolver.group_of(alias)
        if group is not None:
            names.setdefault(group, {group}).add(alias)
    return {g: frozenset(n) for g, n in names.items()}


def group_permitted(key: ApiKey | None, snapshot: Snapshot, group: str) -> bool:
    """Whether `key` may be served by `group` on its own account (it lists the group or an alias of it)."""
    if key is None or not key.models:
        return True
    return not key.models.isdisjoint(names_of(snapshot).get(group, (group,)))


def permitted_groups(key: ApiKey | None, snapshot: Snapshot, groups: Iterable[str]) -> tuple[str, ...]:
    """`groups`, less those `key` may not be served by, order kept."""
    groups = tuple(groups)
    if key is None or not key.models:
        return groups
    return tuple(g for g in groups if group_permitted(key, snapshot, g))


def bound_chain(key: ApiKey | None, snapshot: Snapshot, resolution: Resolution) -> Resolution:
    """`resolution` with every group after the first that `key` may not use taken out of its chain.

    The first group is the one resolved from the name asked; whether the key may use it is the route
    step's 403, not a silent skip."""
    if key is None or not key.models:
        return resolution
    chain = resolution.chain
    kept = chain[:1] + permitted_groups(key, snapshot, chain[1:])
    return resolution if len(kept) == len(chain) else replace(resolution, chain=kept)


def key_allows(key: ApiKey | None, *names: str) -> bool:
    """Whether `key` may use a model asked by any of `names` (a key without a model list: any)."""
    return key is None or not key.models or any(n in key.models for n in names)
