"""Schema validation and merge metadata for kubesim, the way kube-apiserver applies them.

Interface (all pure; compiled validators are cached per process):

    validate(obj, crd_schema=None) -> Validation
        Built-in kinds (crd_schema None) are checked against the Kubernetes 1.32 JSON schemas that
        the `kubernetes-validate` package ships; custom resources against the CRD version's
        `openAPIV3Schema` (pass it as crd_schema) with structural-schema semantics: unknown fields
        pruned, `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-int-or-string`, `nullable`
        (a null in a non-nullable field is dropped), `default` applied, duplicate items in
        x-kubernetes-list-type set/map lists, then the `x-kubernetes-validations` CEL rules
        (skipped, with the apiserver's "some validation rules were not checked" cause, when
        required/enum/type/length errors came first; transition rules using oldSelf are not
        evaluated). `metadata` is checked as ObjectMeta, never against the CRD schema (its name
        and label syntax: metadata_causes). `obj` is never modified.

    Validation (what the server does with it):
        .object          normalised copy to store: unknown fields and stray nulls removed, defaults set
        .causes          [{"reason", "message", "field"}] -> 422 Invalid (errors.invalid(rtype, name, causes))
        .unknown_fields  ["spec.foo", ...] fields that were dropped; with fieldValidation=Strict the
                         server answers 400 with .strict_error(), with Warn it sends .warnings() as
                         `Warning: 299 - "..."` headers, with Ignore nothing
        .decode_errors   messages for a 400 BadRequest (a built-in field of the wrong JSON type; the
                         real server fails while decoding into the Go struct, before validation)
        .schema_found    False when no schema is known for the kind (the object is passed through)
        .ok              no causes and no decode errors
        .bad_request(field_validation) -> str | None   400 message to answer, if any

    metadata_causes(obj) -> [cause]
        ObjectMeta checks every kind gets (name as DNS subdomain, or DNS label for Namespace and
        DNS-1035 label for Service; name or generateName required; label/annotation syntax).

    builtin_known(api_version, kind) -> bool

    node_for(api_version, kind, crd_schema=None) -> SchemaNode | None
        Merge metadata at the root of an object; navigate with .field(name), .items(), .values().
        A SchemaNode tells .patch_strategy (tuple, e.g. ("merge", "retainKeys")), .patch_merge_key,
        .list_type ("atomic" | "set" | "map" | None), .list_map_keys (tuple), .map_type,
        .is_map, .preserve_unknown, .key_default(key).

    strategic_merge_supported(api_version, kind, crd_schema=None) -> bool
        False for custom resources (and kinds without a schema): the real server answers
        415 UnsupportedMediaType to application/strategic-merge-patch+json for them.

Field paths are in the apiserver's style: `spec.http[0].route[0].weight`, map keys as `[key]`;
failures of oneOf/anyOf and root-level rules carry the field `<nil>` as the real server's do.
"""
import copy
import json
import re
import threading
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import celpy
import jsonschema
import kubernetes_validate
from celpy import celtypes
from referencing import Registry, Resource

KUBERNETES_VERSION = "1.32"
_SCHEMA_DIR = (Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
               / f"v{KUBERNETES_VERSION}.0-local-strict")
_DEFS_URI = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

# kube-openapi's names for JSON value types, used in its "must be of type" messages.
_JSON_TYPE_NAMES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                    (list, "array"), (dict, "object"), (type(None), "null"))
# Go's encoding/json names for the same, used in built-in decode errors.
_GO_VALUE_NAMES = {"boolean": "bool", "integer": "number", "number": "number", "string": "string",
                   "array": "array", "object": "object", "null": "null"}


def _json_type(value):
    for py_type, name in _JSON_TYPE_NAMES:
        if isinstance(value, py_type):
            return name
    return type(value).__name__


# --------------------------------------------------------------------------------------------
# Built-in schemas
# --------------------------------------------------------------------------------------------

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


def _split_api_version(api_version):
    group, _, version = (api_version or "").rpartition("/")
    return group, version


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


# --------------------------------------------------------------------------------------------
# Custom resource schemas (structural)
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Field paths
# --------------------------------------------------------------------------------------------

