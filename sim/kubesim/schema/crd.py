"""Custom resources: the CRD version's openAPIV3Schema with structural-schema semantics (pruning, nullable,
defaults, int-or-string, list types) before its CEL rules."""
import copy
import json
import threading
from collections import OrderedDict

import jsonschema

from .builtin import _DEFS_URI, _OBJECT_META, _get_builtins
from .causes import _cause, _causes_from_error, _child_path, _dedupe, _format_path, _join
from .cel import _cel_causes, _has_rules
from .validation import Validation, _delete_path, _drop_nulls


def _to_json_schema(node):
    """Translate one OpenAPI v3 structural-schema node into JSON Schema 2020-12 for jsonschema."""
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "$defs"):
            out[key] = {k: _to_json_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _to_json_schema(value) if isinstance(value, dict) else value
        elif key in ("oneOf", "anyOf", "allOf"):
            out[key] = [_to_json_schema(v) for v in value]
        elif key in ("description", "example", "externalDocs", "nullable", "x-kubernetes-validations"):
            continue
        elif key == "exclusiveMaximum" and isinstance(value, bool):
            if value and "maximum" in node:
                out["exclusiveMaximum"] = node["maximum"]
        elif key == "exclusiveMinimum" and isinstance(value, bool):
            if value and "minimum" in node:
                out["exclusiveMinimum"] = node["minimum"]
        elif key in ("maximum", "minimum") and node.get("exclusive" + key[0].upper() + key[1:]) is True:
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string") and "type" not in node:
        # The apiserver checks int-or-string as one type check ("must be of type integer,string").
        out["type"] = ["integer", "string"]
        if out.get("anyOf") == [{"type": "integer"}, {"type": "string"}]:
            del out["anyOf"]
    if node.get("nullable"):
        # kube-openapi accepts null for a nullable field without looking at anything else.
        return {"anyOf": [{"type": "null"}, out]}
    return out


class _CustomSchema:
    """A CRD version's schema compiled once: the validator and the structural skeleton."""

    def __init__(self, schema):
        self.schema = schema          # keeps the dict alive, so its id() stays unique in the cache
        root = _to_json_schema(schema)
        props = dict(root.get("properties") or {})
        props["metadata"] = {"$ref": f"{_DEFS_URI}#/$defs/{_OBJECT_META}"}
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        root["properties"] = props
        self.validator = jsonschema.Draft202012Validator(root, registry=_get_builtins().registry)
        self.has_rules = _has_rules(schema)


_custom_cache = OrderedDict()
_custom_lock = threading.Lock()
_CUSTOM_CACHE_SIZE = 512


def _custom(schema):
    key = id(schema)
    with _custom_lock:
        found = _custom_cache.get(key)
        if found is not None and found.schema is schema:
            _custom_cache.move_to_end(key)
            return found
    compiled = _CustomSchema(schema)
    with _custom_lock:
        _custom_cache[key] = compiled
        while len(_custom_cache) > _CUSTOM_CACHE_SIZE:
            _custom_cache.popitem(last=False)
    return compiled


def _validate_custom(obj, crd_schema):
    compiled = _custom(crd_schema)
    result = Validation(object=copy.deepcopy(obj))
    pruned = []
    top = crd_schema.get("properties") or {}
    for key in list(result.object):
        if key in ("apiVersion", "kind", "metadata"):
            continue
        if key in top:
            value = _prune(result.object[key], top[key], key, pruned)
            if value is _DROP:
                del result.object[key]
            else:
                result.object[key] = value
        elif not _keeps_unknown(crd_schema):
            del result.object[key]
            pruned.append(key)
    _apply_defaults_here(result.object, crd_schema, skip=("apiVersion", "kind", "metadata"))
    meta = result.object.get("metadata")
    if isinstance(meta, dict):
        result.object["metadata"] = _drop_nulls(meta)
    for error in compiled.validator.iter_errors(result.object):
        path = _format_path(error.absolute_path, error.absolute_schema_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            # Only ObjectMeta is closed in the compiled schema: unknown metadata fields are dropped.
            allowed = (error.schema.get("properties") or {}).keys()
            for extra in [k for k in error.instance if k not in allowed]:
                _delete_path(result.object, error.absolute_path, extra)
                pruned.append(_join(path, extra))
            continue
        result.causes.extend(_causes_from_error(error, path, compiled.validator))
    result.unknown_fields = sorted(pruned)
    for key, value in result.object.items():
        if key not in ("apiVersion", "kind", "metadata"):
            _list_duplicates(value, (crd_schema.get("properties") or {}).get(key), key, result.causes)
    if compiled.has_rules:
        if any(c["reason"] in _BLOCKS_CEL for c in result.causes):
            # The apiserver does not run CEL over an object with such errors, and says so.
            result.causes.append(_cause(
                "FieldValueInvalid", "<nil>", "Invalid value: null: some validation rules were not checked "
                "because the object was invalid; correct the existing errors to complete validation"))
        else:
            for key, value in result.object.items():
                if key not in ("apiVersion", "kind", "metadata"):
                    _cel_causes(value, (crd_schema.get("properties") or {}).get(key), key, result.causes)
            _root_rules(result.object, crd_schema, result.causes)
    result.causes = _dedupe(result.causes)
    return result


def _go_literal(value):
    """Go's %#v of a decoded JSON value, as the apiserver prints duplicate list keys."""
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)}:{_go_literal(v)}" for k, v in sorted(value.items()))
        return "map[string]interface {}{" + inner + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "interface {}(nil)"
    return str(value)


