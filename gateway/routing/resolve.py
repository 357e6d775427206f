"""From the model a client names to the ordered chain of model groups that may serve it.

    override (x-grid-model-override / ?override_model) replaces the requested model
    -> model_group_alias, followed alias to alias up to MAX_ALIAS_DEPTH
    -> the model group
    -> chain: the group, its `fallbacks` entries, the `"*"` entries, then GRID_MODEL_FALLBACK_CHAIN
       (those last two shared by every group, so only the groups of the same kind: no embedding
       request falls back to a chat model)

This runs on every request, so a `Resolver` resolves every name the snapshot knows once, when it is
first asked about a snapshot, and a request is then one dict lookup. The snapshot is immutable, so
the tables never go stale: a reload brings a new snapshot and with it a new `Resolver`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from gateway.config.model import Snapshot
from gateway.errors import InvalidRequest, ModelNotFound

MAX_ALIAS_DEPTH = 16  # alias cycles are config errors reported by validation; this is the guard
WILDCARD = "*"  # LiteLLM: a fallbacks entry that applies to every model group


@dataclass(frozen=True, slots=True)
class Resolution:
    asked: str  # what the client asked for (or the override, or the default model)
    group: str  # the model group it resolved to
    chain: tuple[str, ...]  # groups to try in order, starting with `group`, no repeats
    overridden: bool


class Resolver:
    """Every model name of one snapshot (groups and aliases) resolved ahead of the requests."""

    __slots__ = ("default_model", "_plain", "_overridden", "_context")

    def __init__(self, snapshot: Snapshot) -> None:
        router = snapshot.router
        aliases = router.model_group_alias
        groups = snapshot.groups
        self.default_model = snapshot.default_model
        paths = {name: _alias_path(name, aliases, groups) for name in (*groups, *aliases)}
        targets = {name: path[-1] for name, path in paths.items() if path}

        def to_groups(names: Iterable[str]) -> list[str]:
            return [targets[n] for n in names if n in targets]

        wildcard = to_groups(router.fallbacks.get(WILDCARD, ()))
        tail = to_groups(router.fallback_chain)

        def same_kind(names: list[str], group: str) -> list[str]:
            """The chains every group shares hold only groups serving the same kind of endpoint."""
            kind = groups[group].kind
            return [g for g in names if groups[g].kind == kind]

        self._plain: dict[str, Resolution] = {}
        self._overridden: dict[str, Resolution] = {}
        for name, path in paths.items():
            if not path:
                continue
            group = path[-1]
            # Fallbacks may be keyed on the name asked, any alias on the way, or the group itself.
            own = [g for key in path for g in to_groups(router.fallbacks.get(key, ()))]
            chain = _unique([group, *own, *same_kind(wildcard, group), *same_kind(tail, group)])
            self._plain[name] = Resolution(name, group, chain, False)
            self._overridden[name] = Resolution(name, group, chain, True)
        cw = router.context_window_fallbacks
        cw_wildcard = to_groups(cw.get(WILDCARD, ()))
        self._context: dict[str, tuple[str, ...]] = {
            group: tuple(g for g in _unique([*to_groups(cw.get(group, ())), *cw_wildcard]) if g != group)
            for group in groups
        }

    def resolve(self, asked: str | None, override: str | None = None) -> Resolution:
        """Resolve a request's model. Raises InvalidRequest (no model at all) or ModelNotFound."""
        name = override or asked or self.default_model
        if not name:
            raise InvalidRequest("you must provide a model parameter", param="model")
        if not isinstance(name, str):
            raise InvalidRequest("model must be a string", param="model")
        found = (self._overridden if override else self._plain).get(name)
        if found is None:
            raise ModelNotFound(name)
        return found

    def group_of(self, name: str) -> str | None:
        """The group a model or alias name resolves to, or None when it names nothing served."""
        found = self._plain.get(name)
        return None if found is None else found.group

    def context_window_chain(self, group: str) -> tuple[str, ...]:
        """Groups to switch to when `group` rejects a prompt as too long; `group` itself is not in it."""
        own = self.group_of(group)
        return self._context.get(own, ()) if own is not None else ()


@lru_cache(maxsize=4)
def resolver_for(snapshot: Snapshot) -> Resolver:
    """The `Resolver` of a snapshot, built on first use. Snapshots hash by identity, and the cache
    holds the few most recent ones, so requests finishing on an old snapshot after a reload still
    hit it."""
    return Resolver(snapshot)


def resolve(snapshot: Snapshot, asked: str | None, override: str | None = None) -> Resolution:
    """Resolve a request's model against `snapshot`; see `Resolver.resolve`."""
    return resolver_for(snapshot).resolve(asked, override)


def context_window_chain(snapshot: Snapshot, group: str) -> tuple[str, ...]:
    """The `context_window_fallbacks` of `group` as model groups; see `Resolver.context_window_chain`."""
    return resolver_for(snapshot).context_window_chain(group)


def _alias_path(name: str, aliases: Mapping[str, str], groups: Mapping[str, object]) -> tuple[str, ...]:
    """`name`, the aliases it leads through, then its group; () when it leads to no group.

    Aliases win over group names, as in LiteLLM, so an alias can redirect an existing group; an
    alias naming itself is the group of that name.
    """
    path = [name]
    for _ in range(MAX_ALIAS_DEPTH + 1):  # up to MAX_ALIAS_DEPTH hops, then one last look
        target = aliases.get(name)
        if target is None or target == name:
            return tuple(path) if name in groups else ()
        path.append(target)
        name = target
    return ()  # deeper than any sane config: a cycle


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))