def _join(path, name):
    return f"{path}.{name}" if path else name


def _format_path(instance_path, schema_path):
    """Render jsonschema's instance path as `a.b[0].c[key]`: map keys only where the schema
    path shows that the key was matched by additionalProperties rather than a property."""
    segments = list(instance_path)
    map_keys = set()
    position = 0
    schema = list(schema_path)
    for i, part in enumerate(schema):
        if position >= len(segments):
            break
        if part == "properties" and i + 1 < len(schema) and schema[i + 1] == segments[position]:
            position += 1
        elif part in ("additionalProperties", "patternProperties"):
            map_keys.add(position)
            position += 1
        elif part in ("items", "prefixItems"):
            position += 1
    out = ""
    for index, segment in enumerate(segments):
        if isinstance(segment, int) or index in map_keys:
            out += f"[{segment}]"
        else:
            out = _join(out, segment)
    return out


def _child_path(path, key, is_map):
    if isinstance(key, int) or is_map:
        return f"{path}[{key}]"
    return _join(path, key)


# --------------------------------------------------------------------------------------------
# Causes in the apiserver's wording (field.Error.ErrorBody + kube-openapi details)
# --------------------------------------------------------------------------------------------

def _go_value(value):
    """How field.Error prints a bad value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "null"
    return json.dumps(value, sort_keys=True)


def _cause(reason, path, message):
    return {"reason": reason, "message": message, "field": path}


def _required(path):
    return _cause("FieldValueRequired", path, "Required value")


def _not_supported(path, value, allowed):
    listed = ", ".join(json.dumps(v) if isinstance(v, str) else json.dumps(v) for v in allowed)
    return _cause("FieldValueNotSupported", path,
                  f"Unsupported value: {_go_value(value)}: supported values: {listed}")


def _invalid(path, value, detail):
    return _cause("FieldValueInvalid", path, f"Invalid value: {_go_value(value)}: {detail}")


def _type_invalid(path, value, expected):
    actual = _json_type(value)
    return _cause("FieldValueTypeInvalid", path,
                  f'Invalid value: "{actual}": {path} in body must be of type {expected}: "{actual}"')


def _expected_type(schema_type):
    if isinstance(schema_type, list):
        names = [t for t in schema_type if t != "null"]
        return ",".join(names) if names else "null"
    return schema_type


def _composite(path, detail):
    """kube-openapi reports oneOf/anyOf failures without a field name, so the apiserver prints
    the root path (`<nil>`) and an empty value, with the real path only in the message."""
    return _cause("FieldValueInvalid", "<nil>", f'Invalid value: "": {path} {detail}')


def _count_valid(error, validator):
    if validator is None:
        return None
    return sum(1 for sub in error.validator_value
               if validator.evolve(schema=sub).is_valid(error.instance))


def _causes_from_error(error, path, validator=None):
    """jsonschema error -> apiserver causes (several for `required`)."""
    kind = error.validator
    value = error.instance
    expected = error.validator_value
    if kind == "required":
        present = value if isinstance(value, dict) else {}
        return [_required(_join(path, name)) for name in expected if name not in present]
    if kind == "type":
        return [_type_invalid(path, value, _expected_type(expected))]
    if kind == "enum":
        return [_not_supported(path, value, expected)]
    if kind == "const":
        return [_not_supported(path, value, [expected])]
    if kind == "maximum":
        return [_invalid(path, value, f"{path} in body should be less than or equal to {expected}")]
    if kind == "exclusiveMaximum":
        return [_invalid(path, value, f"{path} in body should be less than {expected}")]
    if kind == "minimum":
        return [_invalid(path, value, f"{path} in body should be greater than or equal to {expected}")]
    if kind == "exclusiveMinimum":
        return [_invalid(path, value, f"{path} in body should be greater than {expected}")]
    if kind == "multipleOf":
        return [_invalid(path, value, f"{path} in body should be a multiple of {expected}")]
    if kind == "maxLength":
        return [_cause("FieldValueTooLong", path, f"Too long: may not be more than {expected} bytes")]
    if kind == "minLength":
        return [_invalid(path, value, f"{path} in body should be at least {expected} chars long")]
    if kind == "pattern":
        return [_invalid(path, value, f"{path} in body should match '{expected}'")]
    if kind == "maxItems":
        return [_cause("FieldValueTooMany", path, f"Too many: {len(value)}: must have at most {expected} items")]
    if kind == "minItems":
        return [_invalid(path, value, f"{path} in body should have at least {expected} items")]
    if kind == "uniqueItems":
        return [_cause("FieldValueDuplicate", path, f"Duplicate value: {_go_value(value)}")]
    if kind == "maxProperties":
        return [_cause("FieldValueTooMany", path,
                       f"Too many: {len(value)}: must have at most {expected} items")]
    if kind == "minProperties":
        return [_invalid(path, value, f"{path} in body should have at least {expected} properties")]
    if kind == "oneOf":
        valid = _count_valid(error, validator)
        found = "Found none valid" if not valid else f"Found {valid} valid alternatives"
        return [_composite(path, f"must validate one and only one schema (oneOf). {found}")]
    if kind == "anyOf":
        return [_composite(path, "must validate at least one schema (anyOf)")]
    if kind == "not":
        return [_invalid(path, value, f"{path} in body must not validate the schema (not)")]
    return [_invalid(path, value, error.message)]


# --------------------------------------------------------------------------------------------
# ObjectMeta checks the apiserver makes for every kind (apimachinery's ValidateObjectMeta)
# --------------------------------------------------------------------------------------------

_DNS1123_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"

_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                  "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                  f"validation is '{_DNS1123_SUBDOMAIN}')")
_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
              "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
              f"validation is '{_DNS1123_LABEL}')")
_DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                f"regex used for validation is '{_DNS1035_LABEL}')")
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                    f"'12345', regex used for validation is '{_LABEL_VALUE}')")
_QUALIFIED_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                  "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                  f"validation is '{_QUALIFIED_NAME}')")

# Kinds whose names must be DNS labels rather than subdomains (their names end up in DNS or paths).
_NAME_RULES = {("", "Namespace"): ("label", _DNS1123_LABEL, _LABEL_MSG, 63),
               ("", "Service"): ("dns1035", _DNS1035_LABEL, _DNS1035_MSG, 63)}


def metadata_causes(obj):
    """The apiserver's ObjectMeta checks (name syntax, name or generateName present, label and
    annotation keys and values); not part of validate() because the server runs them after
    admission, which may change metadata."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return []
    causes = []
    name = meta.get("name")
    group = _split_api_version(obj.get("apiVersion", ""))[0]
    _, pattern, message, limit = _NAME_RULES.get((group, obj.get("kind")),
                                                 ("subdomain", _DNS1123_SUBDOMAIN, _SUBDOMAIN_MSG, 253))
    if not name and not meta.get("generateName"):
        causes.append(_cause("FieldValueRequired", "metadata.name",
                             "Required value: name or generateName is required"))
    elif isinstance(name, str) and name:
        if len(name) > limit:
            causes.append(_invalid("metadata.name", name, f"must be no more than {limit} characters"))
        if not re.fullmatch(pattern, name):
            causes.append(_invalid("metadata.name", name, message))
    for key, value in (meta.get("labels") or {}).items() if isinstance(meta.get("labels"), dict) else ():
        causes.extend(_qualified_key_causes("metadata.labels", key))
        if isinstance(value, str) and (len(value) > 63 or not re.fullmatch(_LABEL_VALUE, value)):
            detail = "must be no more than 63 characters" if len(value) > 63 else _LABEL_VALUE_MSG
            causes.append(_invalid("metadata.labels", value, detail))
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        for key in annotations:
            causes.extend(_qualified_key_causes("metadata.annotations", key))
        size = sum(len(k) + len(v) for k, v in annotations.items() if isinstance(v, str))
        if size > 256 * 1024:
            causes.append(_cause("FieldValueTooLong", "metadata.annotations",
                                 "Too long: may not be more than 262144 bytes"))
    return causes


