"""Decode Kubernetes protobuf request bodies into the dicts their JSON form would give.

Interface:

    decode(body: bytes) -> dict
        body is the `application/vnd.kubernetes.protobuf` envelope: the magic b"k8s\\x00" followed by a
        runtime.Unknown message (typeMeta, raw, contentEncoding, contentType). Supported kinds: v1 Secret,
        v1 ConfigMap (what client-go typed clients such as helm's release storage send),
        DeleteOptions (the body of their deletes), and v1 Namespace, v1 ServiceAccount, TokenRequest,
        SelfSubjectAccessReview (kubectl create namespace|serviceaccount|token, kubectl auth can-i).
        Raises ProtobufError with a readable reason for anything else: no magic, truncated or
        malformed wire data, an unsupported kind or encoding.

    SUPPORTED: the (apiVersion, kind) pairs decode() understands.

The result matches what the apiserver would decode from the equivalent JSON: bytes fields (Secret
data, ConfigMap binaryData) as base64 strings, timestamps as RFC 3339, fields that JSON leaves out
when empty (omitempty) left out here too, managedFields' fieldsV1 as a JSON object.

Only the protobuf wire format is implemented (varints, fixed 32/64-bit, length-delimited fields,
map entries); the message layouts are the field numbers from Kubernetes' generated.proto files.
"""
import base64
import datetime
import json

MAGIC = b"k8s\x00"


class ProtobufError(Exception):
    """A body that cannot be decoded; the message says why."""


# --------------------------------------------------------------------------------------------
# Wire format
# --------------------------------------------------------------------------------------------

_VARINT, _FIXED64, _LENGTH, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5


def _varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("varint longer than 10 bytes")


def _fields(data):
    """Yield (field number, wire type, value) for each field of a message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("field number 0 is not valid")
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _FIXED64:
            if pos + 8 > len(data):
                raise ProtobufError(f"truncated 64-bit field {number}")
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == _LENGTH:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError(f"field {number} claims {length} bytes but only {len(data) - pos} remain")
            value, pos = data[pos:pos + length], pos + length
        elif wire == _FIXED32:
            if pos + 4 > len(data):
                raise ProtobufError(f"truncated 32-bit field {number}")
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire} (groups) in field {number}")
        yield number, wire, value


def _signed(value):
    """int32 and int64 are sent as 64-bit two's complement varints."""
    return value - (1 << 64) if value >= 1 << 63 else value


# --------------------------------------------------------------------------------------------
# Message layouts (field number -> (json name, type, presence rule))
# --------------------------------------------------------------------------------------------
# presence: "omitempty" drops zero values like the JSON encoder; "always" keeps them; "pointer"
# keeps whatever was on the wire (optional pointer fields are only written when set).

_TIME = "time"
_TYPE_META = {1: ("apiVersion", "string", "omitempty"), 2: ("kind", "string", "omitempty")}
_OWNER_REFERENCE = {
    5: ("apiVersion", "string", "always"), 1: ("kind", "string", "always"), 3: ("name", "string", "always"),
    4: ("uid", "string", "always"), 6: ("controller", "bool", "pointer"),
    7: ("blockOwnerDeletion", "bool", "pointer"),
}
_MANAGED_FIELDS_ENTRY = {
    1: ("manager", "string", "omitempty"), 2: ("operation", "string", "omitempty"),
    3: ("apiVersion", "string", "omitempty"), 4: ("time", _TIME, "pointer"),
    6: ("fieldsType", "string", "omitempty"), 7: ("fieldsV1", "fieldsv1", "pointer"),
    8: ("subresource", "string", "omitempty"),
}
_OBJECT_META = {
    1: ("name", "string", "omitempty"), 2: ("generateName", "string", "omitempty"),
    3: ("namespace", "string", "omitempty"), 4: ("selfLink", "string", "omitempty"),
    5: ("uid", "string", "omitempty"), 6: ("resourceVersion", "string", "omitempty"),
    7: ("generation", "int64", "omitempty"), 8: ("creationTimestamp", _TIME, "omitempty"),
    9: ("deletionTimestamp", _TIME, "pointer"), 10: ("deletionGracePeriodSeconds", "int64", "pointer"),
    11: ("labels", "map_string", "omitempty"), 12: ("annotations", "map_string", "omitempty"),
    13: ("ownerReferences", ("repeated", _OWNER_REFERENCE), "omitempty"),
    14: ("finalizers", ("repeated", "string"), "omitempty"),
    17: ("managedFields", ("repeated", _MANAGED_FIELDS_ENTRY), "omitempty"),
}
_SECRET = {
    1: ("metadata", _OBJECT_META, "always"), 5: ("immutable", "bool", "pointer"),
    2: ("data", "map_bytes", "omitempty"), 4: ("stringData", "map_string", "omitempty"),
    3: ("type", "string", "omitempty"),
}
_CONFIG_MAP = {
    1: ("metadata", _OBJECT_META, "always"), 4: ("immutable", "bool", "pointer"),
    2: ("data", "map_string", "omitempty"), 3: ("binaryData", "map_bytes", "omitempty"),
}
_PRECONDITIONS = {1: ("uid", "string", "pointer"), 2: ("resourceVersion", "string", "pointer")}
_DELETE_OPTIONS = {
    1: ("gracePeriodSeconds", "int64", "pointer"), 2: ("preconditions", _PRECONDITIONS, "pointer"),
    3: ("orphanDependents", "bool", "pointer"), 4: ("propagationPolicy", "string", "pointer"),
    5: ("dryRun", ("repeated", "string"), "omitempty"),
}

