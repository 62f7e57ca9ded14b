"""Field paths and validation causes in the apiserver's wording (field.Error.ErrorBody and kube-openapi's
details), from jsonschema errors."""
import json


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


def _dedupe(causes):
    seen = set()
    out = []
    for cause in causes:
        key = (cause["reason"], cause["field"], cause["message"])
        if key not in seen:
            seen.add(key)
            out.append(cause)
    return out