def _qualified_key_causes(path, key):
    prefix, slash, name = key.rpartition("/")
    causes = []
    if slash and (not prefix or len(prefix) > 253 or not re.fullmatch(_DNS1123_SUBDOMAIN, prefix)):
        causes.append(_invalid(path, key, "prefix part " + _SUBDOMAIN_MSG))
    if not name or len(name) > 63 or not re.fullmatch(_QUALIFIED_NAME, name):
        detail = "name part must be no more than 63 characters" if len(name) > 63 else _QUALIFIED_MSG
        causes.append(_invalid(path, key, detail))
    return causes


# --------------------------------------------------------------------------------------------
# x-kubernetes-validations (CEL rules), evaluated with cel-python plus the Kubernetes CEL
# library functions the rules in use call (strings: substring/charAt/indexOf/...; URLs).
# --------------------------------------------------------------------------------------------

def _k8s_substring(text, start, end=None):
    text = str(text)
    start = int(start)
    end = len(text) if end is None else int(end)
    if start < 0 or end > len(text) or start > end:
        raise ValueError(f"substring({start}, {end}) is out of range for a string of length {len(text)}")
    return celtypes.StringType(text[start:end])


def _k8s_char_at(text, index):
    text, index = str(text), int(index)
    if index < 0 or index > len(text):
        raise ValueError(f"charAt({index}) is out of range")
    return celtypes.StringType(text[index:index + 1])