# What kubectl's typed clients send for `create namespace|serviceaccount|token` and `auth can-i`.
_NAMESPACE = {
    1: ("metadata", _OBJECT_META, "always"), 2: ("spec", {1: ("finalizers", ("repeated", "string"), "omitempty")},
                                                 "omitempty"),
}
_OBJECT_REFERENCE = {
    1: ("kind", "string", "omitempty"), 2: ("namespace", "string", "omitempty"), 3: ("name", "string", "omitempty"),
    4: ("uid", "string", "omitempty"), 5: ("apiVersion", "string", "omitempty"),
    6: ("resourceVersion", "string", "omitempty"), 7: ("fieldPath", "string", "omitempty"),
}
_SERVICE_ACCOUNT = {
    1: ("metadata", _OBJECT_META, "always"), 2: ("secrets", ("repeated", _OBJECT_REFERENCE), "omitempty"),
    3: ("imagePullSecrets", ("repeated", {1: ("name", "string", "omitempty")}), "omitempty"),
    4: ("automountServiceAccountToken", "bool", "pointer"),
}
_TOKEN_REQUEST = {
    1: ("metadata", _OBJECT_META, "always"),
    2: ("spec", {1: ("audiences", ("repeated", "string"), "always"), 4: ("expirationSeconds", "int64", "pointer"),
                 3: ("boundObjectRef", {1: ("kind", "string", "omitempty"), 2: ("apiVersion", "string", "omitempty"),
                                        3: ("name", "string", "omitempty"), 4: ("uid", "string", "omitempty")},
                     "pointer")}, "always"),
}
_RESOURCE_ATTRIBUTES = {
    1: ("namespace", "string", "omitempty"), 2: ("verb", "string", "omitempty"), 3: ("group", "string", "omitempty"),
    4: ("version", "string", "omitempty"), 5: ("resource", "string", "omitempty"),
    6: ("subresource", "string", "omitempty"), 7: ("name", "string", "omitempty"),
}
_SELF_SUBJECT_ACCESS_REVIEW = {
    1: ("metadata", _OBJECT_META, "always"),
    2: ("spec", {1: ("resourceAttributes", _RESOURCE_ATTRIBUTES, "pointer"),
                 2: ("nonResourceAttributes", {1: ("path", "string", "omitempty"), 2: ("verb", "string", "omitempty")},
                     "pointer")}, "always"),
}

SUPPORTED = {
    ("v1", "Secret"): _SECRET,
    ("v1", "ConfigMap"): _CONFIG_MAP,
    ("v1", "Namespace"): _NAMESPACE,
    ("v1", "ServiceAccount"): _SERVICE_ACCOUNT,
    ("authentication.k8s.io/v1", "TokenRequest"): _TOKEN_REQUEST,
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): _SELF_SUBJECT_ACCESS_REVIEW,
    ("v1", "DeleteOptions"): _DELETE_OPTIONS,
    ("meta.k8s.io/v1", "DeleteOptions"): _DELETE_OPTIONS,
}


def _text(raw, name):
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtobufError(f"field {name} is not valid UTF-8") from None


