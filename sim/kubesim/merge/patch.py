"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902) as kube-apiserver applies them, the error the
server answers a bad patch with, and JSON equality (1 == 1.0, true != 1)."""
import copy


class PatchError(Exception):
    """A patch the server refuses; `code` is the HTTP status it answers with."""

    def __init__(self, message, code=422):
        super().__init__(message)
        self.message = message
        self.code = code



_ABSENT = object()


def merge_patch(doc, patch):
    """Apply a JSON merge patch: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# ============================================================================================
# RFC 6902 JSON patch
# ============================================================================================

def _pointer(path, op_name):
    if not isinstance(path, str):
        raise PatchError(f"{op_name} operation has a path that is not a string: {path!r}", 400)
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f'{op_name} operation does not apply: path "{path}" must start with "/"', 422)
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(token, length, path, op_name, allow_end):
    if token == "-" and allow_end:
        return length
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f'{op_name} operation does not apply: "{token}" is not a valid array index in "{path}"',
                         422)
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise PatchError(f'{op_name} operation does not apply: index {index} is out of bounds in "{path}"', 422)
    return index


def _parent(doc, parts, path, op_name):
    node = doc
    for token in parts[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f'{op_name} operation does not apply: doc is missing path: "{path}"', 422)
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(token, len(node), path, op_name, False)]
        else:
            raise PatchError(f'{op_name} operation does not apply: doc is missing path: "{path}"', 422)
    return node


def _get(doc, path, op_name):
    parts = _pointer(path, op_name)
    if not parts:
        return doc
    parent = _parent(doc, parts, path, op_name)
    token = parts[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchError(f'{op_name} operation does not apply: doc is missing key: "{path}"', 422)
        return parent[token]
    if isinstance(parent, list):
        return parent[_index(token, len(parent), path, op_name, False)]
    raise PatchError(f'{op_name} operation does not apply: doc is missing path: "{path}"', 422)


def _add(doc, path, value, op_name="add"):
    parts = _pointer(path, op_name)
    if not parts:
        return value
    parent = _parent(doc, parts, path, op_name)
    token = parts[-1]
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(token, len(parent), path, op_name, True), value)
    else:
        raise PatchError(f'{op_name} operation does not apply: doc is missing path: "{path}"', 422)
    return doc


def _remove(doc, path, op_name="remove"):
    parts = _pointer(path, op_name)
    if not parts:
        raise PatchError(f"{op_name} operation does not apply: cannot remove the whole document", 422)
    parent = _parent(doc, parts, path, op_name)
    token = parts[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchError(f'{op_name} operation does not apply: doc is missing key: "{path}"', 422)
        return parent.pop(token)
    if isinstance(parent, list):
        return parent.pop(_index(token, len(parent), path, op_name, False))
    raise PatchError(f'{op_name} operation does not apply: doc is missing path: "{path}"', 422)


def json_equal(left, right):
    """Equality of JSON values: 1 == 1.0, but true != 1 (Python's == conflates bools and ints)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right))
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    return type(left) is type(right) and left == right


def json_patch(doc, operations):
    """Apply RFC 6902 operations in order; the first one that fails fails the patch (422)."""
    if not isinstance(operations, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch", 400)
    doc = copy.deepcopy(doc)
    for number, operation in enumerate(operations):
        if not isinstance(operation, dict) or not isinstance(operation.get("op"), str):
            raise PatchError(f"invalid JSON patch operation {number}: it needs an \"op\" string", 400)
        op_name = operation["op"]
        if "path" not in operation:
            raise PatchError(f"{op_name} operation is missing the \"path\" field", 400)
        path = operation["path"]
        if op_name in ("add", "replace", "test") and "value" not in operation:
            raise PatchError(f'{op_name} operation is missing the "value" field for path "{path}"', 400)
        if op_name == "add":
            doc = _add(doc, path, copy.deepcopy(operation["value"]))
        elif op_name == "remove":
            _remove(doc, path)
        elif op_name == "replace":
            if _pointer(path, op_name):
                _get(doc, path, op_name)   # replace needs an existing target (RFC 6902 4.3)
                _remove(doc, path, op_name)
                doc = _add(doc, path, copy.deepcopy(operation["value"]), op_name)
            else:
                doc = copy.deepcopy(operation["value"])
        elif op_name in ("move", "copy"):
            source = operation.get("from")
            if not isinstance(source, str):
                raise PatchError(f'{op_name} operation is missing the "from" field for path "{path}"', 400)
            if op_name == "move":
                if path != source and path.startswith(source + "/"):
                    raise PatchError(f'move operation does not apply: "{path}" is a child of "{source}"', 422)
                value = _remove(doc, source, op_name)
            else:
                value = copy.deepcopy(_get(doc, source, op_name))
            doc = _add(doc, path, value, op_name)
        elif op_name == "test":
            try:
                current = _get(doc, path, op_name)
            except PatchError:
                current = _ABSENT
            if current is _ABSENT or not json_equal(current, operation["value"]):
                raise PatchError(f"testing value {path} failed: test failed", 422)
        else:
            raise PatchError(f"Unexpected kind: {op_name}", 422)
    return doc