def _k8s_index_of(text, part, start=0):
    return celtypes.IntType(str(text).find(str(part), int(start)))


def _k8s_last_index_of(text, part):
    return celtypes.IntType(str(text).rfind(str(part)))


class _URL:
    """The value Kubernetes' url() returns: an absolute URI or an absolute path reference."""

    def __init__(self, text):
        parsed = urllib.parse.urlsplit(text)
        if not (parsed.scheme or text.startswith("/")):
            # Kubernetes' url() uses Go's url.ParseRequestURI; this is its error for such input.
            raise ValueError(f'URL parse error during conversion from string to url: parse "{text}": '
                             "invalid URI for request")
        self.parsed = parsed


def _k8s_url(text):
    return _URL(str(text))


def _k8s_is_url(text):
    try:
        _URL(str(text))
    except ValueError:
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


_GO_DURATION = re.compile(r"[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h))+|[-+]?0")


def _k8s_duration(text):
    """duration() with Go's time.ParseDuration grammar and error text."""
    if isinstance(text, celtypes.DurationType):
        return text
    text = str(text)
    if not _GO_DURATION.fullmatch(text):
        raise ValueError(f'time: invalid duration "{text}"')
    if text.lstrip("+-") == "0":
        return celtypes.DurationType(0)
    return celtypes.DurationType(text)


_CEL_FUNCTIONS = {
    "duration": _k8s_duration,
    "substring": _k8s_substring,
    "charAt": _k8s_char_at,
    "indexOf": _k8s_index_of,
    "lastIndexOf": _k8s_last_index_of,
    "lowerAscii": lambda text: celtypes.StringType(str(text).lower()),
    "upperAscii": lambda text: celtypes.StringType(str(text).upper()),
    "trim": lambda text: celtypes.StringType(str(text).strip()),
    "url": _k8s_url,
    "isURL": _k8s_is_url,
    "getScheme": lambda url: celtypes.StringType(url.parsed.scheme),
    "getHost": lambda url: celtypes.StringType(url.parsed.netloc.rpartition("@")[2]),
    "getHostname": lambda url: celtypes.StringType(url.parsed.hostname or ""),
    "getPort": lambda url: celtypes.StringType("" if url.parsed.port is None else str(url.parsed.port)),
    "getEscapedPath": lambda url: celtypes.StringType(url.parsed.path),
}

_cel_env = None
_cel_programs = {}
_cel_lock = threading.Lock()


def _cel_program(rule):
    global _cel_env
    found = _cel_programs.get(rule)
    if found is None:
        with _cel_lock:
            if _cel_env is None:
                _cel_env = celpy.Environment()
            try:
                found = _cel_env.program(_cel_env.compile(rule), functions=_CEL_FUNCTIONS)
            except celpy.CELParseError as exc:
                found = exc
            _cel_programs[rule] = found
    return found