def _list_duplicates(value, node, path, causes):
    """x-kubernetes-list-type set/map lists may not repeat an item (or an item's keys)."""
    if not isinstance(node, dict):
        return
    if isinstance(value, list):
        list_type = node.get("x-kubernetes-list-type")
        keys = node.get("x-kubernetes-list-map-keys") or ()
        seen = set()
        for index, item in enumerate(value):
            if list_type == "set":
                identity = item
            elif list_type == "map" and keys and isinstance(item, dict):
                identity = {k: item[k] for k in keys if k in item}
            else:
                break
            marker = json.dumps(identity, sort_keys=True)
            if marker in seen:
                causes.append(_cause("FieldValueDuplicate", f"{path}[{index}]",
                                     f"Duplicate value: {_go_literal(identity)}"))
            seen.add(marker)
        items = node.get("items")
        for index, item in enumerate(value):
            _list_duplicates(item, items, f"{path}[{index}]", causes)
    elif isinstance(value, dict):
        props = node.get("properties") or {}
        additional = node.get("additionalProperties")
        for key, child in value.items():
            if key in props:
                _list_duplicates(child, props[key], _join(path, key), causes)
            elif isinstance(additional, dict):
                _list_duplicates(child, additional, f"{path}[{key}]", causes)


_BLOCKS_CEL = ("FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong", "FieldValueTooMany",
               "FieldValueTypeInvalid")


def _root_rules(obj, crd_schema, causes):
    """Rules declared at the root see the whole object (metadata limited to name/generateName)."""
    if not crd_schema.get("x-kubernetes-validations"):
        return
    visible = {k: v for k, v in obj.items() if k != "metadata"}
    meta = obj.get("metadata") or {}
    visible["metadata"] = {k: meta[k] for k in ("name", "generateName") if k in meta}
    _cel_causes(visible, {"x-kubernetes-validations": crd_schema["x-kubernetes-validations"],
                          "type": crd_schema.get("type", "object")}, "", causes)



_DROP = object()


def _keeps_unknown(schema):
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


def _apply_defaults_here(value, schema, skip=()):
    props = schema.get("properties") or {}
    for name, sub in props.items():
        if name in skip or name in value:
            continue
        if isinstance(sub, dict) and "default" in sub:
            value[name] = copy.deepcopy(sub["default"])


def _prune(value, schema, path, pruned):
    """Structural pruning of one value in place; returns the value, or _DROP to remove it."""
    if not isinstance(schema, dict):
        return value
    if value is None:
        if schema.get("nullable"):
            return None
        if "default" in schema:
            return copy.deepcopy(schema["default"])
        return _DROP
    if isinstance(value, dict):
        if schema.get("x-kubernetes-embedded-resource"):
            skip = ("apiVersion", "kind", "metadata")
        else:
            skip = ()
        props = schema.get("properties")
        additional = schema.get("additionalProperties")
        keep_unknown = _keeps_unknown(schema) or additional is True
        for key in list(value):
            if key in skip:
                continue
            if props is not None and key in props:
                sub, is_map = props[key], False
            elif isinstance(additional, dict):
                sub, is_map = additional, True
            elif keep_unknown:
                continue
            else:
                del value[key]
                pruned.append(_child_path(path, key, False))
                continue
            child = _prune(value[key], sub, _child_path(path, key, is_map), pruned)
            if child is _DROP:
                del value[key]
            else:
                value[key] = child
        _apply_defaults_here(value, schema)
        return value
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            kept = []
            for index, item in enumerate(value):
                child = _prune(item, items, f"{path}[{index}]", pruned)
                if child is not _DROP:
                    kept.append(child)
            value[:] = kept
        return value
    return value
