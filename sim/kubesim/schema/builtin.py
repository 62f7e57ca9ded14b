"""Built-in kinds: the Kubernetes JSON schemas that kubernetes-validate ships, and their validation (a field
of the wrong JSON type is a decode error, 400, as the Go struct decoder fails before validation)."""
import json
import re
import threading
from pathlib import Path

import jsonschema
import kubernetes_validate
from referencing import Registry, Resource

from .causes import _GO_VALUE_NAMES, _causes_from_error, _dedupe, _expected_type, _format_path, _join, _json_type
from .validation import Validation, _delete_path, _drop_nulls, _split_api_version


KUBERNETES_VERSION = "1.32"
_SCHEMA_DIR = (Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
               / f"v{KUBERNETES_VERSION}.0-local-strict")
_DEFS_URI = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


class _Builtins:
    """The 1.32 strict definitions, indexed by group/version/kind, loaded once on first use."""

    def __init__(self):
        doc = json.loads((_SCHEMA_DIR / "_definitions.json").read_text())
        self.defs = doc["$defs"]
        self.registry = Resource.from_contents(doc) @ Registry()
        self.by_gvk = {}
        for name, definition in self.defs.items():
            for gvk in definition.get("x-kubernetes-group-version-kind") or ():
                # DeleteOptions/WatchEvent claim every group; the real kinds claim one.
                if gvk["kind"] in ("DeleteOptions", "WatchEvent") and name.startswith("io.k8s.apimachinery"):
                    continue
                self.by_gvk[(gvk["group"], gvk["version"], gvk["kind"])] = name
        self.validators = {}
        self.lock = threading.Lock()

    def validator(self, def_name):
        found = self.validators.get(def_name)
        if found is None:
            with self.lock:
                found = self.validators.get(def_name)
                if found is None:
                    found = jsonschema.Draft202012Validator({"$ref": f"{_DEFS_URI}#/$defs/{def_name}"},
                                                            registry=self.registry)
                    self.validators[def_name] = found
        return found

    def resolve(self, ref):
        """A $ref inside _definitions.json ("#/$defs/NAME") -> (NAME, definition)."""
        name = ref.rsplit("/", 1)[-1]
        return name, self.defs[name]


_builtins = None
_builtins_lock = threading.Lock()


def _get_builtins():
    global _builtins
    if _builtins is None:
        with _builtins_lock:
            if _builtins is None:
                _builtins = _Builtins()
    return _builtins


def _builtin_def(api_version, kind):
    group, version = _split_api_version(api_version)
    return _get_builtins().by_gvk.get((group, version, kind))


def builtin_known(api_version, kind):
    """Whether kubernetes-validate ships a schema for this built-in kind."""
    return _builtin_def(api_version, kind) is not None


def builtin_definitions(api_version, kind):
    """(name of the kind's definition, {definition name: JSON schema}) or (None, {}); references
    inside are "#/$defs/NAME". Read-only: discovery.py publishes them as OpenAPI components."""
    name = _builtin_def(api_version, kind)
    return (name, _get_builtins().defs) if name else (None, {})


def _go_field(def_name, path, expected, schema):
    type_name = schema.get("format") or _expected_type(expected)
    struct = def_name.rsplit(".", 1)[-1]
    # encoding/json names the field by its JSON path without list indices.
    go_path = re.sub(r"\[[^]]*\]", "", path)
    return f"Go struct field {struct}.{go_path} of type {type_name}"


def _validate_builtin(obj, def_name):
    builtins = _get_builtins()
    result = Validation(object=_drop_nulls(obj))
    unknown = []
    for error in builtins.validator(def_name).iter_errors(result.object):
        path = _format_path(error.absolute_path, error.absolute_schema_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = (error.schema.get("properties") or {}).keys()
            for extra in error.instance:
                if extra not in allowed:
                    unknown.append((tuple(error.absolute_path), extra, _join(path, extra)))
        elif error.validator == "type" or (error.validator == "oneOf" and _is_scalar_union(error.schema)):
            expected = error.validator_value if error.validator == "type" else "string or number"
            owner = _owner_def(def_name, error.absolute_schema_path)
            actual = _GO_VALUE_NAMES.get(_json_type(error.instance), "value")
            result.decode_errors.append(
                f"json: cannot unmarshal {actual} into {_go_field(owner, path, expected, error.schema)}")
        else:
            result.causes.extend(_causes_from_error(error, path))
    for instance_path, key, path in sorted(unknown, key=lambda u: u[2]):
        _delete_path(result.object, instance_path, key)
        result.unknown_fields.append(path)
    result.causes = _dedupe(result.causes)
    return result


def _is_scalar_union(schema):
    """IntOrString and Quantity are oneOf[string, integer|number] in these schemas."""
    options = schema.get("oneOf") or ()
    return bool(options) and all(set(_as_list(o.get("type"))) <= {"string", "integer", "number", "null"}
                                 for o in options)


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _owner_def(root_def, schema_path):
    """The definition that declares the failing field (for Go-style decode errors). jsonschema
    leaves `$ref` hops out of its schema paths, so follow them wherever the path needs to."""
    builtins = _get_builtins()
    owner, node = builtins.resolve(f"#/$defs/{root_def}")
    for part in list(schema_path)[:-1]:
        while isinstance(node, dict) and "$ref" in node and part not in node:
            owner, node = builtins.resolve(node["$ref"])
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    return owner