def _eval_detail(exc):
    """The readable reason of a failed evaluation: cel-python wraps errors raised by functions
    as (summary, exception type, exception args)."""
    args = exc.args
    if len(args) >= 3 and isinstance(args[2], tuple) and args[2]:
        return str(args[2][0])
    return str(args[0]) if args else type(exc).__name__


def _rule_text(rule):
    return (rule.get("message") or rule.get("rule") or "").strip()


def _cel_causes(value, node, path, causes):
    """Evaluate the rules of every node present in the object, as the apiserver does after the
    OpenAPI checks passed. Transition rules (oldSelf) need the old object and are left out."""
    if not isinstance(node, dict):
        return
    rules = node.get("x-kubernetes-validations")
    if rules:
        activation = {"self": celpy.json_to_cel(value)}
        for rule in rules:
            text = rule.get("rule", "")
            if "oldSelf" in text:
                continue
            program = _cel_program(text)
            where = f"{path}.{rule['fieldPath'].lstrip('.')}" if rule.get("fieldPath") else path
            type_name = node.get("type", "")
            if isinstance(program, Exception):
                causes.append(_cause("FieldValueInvalid", where or "<nil>",
                                     f'Invalid value: "{type_name}": compilation failed for rule: {text}'))
                continue
            try:
                outcome = program.evaluate(activation)
            except (celpy.CELEvalError, ValueError, TypeError, KeyError) as exc:
                detail = _eval_detail(exc)
                causes.append(_cause("FieldValueInvalid", where or "<nil>",
                                     f'Invalid value: "{type_name}": {detail} evaluating rule: {_rule_text(rule)}'))
                continue
            if outcome is not True and not (isinstance(outcome, celtypes.BoolType) and bool(outcome)):
                message = (rule.get("message") or f"failed rule: {text}").strip()
                causes.append(_cause("FieldValueInvalid", where or "<nil>", f'Invalid value: "{type_name}": {message}'))
    if isinstance(value, dict):
        props = node.get("properties") or {}
        additional = node.get("additionalProperties")
        for key, child in value.items():
            if key in props:
                _cel_causes(child, props[key], _join(path, key), causes)
            elif isinstance(additional, dict):
                _cel_causes(child, additional, f"{path}[{key}]", causes)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            _cel_causes(item, node["items"], f"{path}[{index}]", causes)


def _has_rules(schema):
    return "x-kubernetes-validations" in json.dumps(schema)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

@dataclass
class Validation:
    object: dict
    causes: list = field(default_factory=list)
    unknown_fields: list = field(default_factory=list)
    decode_errors: list = field(default_factory=list)
    schema_found: bool = True

    @property
    def ok(self):
        return not self.causes and not self.decode_errors

    def _prefix(self):
        kind = self.object.get("kind", "")
        version = _split_api_version(self.object.get("apiVersion", ""))[1]
        return f'{kind} in version "{version}" cannot be handled as a {kind}: '

    def strict_error(self):
        """The 400 message kube-apiserver gives for unknown fields under fieldValidation=Strict."""
        if not self.unknown_fields:
            return None
        listed = ", ".join(f'unknown field "{p}"' for p in self.unknown_fields)
        return self._prefix() + "strict decoding error: " + listed

    def warnings(self):
        """Warning header texts for fieldValidation=Warn (the server's default)."""
        return [f'unknown field "{p}"' for p in self.unknown_fields]

    def bad_request(self, field_validation="Warn"):
        """The 400 BadRequest message to answer with, or None."""
        if self.decode_errors:
            # The Go decoder stops at the first field it cannot decode.
            return self._prefix() + self.decode_errors[0]
        if (field_validation or "Warn").lower() == "strict" and self.unknown_fields:
            return self.strict_error()
        return None


def validate(obj, crd_schema=None):
    """Validate an object as kube-apiserver would on create/update; see the module docstring."""
    if not isinstance(obj, dict):
        raise TypeError("validate() takes the object as a dict")
    if crd_schema is not None:
        return _validate_custom(obj, crd_schema)
    def_name = _builtin_def(obj.get("apiVersion"), obj.get("kind"))
    if def_name is None:
        return Validation(object=copy.deepcopy(obj), schema_found=False)
    return _validate_builtin(obj, def_name)


