"""Semantic configuration rules, checked once before a snapshot is served.

The loader only knows shapes; these rules know meaning: names a client will type, references between
groups, aliases and fallbacks, numbers that must not be negative, and (for `gateway check`) whether
each upstream answers at all. Every rule appends to `Problems` and none raises, so one run reports
everything wrong with a file. Messages name the config path of the offending field and never
include a key or the secret parts of a URL.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway import model_map
from gateway.config import probe
from gateway.config.backend import probe_redis
from gateway.config.model import Deployment, Snapshot
from gateway.config.probe import is_http_url, redact_url
from gateway.config.problems import Problems
from gateway.experiments.config import check as check_experiments
from gateway.routing.strategies import NAMES as STRATEGY_NAMES
from gateway.routing.strategies import canonical as canonical_strategy
from gateway.selector.capabilities import check as check_model_routing

MAX_NAME_LENGTH = 256
NAME_CHARS = frozenset(string.ascii_letters + string.digits + "-_.:/")
NAME_CHARS_TEXT = "a-z A-Z 0-9 - _ . : /"
AUTO_MODEL = "auto"  # `model="auto"` asks for automatic selection; always a valid name
GENERIC_FALLBACK = "*"  # LiteLLM's fallback chain for any group without its own
_MAX_LISTED = 10


def validate(snapshot: Snapshot, problems: Problems, *, probe: bool = False) -> None:
    """Append every semantic problem of `snapshot`; with `probe`, also try each api_base over HTTP."""
    names = _Names.of(snapshot)
    _check_group_names(snapshot, problems)
    _check_deployments(snapshot, names, problems)
    _check_liveness(snapshot, problems)
    _check_aliases(names, problems)
    _check_fallbacks(snapshot, names, problems)
    _check_default_model(snapshot, names, problems)
    _check_router_numbers(snapshot, problems)
    _check_api_keys(snapshot, names, problems)
    check_experiments(snapshot, problems, names.resolve)
    check_model_routing(snapshot, problems, names.resolve)
    if probe:
        probe_api_bases(snapshot.deployments, problems)
        if snapshot.router.redis_url is not None:
            probe_redis(snapshot.router.redis_url, problems)


@dataclass(frozen=True, slots=True)
class _Names:
    """Every name a request or a reference may use, and how aliases resolve to groups."""

    declared: frozenset[str]  # live groups plus groups whose deployments were all skipped
    aliases: Mapping[str, str]

    @classmethod
    def of(cls, snapshot: Snapshot) -> _Names:
        return cls(frozenset(snapshot.groups) | snapshot.skipped_groups, snapshot.router.model_group_alias)

    def resolve(self, name: str) -> str | None:
        """The group `name` ends at; None when unknown or in a cycle.

        Same reading as `gateway.routing.resolve`: an alias wins over a group of the same name, and
        an alias naming itself stands for the group of that name.
        """
        seen: set[str] = set()
        while name in self.aliases and self.aliases[name] != name:
            if name in seen:
                return None
            seen.add(name)
            name = self.aliases[name]
        return name if name in self.declared else None

    def hint(self) -> str:
        known = sorted(self.declared | set(self.aliases))
        listed = ", ".join(known[:_MAX_LISTED]) + (", ..." if len(known) > _MAX_LISTED else "")
        return f" (known: {listed})" if known else ""


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a model group, alias or default model name, or None when it can."""
    if not name:
        return "must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"is {len(name)} characters long, at most {MAX_NAME_LENGTH} allowed"
    bad = sorted(set(name) - NAME_CHARS)
    if bad:
        listed = " ".join(repr(c) for c in bad)
        return f"{_short(name)} contains characters not allowed: {listed} (allowed: {NAME_CHARS_TEXT})"
    return None


def _short(name: str) -> str:
    return repr(name if len(name) <= 60 else name[:57] + "...")


def _where(dep: Deployment, key: str) -> str:
    return f"model_list[{dep.index}].{key}" if dep.index >= 0 else f"deployment {dep.id}: {key}"


def _check_group_names(snapshot: Snapshot, problems: Problems) -> None:
    for group in snapshot.groups.values():
        reason = name_problem(group.name)
        if reason:
            problems.error(_where(group.deployments[0], "model_name"), reason)
    for name in sorted(snapshot.skipped_groups - set(snapshot.groups)):
        reason = name_problem(name)
        if reason:
            problems.error("model_list", f"model_name of a skipped deployment: {reason}")


