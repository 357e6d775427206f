"""A small Kustomize renderer: the subset deploy/kubernetes/ uses, so the tests need no kubectl.

Supported kustomization fields: `resources` (files, and directories holding a kustomization),
`namespace`, `patches` (strategic-merge patches from files, matched by kind and name, `$patch: delete`
included), `configMapGenerator` (`files`, with Kustomize's content-hash name suffix and the references
in pod templates renamed), and `images`. Any other field raises, so the renderer never quietly
disagrees with `kubectl kustomize`; tests/test_kubernetes.py compares the two wherever a kubectl with
Kustomize v5 is installed.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "patches", "configMapGenerator", "images"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class KustomizeError(Exception):
    pass


def render(directory: Path) -> list[Obj]:
    """The objects `kubectl kustomize directory` would print (in no particular order)."""
    objects, renamed = _build(Path(directory))
    for obj in objects:
        _rename_config_maps(obj, renamed)
    return objects


def _build(directory: Path) -> tuple[list[Obj], dict[str, str]]:
    path = directory / "kustomization.yaml"
    spec = yaml.safe_load(path.read_text())
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{path}: fields this renderer does not support: {sorted(unknown)}")
    objects: list[Obj] = []
    renamed: dict[str, str] = {}
    for entry in spec.get("resources", []):
        target = directory / entry
        if target.is_dir():
            inner, inner_renamed = _build(target)
            objects += inner
            renamed.update(inner_renamed)
        else:
            objects += [doc for doc in yaml.safe_load_all(target.read_text()) if doc]
    for generator in spec.get("configMapGenerator", []):
        config_map = _config_map(directory, generator)
        renamed[generator["name"]] = config_map["metadata"]["name"]
        objects.append(config_map)
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise KustomizeError(f"{path}: only `patches: - path: FILE` is supported, not {patch}")
        objects = _apply_patch(objects, yaml.safe_load((directory / patch["path"]).read_text()))
    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = spec["namespace"]
    for image in spec.get("images", []):
        for obj in objects:
            _set_image(obj, image)
    return objects, renamed


# --- configMapGenerator ----------------------------------------------------------------------------


def _config_map(directory: Path, generator: Obj) -> Obj:
    if set(generator) - {"name", "files"}:
        raise KustomizeError(f"configMapGenerator: only `name` and `files` are supported: {generator}")
    data = {}
    for name in generator["files"]:
        data[Path(name).name] = (directory / name).read_text()
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{generator['name']}-{content_hash(data)}"},
        "data": data,
    }


def content_hash(data: dict[str, str]) -> str:
    """Kustomize's name suffix for a generated ConfigMap (api/hasher in kustomize v5): the SHA-256
    of Go's JSON encoding of {"data", "kind", "name": ""}, its first ten hex digits with 0, 1, 3, a and
    e replaced so the suffix cannot spell words."""
    encoded = json.dumps(
        {"data": data, "kind": "ConfigMap", "name": ""},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        encoded = encoded.replace(char, escaped)
    encoded = encoded.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def pod_spec(obj: Obj) -> Obj | None:
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] in POD_TEMPLATE_KINDS:
        return obj["spec"]["template"]["spec"]
    return None


def _rename_config_maps(obj: Obj, renamed: dict[str, str]) -> None:
    spec = pod_spec(obj)
    if spec is None:
        return
    for volume in spec.get("volumes", []):
        if "configMap" in volume:
            volume["configMap"]["name"] = renamed.get(
                volume["configMap"]["name"], volume["configMap"]["name"]
            )
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("configMapKeyRef")
            if ref is not None:
                ref["name"] = renamed.get(ref["name"], ref["name"])
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef")
            if ref is not None:
                ref["name"] = renamed.get(ref["name"], ref["name"])


# --- patches ---------------------------------------------------------------------------------------


def _apply_patch(objects: list[Obj], patch: Obj) -> list[Obj]:
    kind, name = patch["kind"], patch["metadata"]["name"]
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    if len(matches) != 1:
        raise KustomizeError(f"patch for {kind}/{name} matches {len(matches)} objects")
    (target,) = matches
    if patch.get("$patch") == "delete":
        return [o for o in objects if o is not target]
    merged = strategic_merge(target, {k: v for k, v in patch.items() if k != "$patch"})
    return [merged if o is target else o for o in objects]


def strategic_merge(base: Any, patch: Any) -> Any:
    """Maps merge key by key; lists of named maps (containers, env, volumes, volumeMounts, ports)
    merge by `name`, new items first as Kustomize puts them; any other list is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = strategic_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _named(base) and _named(patch):
        by_name = {item["name"]: item for item in patch}
        added = [copy.deepcopy(item) for item in patch if item["name"] not in {b["name"] for b in base}]
        kept = [
            strategic_merge(item, by_name[item["name"]]) if item["name"] in by_name else item for item in base
        ]
        return added + kept
    return copy.deepcopy(patch)


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


# --- images ----------------------------------------------------------------------------------------


def _set_image(obj: Obj, image: Obj) -> None:
    spec = pod_spec(obj)
    if spec is None:
        return
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        current = container["image"]
        name = current.split("@")[0]
        name, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "")
        if name != image["name"]:
            continue
        name = image.get("newName", name)
        tag = str(image.get("newTag", tag))
        container["image"] = f"{name}:{tag}" if tag else name