def _drop_nulls(value):
    """Go's JSON decoder turns null into the zero value, which encodes as absent."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _delete_path(obj, instance_path, key):
    node = obj
    for segment in instance_path:
        node = node[segment]
    node.pop(key, None)


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


def _dedupe(causes):
    seen = set()
    out = []
    for cause in causes:
        key = (cause["reason"], cause["field"], cause["message"])
        if key not in seen:
            seen.add(key)
            out.append(cause)
    return out


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


# --------------------------------------------------------------------------------------------
# Merge metadata
# --------------------------------------------------------------------------------------------

# Structured-merge-diff fills in list-map keys that carry a default in the real OpenAPI
# (kubernetes-validate's copy omits defaults); protocol is the one used in list-map keys.
_KEY_DEFAULTS = {"protocol": "TCP"}


class SchemaNode:
    """Merge metadata at one point of an object's schema (built-in or CRD)."""

    __slots__ = ("_schema", "_builtin")

    def __init__(self, schema, builtin):
        self._schema = schema
        self._builtin = builtin

    def __repr__(self):
        return f"SchemaNode({sorted(self._schema)!r})"

    @staticmethod
    def _make(schema, builtin):
        if not isinstance(schema, dict):
            return None
        if builtin:
            schema = _resolved(schema)
        return SchemaNode(schema, builtin)

    @property
    def raw(self):
        return self._schema

    def field(self, name):
        """Schema of property `name` (or of a map value when the object is a map)."""
        props = self._schema.get("properties")
        if props and name in props:
            return SchemaNode._make(props[name], self._builtin)
        return self.values()

    def values(self):
        additional = self._schema.get("additionalProperties")
        if isinstance(additional, dict):
            return SchemaNode._make(additional, self._builtin)
        return None

    def items(self):
        return SchemaNode._make(self._schema.get("items"), self._builtin)

    @property
    def patch_strategy(self):
        value = self._schema.get("x-kubernetes-patch-strategy")
        return tuple(value.split(",")) if value else ()

    @property
    def patch_merge_key(self):
        return self._schema.get("x-kubernetes-patch-merge-key")

    @property
    def list_type(self):
        return self._schema.get("x-kubernetes-list-type")

    @property
    def list_map_keys(self):
        return tuple(self._schema.get("x-kubernetes-list-map-keys") or ())

    @property
    def map_type(self):
        return self._schema.get("x-kubernetes-map-type")

    @property
    def is_map(self):
        return isinstance(self._schema.get("additionalProperties"), dict) and not self._schema.get("properties")

    @property
    def preserve_unknown(self):
        return bool(self._schema.get("x-kubernetes-preserve-unknown-fields"))

    def key_default(self, key):
        """Default of a list-map key field in the items of this list, or None."""
        items = self.items()
        if items is not None:
            sub = (items.raw.get("properties") or {}).get(key)
            if isinstance(sub, dict) and "default" in sub:
                return sub["default"]
        return _KEY_DEFAULTS.get(key)


_resolved_cache = {}


def _resolved(schema):
    """A property schema with its $ref followed; the property's own keys win (that is where
    the x-kubernetes-patch-* and list-type markers sit)."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    key = id(schema)
    found = _resolved_cache.get(key)
    if found is not None and found[0] is schema:
        return found[1]
    _, target = _get_builtins().resolve(ref)
    merged = dict(_resolved(target))
    merged.update((k, v) for k, v in schema.items() if k != "$ref")
    _resolved_cache[key] = (schema, merged)
    return merged


def node_for(api_version, kind, crd_schema=None):
    """Root SchemaNode for an object, or None when no schema is known."""
    if crd_schema is not None:
        return SchemaNode(crd_schema, builtin=False)
    def_name = _builtin_def(api_version, kind)
    if def_name is None:
        return None
    return SchemaNode(_resolved({"$ref": f"#/$defs/{def_name}"}), builtin=True)


def strategic_merge_supported(api_version, kind, crd_schema=None):
    """Strategic merge patch needs Go struct tags; only built-in kinds have them."""
    return crd_schema is None and builtin_known(api_version, kind)