def _check_deployments(snapshot: Snapshot, names: _Names, problems: Problems) -> None:
    first_by_id: dict[str, Deployment] = {}
    skipped_ids = {dep_id for dep_id, _ in snapshot.skipped}
    for dep in sorted(snapshot.deployments, key=lambda d: d.index):
        if dep.id in first_by_id:
            other = _where(first_by_id[dep.id], "model_info.id")
            problems.error(_where(dep, "model_info.id"), f"duplicate deployment id {dep.id!r} (also {other})")
        elif dep.id in skipped_ids:
            problems.error(_where(dep, "model_info.id"), f"duplicate deployment id {dep.id!r} (also skipped)")
        first_by_id.setdefault(dep.id, dep)
        _check_deployment_numbers(dep, problems)
        _check_api_base(dep, problems)
        _check_model_known(dep, names, problems)
    seen: set[str] = set()
    for dep_id, _ in snapshot.skipped:
        if dep_id in seen:
            problems.error("model_list", f"duplicate deployment id {dep_id!r} among skipped deployments")
        seen.add(dep_id)


def _check_deployment_numbers(dep: Deployment, problems: Problems) -> None:
    for key, value in (
        ("weight", dep.weight),
        ("rpm", dep.rpm),
        ("tpm", dep.tpm),
        ("max_retries", dep.max_retries),
    ):
        if value is not None and value < 0:
            problems.error(_where(dep, f"litellm_params.{key}"), f"must not be negative, got {value:g}")
    for key, value in (("timeout", dep.timeout), ("stream_timeout", dep.stream_timeout)):
        if value is not None and value <= 0:
            problems.error(_where(dep, f"litellm_params.{key}"), f"must be positive, got {value:g}")


def _check_api_base(dep: Deployment, problems: Problems) -> None:
    if dep.api_base and not is_http_url(dep.api_base):
        problems.error(
            _where(dep, "litellm_params.api_base"), f"{redact_url(dep.api_base)!r} is not an http(s) URL"
        )


def _check_model_known(dep: Deployment, names: _Names, problems: Problems) -> None:
    """Warn when LiteLLM's map cannot price the deployment; `model_info.base_model` names it, as in LiteLLM."""
    if model_map.is_known(dep.model) or dep.model in names.declared:
        return
    base_model = dep.model_info.get("base_model")
    if isinstance(base_model, str) and model_map.is_known(base_model):
        return
    problems.warning(
        _where(dep, "litellm_params.model"),
        f"{dep.model!r} not in LiteLLM's model map: cost and context window unknown",
    )


def _check_liveness(snapshot: Snapshot, problems: Problems) -> None:
    for dep_id, reason in snapshot.skipped:
        problems.warning("model_list", f"deployment {dep_id} skipped: {reason}")
    if not snapshot.deployments:
        why = f" ({len(snapshot.skipped)} skipped, see above)" if snapshot.skipped else ""
        problems.error("model_list", f"no deployment is live{why}")


def _check_aliases(names: _Names, problems: Problems) -> None:
    """Aliases come from router_settings.model_group_alias merged with GRID_MODEL_ALIASES."""
    where = "router_settings.model_group_alias"
    for alias, target in names.aliases.items():
        reason = name_problem(alias)
        if reason:
            problems.error(f"{where}.{alias}", reason)
        if alias in names.declared and target == alias:
            problems.warning(f"{where}.{alias}", f"alias {alias!r} names its own model group: no effect")
        elif alias in names.declared:
            problems.error(
                f"{where}.{alias}",
                f"alias {alias!r} has the same name as a model group: ambiguous (the alias would hide the group)",
            )
        elif target not in names.declared and target not in names.aliases:
            problems.error(
                f"{where}.{alias}", f"target {target!r} is neither a model group nor an alias{names.hint()}"
            )
    for cycle in _alias_cycles(names):
        problems.error(f"{where}.{cycle[0]}", "alias cycle: " + " -> ".join((*cycle, cycle[0])))


def _alias_cycles(names: _Names) -> list[tuple[str, ...]]:
    """Each cycle once, rotated to start at its smallest name so a -> b -> a and b -> a -> b agree."""
    cycles: set[tuple[str, ...]] = set()
    for start in names.aliases:
        path: list[str] = []
        name = start
        while name in names.aliases and name not in path:
            path.append(name)
            if names.aliases[name] == name:
                break  # names itself: the group of that name, or a cycle of one when there is none
            name = names.aliases[name]
        if name in path and not (names.aliases[name] == name and name in names.declared):
            cycle = path[path.index(name) :]
            i = cycle.index(min(cycle))
            cycles.add(tuple(cycle[i:] + cycle[:i]))
    return sorted(cycles)


def _check_reference(name: str, where: str, what: str, names: _Names, problems: Problems) -> None:
    """A group whose deployments were all skipped still counts: its skip is already a warning."""
    group = names.resolve(name)
    if group is None:
        problems.error(where, f"{what} {name!r} is not a model group or alias{names.hint()}")


