"""Validate custom resources against the openAPIV3Schema of their upstream CRD, offline.

A CRD's schema is OpenAPI v3 with Kubernetes extensions, not plain JSON Schema. What the API
server does differently, and this module mimics:

- unknown fields are pruned by the server; here they are errors (like `kubectl --validate=strict`),
  except under `x-kubernetes-preserve-unknown-fields: true`;
- `x-kubernetes-int-or-string: true` accepts an integer or a string;
- `nullable: true` also accepts null;
- `x-kubernetes-embedded-resource` objects carry apiVersion/kind/metadata implicitly.

CEL rules (`x-kubernetes-validations`) and admission webhooks are out of reach offline.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

_SUBSCHEMA_MAPS = ("properties", "patternProperties")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SUBSCHEMAS = ("items", "additionalProperties", "not")


def to_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """Translate one OpenAPI v3 (structural) schema node, recursively, into JSON Schema.

    Only schema keywords are rewritten: property *names* (a field may be called `format`)
    pass through untouched. `format: int32` and the like are left in; jsonschema ignores
    formats it does not check."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key in _SUBSCHEMA_MAPS:
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMA_LISTS:
            out[key] = [to_json_schema(sub) for sub in value]
        elif key in _SUBSCHEMAS and isinstance(value, dict):
            out[key] = to_json_schema(value)
        else:
            out[key] = value

    if node.get("x-kubernetes-int-or-string"):
        # The CRD often spells this as anyOf integer|string already; make it explicit either way.
        out.pop("anyOf", None)
        out["type"] = ["integer", "string"]
    if node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        for key in ("apiVersion", "kind"):
            props.setdefault(key, {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if node.get("nullable"):
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _object_schema(spec_schema: dict[str, Any]) -> dict[str, Any]:
    """The top-level schema: apiVersion/kind/metadata are checked by the server itself."""
    schema = to_json_schema(copy.deepcopy(spec_schema))
    props = schema.setdefault("properties", {})
    props["metadata"] = {"type": "object"}
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    schema["additionalProperties"] = False
    return schema


class CrdRegistry:
    """Every served (group/version, kind) found in a folder tree of CRD YAML files."""

    def __init__(self, crds_dir: Path) -> None:
        self._schemas: dict[tuple[str, str], dict[str, Any]] = {}
        for path in sorted(crds_dir.rglob("*.yaml")):
            # libyaml: the KServe and KubeRay CRDs are megabytes; the pure-python loader takes ~20 s.
            for doc in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    self._add(doc)

    def _add(self, crd: dict[str, Any]) -> None:
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served", True):
                raw = version["schema"]["openAPIV3Schema"]
                self._schemas[(f"{group}/{version['name']}", kind)] = _object_schema(raw)

    def knows(self, obj: dict[str, Any]) -> bool:
        return (obj.get("apiVersion"), obj.get("kind")) in self._schemas

    def errors(self, obj: dict[str, Any]) -> Iterator[str]:
        """Every schema violation of `obj`, as 'path: message' lines (empty when valid)."""
        schema = self._schemas[(obj["apiVersion"], obj["kind"])]
        validator = jsonschema.Draft202012Validator(schema)
        for err in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
            path = ".".join(str(p) for p in err.absolute_path) or "(root)"
            yield f"{path}: {err.message}"