def _time(raw):
    seconds = nanos = 0
    for number, wire, value in _fields(raw):
        if number == 1 and wire == _VARINT:
            seconds = _signed(value)
        elif number == 2 and wire == _VARINT:
            nanos = _signed(value)
    if seconds == 0 and nanos == 0:
        return None
    # metav1.Time marshals to JSON with second precision.
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _map_entry(raw, name, value_is_bytes):
    key, value = "", b"" if value_is_bytes else ""
    for number, wire, item in _fields(raw):
        if wire != _LENGTH:
            raise ProtobufError(f"map {name} has an entry field of the wrong wire type")
        if number == 1:
            key = _text(item, name)
        elif number == 2:
            value = bytes(item) if value_is_bytes else _text(item, name)
    if value_is_bytes:
        value = base64.b64encode(value).decode("ascii")
    return key, value


def _scalar(kind, wire, value, name):
    if kind in ("string", "bytes"):
        if wire != _LENGTH:
            raise ProtobufError(f"field {name} should be length-delimited")
        return _text(value, name) if kind == "string" else base64.b64encode(bytes(value)).decode("ascii")
    if kind in ("int64", "int32", "bool"):
        if wire != _VARINT:
            raise ProtobufError(f"field {name} should be a varint")
        if kind == "bool":
            return bool(value)
        return _signed(value)
    raise ProtobufError(f"field {name} has an unknown type {kind}")


def _message(raw, layout):
    out = {}
    for number, wire, value in _fields(raw):
        spec = layout.get(number)
        if spec is None:
            continue   # unknown fields are skipped, as proto decoders do
        name, kind, _ = spec
        if isinstance(kind, tuple):     # repeated
            item_kind = kind[1]
            if isinstance(item_kind, dict):
                if wire != _LENGTH:
                    raise ProtobufError(f"field {name} should be length-delimited")
                item = _message(value, item_kind)
            else:
                item = _scalar(item_kind, wire, value, name)
            out.setdefault(name, []).append(item)
        elif isinstance(kind, dict):
            if wire != _LENGTH:
                raise ProtobufError(f"field {name} should be length-delimited")
            out[name] = _message(value, kind)
        elif kind in ("map_string", "map_bytes"):
            if wire != _LENGTH:
                raise ProtobufError(f"field {name} should be length-delimited")
            key, item = _map_entry(value, name, kind == "map_bytes")
            out.setdefault(name, {})[key] = item
        elif kind == _TIME:
            if wire != _LENGTH:
                raise ProtobufError(f"field {name} should be length-delimited")
            out[name] = _time(value)
        elif kind == "fieldsv1":
            out[name] = _fields_v1(value)
        else:
            out[name] = _scalar(kind, wire, value, name)
    return _omit_empty(out, layout)


def _fields_v1(raw):
    for number, wire, value in _fields(raw):
        if number == 1 and wire == _LENGTH:
            try:
                return json.loads(bytes(value).decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise ProtobufError("managedFields fieldsV1 is not JSON") from None
    return {}


def _omit_empty(out, layout):
    for name, _kind, presence in layout.values():
        if name not in out:
            continue
        value = out[name]
        if value is None or (presence == "omitempty" and value in ("", 0, False, {}, [])):
            del out[name]
    return out


# --------------------------------------------------------------------------------------------
# Envelope
# --------------------------------------------------------------------------------------------

def decode(body):
    """Decode a protobuf request body; see the module docstring."""
    data = bytes(body)
    if not data.startswith(MAGIC):
        raise ProtobufError("body is not a Kubernetes protobuf envelope (it must start with k8s\\x00)")
    type_meta, raw, encoding = {}, b"", ""
    for number, wire, value in _fields(memoryview(data)[len(MAGIC):]):
        if wire != _LENGTH:
            raise ProtobufError(f"runtime.Unknown field {number} should be length-delimited")
        if number == 1:
            type_meta = _message(value, _TYPE_META)
        elif number == 2:
            raw = value
        elif number == 3:
            encoding = _text(value, "contentEncoding")
    if encoding:
        raise ProtobufError(f"content encoding {encoding!r} is not supported")
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    layout = SUPPORTED.get((api_version, kind))
    if layout is None:
        known = ", ".join(sorted(f"{k} {v}" for v, k in SUPPORTED))
        raise ProtobufError(f"no protobuf decoding for {kind or '(no kind)'} {api_version or '(no apiVersion)'}; "
                            f"supported: {known}")
    obj = {"kind": kind, "apiVersion": api_version}
    obj.update(_message(raw, layout))
    return obj