def _check_fallbacks(snapshot: Snapshot, names: _Names, problems: Problems) -> None:
    router = snapshot.router
    for key, table in (
        ("fallbacks", router.fallbacks),
        ("context_window_fallbacks", router.context_window_fallbacks),
    ):
        for source, targets in table.items():
            where = f"router_settings.{key}.{source}"
            if not (key == "fallbacks" and source == GENERIC_FALLBACK):
                _check_reference(source, where, "fallback source", names, problems)
            for target in targets:
                _check_reference(target, where, "fallback target", names, problems)
                _check_kinds(snapshot, names, source, target, where, problems)
    for i, name in enumerate(router.fallback_chain):
        _check_reference(name, f"GRID_MODEL_FALLBACK_CHAIN[{i}]", "fallback", names, problems)


def _check_kinds(
    snapshot: Snapshot, names: _Names, source: str, target: str, where: str, problems: Problems
) -> None:
    """A group's own fallback to a group of another kind (embedding -> chat, say) is kept as written,
    but it is surely a mistake: the shared chains (`"*"`, GRID_MODEL_FALLBACK_CHAIN) skip such groups."""
    if source == GENERIC_FALLBACK:
        return
    own, other = (
        snapshot.groups.get(names.resolve(source) or ""),
        snapshot.groups.get(names.resolve(target) or ""),
    )
    if own is not None and other is not None and own.kind != other.kind:
        problems.warning(
            where,
            f"fallback target {target!r} serves {other.kind} requests, {source!r} serves {own.kind}: "
            "its requests would reach a model of another kind",
        )


def _check_default_model(snapshot: Snapshot, names: _Names, problems: Problems) -> None:
    model = snapshot.default_model
    if model is None:
        return
    reason = name_problem(model)
    if reason:
        problems.error("GRID_AI_MODEL", reason)
    elif model != AUTO_MODEL:
        _check_reference(model, "GRID_AI_MODEL", "default model", names, problems)


def _check_router_numbers(snapshot: Snapshot, problems: Problems) -> None:
    router = snapshot.router
    w = "router_settings"
    try:
        canonical_strategy(router.routing_strategy)  # the balancer's own table of accepted names
    except ValueError:
        allowed = ", ".join(sorted(STRATEGY_NAMES))
        problems.error(
            f"{w}.routing_strategy", f"unknown strategy {router.routing_strategy!r} (one of: {allowed})"
        )
    non_negative = {
        "num_retries": router.num_retries,
        "allowed_fails": router.allowed_fails,
        "cooldown_time": router.cooldown_time,
        "retry_after": router.retry_after,
    }
    for key, value in non_negative.items():
        if value < 0:
            problems.error(f"{w}.{key}", f"must not be negative, got {value:g}")
    positive = {
        "timeout": router.timeout,
        "stream_timeout": router.stream_timeout,
        "request_timeout": router.request_timeout,
        "health_check_interval": router.health_check_interval,
    }
    for key, value in positive.items():
        if value is not None and not value > 0:  # NaN too
            problems.error(f"{w}.{key}", f"must be positive, got {value:g}")


def _check_api_keys(snapshot: Snapshot, names: _Names, problems: Problems) -> None:
    """Two keys with one value would make permissions depend on list order; models must exist."""
    w = "general_settings.api_keys"
    owner: dict[str, str] = {}
    for key in snapshot.general.keys:
        if key.key in owner:
            problems.error(w, f"key {key.name!r} has the same value as key {owner[key.key]!r}")
        owner.setdefault(key.key, key.name)
        for model in sorted(key.models):
            if model != AUTO_MODEL and names.resolve(model) is None:
                problems.warning(w, f"key {key.name!r} allows {model!r}, which is not a model group or alias")


# --- api_base probe ---------------------------------------------------------------------------------


def probe_api_bases(deployments: Iterable[Deployment], problems: Problems) -> None:
    """Warn about each distinct api_base that gives no HTTP answer at all (see `probe.unreachable`)."""
    from gateway.standby import mock_ports

    first: dict[str, Deployment] = {}
    for dep in deployments:
        if mock_ports([dep]):
            continue  # a standby on loopback: `gateway serve` starts the bundled mock there if need be
        base = dep.api_base
        if base and is_http_url(base):
            first.setdefault(base.rstrip("/"), dep)
    for base, reason in probe.unreachable(list(first)):
        url = redact_url(base)
        problems.warning(
            _where(first[base], "litellm_params.api_base"),
            f"api_base {url} unreachable: {reason.replace(base, url)}",
        )
