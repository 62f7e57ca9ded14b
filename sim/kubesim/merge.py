"""Patch and apply semantics of kube-apiserver, as pure functions over JSON-like dicts.

Interface (no function modifies its arguments; each returns a new object):

    merge_patch(doc, patch) -> doc                      RFC 7386 JSON merge patch
    json_patch(doc, operations) -> doc                  RFC 6902 JSON patch (add/remove/replace/move/copy/test)
    strategic_merge_patch(doc, patch, node) -> doc      the apiserver's strategic merge patch; `node` is
                                                        schema.node_for(...) of a built-in kind
    server_side_apply(live, applied, manager, node, force=False, subresource=None, now=None,
                      ignored_fields=()) -> obj
        Merge an apply configuration into the live object (None on create) and return it with
        metadata.managedFields updated. Raises ApplyConflict (409) when another manager owns a field
        the configuration sets to a different value, unless force. Fields this manager applied before
        and no longer applies are removed unless another manager owns them. A re-apply of the same
        configuration returns an object equal to `live`, managedFields times included.
    record_update(old, new, manager, node, operation="Update", subresource=None, now=None,
                  ignored_fields=()) -> obj
        For create (old None), update and non-apply patches: `new` with metadata.managedFields updated
        from what changed between old and new; the manager's entry only gets a new time when it took
        fields. A write that changes nothing keeps managedFields as they were.
    unchanged(live, new) -> bool
        True when storing `new` would change nothing (resourceVersion aside): the server then keeps
        resourceVersion, sends no watch event and answers with the live object.

    PatchError(message, code): code is the HTTP status the server answers with (400 malformed patch,
        422 patch that cannot be applied, 500 where the real apiserver fails internally).
    ApplyConflict(message, causes): 409 Conflict; causes are FieldManagerConflict StatusCauses.

`ignored_fields` are top-level fields the endpoint resets (e.g. ("status",) on the main resource of
a kind with a status subresource): the configuration's values for them are neither merged nor owned.
Managed fields use the real FieldsV1 encoding (`f:name`, `k:{"name":"app"}`, `v:"value"`, `.`).
"""
import copy
import datetime
import json

__all__ = ["ApplyConflict", "PatchError", "json_patch", "merge_patch", "record_update", "server_side_apply",
           "strategic_merge_patch", "unchanged"]


class PatchError(Exception):
    """A patch the server refuses; `code` is the HTTP status it answers with."""

    def __init__(self, message, code=422):
        super().__init__(message)
        self.message = message
        self.code = code


class ApplyConflict(Exception):
    """Server-side apply conflicts: str() is the apiserver's message, causes its StatusCauses."""

    def __init__(self, message, causes=()):
        super().__init__(message)
        self.message = message
        self.causes = list(causes)


_ABSENT = object()


# ============================================================================================
# RFC 7386 JSON merge patch
# ============================================================================================

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


# ============================================================================================
# Strategic merge patch (server side: parallel lists merged, unmatched nulls ignored)
# ============================================================================================

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVES = "$deleteFromPrimitiveList/"


def _child_node(node, key):
    return node.field(key) if node is not None else None


def _items_node(node):
    return node.items() if node is not None else None


def _strategy(node):
    """(patch strategy for lists/maps, merge key) of a field's schema node."""
    if node is None:
        return None, None
    strategies = [s for s in node.patch_strategy if s != "retainKeys"]
    return (strategies[0] if strategies else None), node.patch_merge_key


def _strip_directives(value):
    """New values taken from a patch as they are must not carry patch directives into storage."""
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items()
                if k not in (_DIRECTIVE, _RETAIN_KEYS) and not k.startswith(("$setElementOrder/",
                                                                             "$deleteFromPrimitiveList/"))}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value
                if not (isinstance(v, dict) and v.get(_DIRECTIVE) == "delete")]
    return value


def strategic_merge_patch(doc, patch, node):
    """Apply a strategic merge patch to a built-in object; see the module docstring."""
    if not isinstance(patch, dict):
        raise PatchError("invalid JSON document", 400)
    original = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    return _smp_map(original, copy.deepcopy(patch), node)


def _smp_map(original, patch, node):
    if _DIRECTIVE in patch:
        directive = patch.pop(_DIRECTIVE)
        if directive == "replace":
            return _strip_directives(patch)
        if directive == "delete":
            return {}
        raise PatchError(f"unknown patch type: {directive} in map: {patch}", 500)
    if original is None:
        original = {}
    _smp_retain_keys(original, patch)
    _smp_set_element_orders(original, patch, node)
    for key, value in list(patch.items()):
        delete_list = key.startswith(_DELETE_PRIMITIVES)
        if delete_list:
            key = key[len(_DELETE_PRIMITIVES):]
            if not key:
                raise PatchError("invalid patch format of primitive list", 400)
        if value is None:
            original.pop(key, None)
            continue
        if key not in original:
            if not delete_list:
                original[key] = _strip_directives(value)
            continue
        current = original[key]
        sub = _child_node(node, key)
        strategy, merge_key = _strategy(sub)
        if isinstance(current, dict) and isinstance(value, dict):
            original[key] = _strip_directives(value) if strategy == "replace" else _smp_map(current, value, sub)
        elif isinstance(current, list) and isinstance(value, list):
            if strategy == "merge":
                original[key] = _smp_list(current, value, _items_node(sub), merge_key, delete_list)
            elif not delete_list:
                original[key] = _strip_directives(value)
        elif not delete_list:
            original[key] = _strip_directives(value)
    return original


def _smp_retain_keys(original, patch):
    if _RETAIN_KEYS not in patch:
        return
    keep = patch.pop(_RETAIN_KEYS)
    if not isinstance(keep, list):
        raise PatchError("invalid patch format of retainKeys", 400)
    for key, value in patch.items():
        if value is None or key.startswith(("$setElementOrder/", "$deleteFromPrimitiveList/")):
            continue
        if key not in keep:
            raise PatchError("invalid patch format of retainKeys", 400)
    for key in [k for k in original if k not in keep]:
        del original[key]


def _smp_set_element_orders(original, patch, node):
    for directive in [k for k in patch if k.startswith(_SET_ORDER)]:
        order = patch.pop(directive)
        key = directive[len(_SET_ORDER):]
        if not key or not isinstance(order, list):
            raise PatchError("invalid patch format of setElementOrder list", 400)
        sub = _child_node(node, key)
        strategy, merge_key = _strategy(sub)
        current = original.get(key, _ABSENT)
        value = patch.pop(key, _ABSENT)
        if current is not _ABSENT and not isinstance(current, list):
            raise PatchError(f"invalid value for {key}: not a list", 500)
        if value is not _ABSENT and value is not None and not isinstance(value, list):
            raise PatchError(f"invalid value for {key}: not a list", 500)
        if value is None:
            original.pop(key, None)
            continue
        if current is _ABSENT and value is _ABSENT:
            continue
        if value is _ABSENT:
            merged = current
        elif current is _ABSENT:
            merged = _strip_directives(value)
        elif strategy == "merge":
            merged = _smp_list(current, value, _items_node(sub), merge_key, False)
        else:
            merged = _strip_directives(value)
        in_order, server_only = _partition(merged, order, merge_key)
        original[key] = _normalize_order(in_order, server_only, order,
                                         current if current is not _ABSENT else [], merge_key)


def _item_key(item, merge_key):
    if merge_key:
        if not isinstance(item, dict):
            raise PatchError(f"map: {item} is not a map, while the list merges on {merge_key}", 500)
        if merge_key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {merge_key}", 500)
        return _hashable(item[merge_key])
    return _hashable(item)


def _hashable(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return (type(value) is bool, value)


def _smp_list(original, patch, items, merge_key, delete_list):
    if not original and not patch:
        return original
    if not all(not isinstance(v, dict) for v in original + patch):
        if not all(isinstance(v, dict) for v in original + patch):
            raise PatchError("list element types are not identical", 500)
        if not merge_key:
            raise PatchError("cannot merge lists without merge key", 500)
        return _smp_list_of_maps(original, patch, items, merge_key)
    if any(isinstance(v, list) for v in original + patch):
        raise PatchError("lists of lists are not supported", 422)
    if delete_list:
        drop = {_hashable(v) for v in patch}
        return [v for v in original if _hashable(v) not in drop]
    merged = []
    seen = set()
    for value in original + patch:
        if _hashable(value) not in seen:
            seen.add(_hashable(value))
            merged.append(value)
    in_patch, server_only = _partition(merged, patch, None)
    return _normalize_order(in_patch, server_only, patch, original, None)


def _smp_list_of_maps(original, patch, items, merge_key):
    plain = []
    replace = False
    for item in patch:
        directive = item.get(_DIRECTIVE)
        if directive is None:
            plain.append(item)
        elif directive == "delete":
            if merge_key not in item:
                raise PatchError(f"map: {item} does not contain declared merge key: {merge_key}", 500)
            gone = _hashable(item[merge_key])
            original = [o for o in original if _hashable(o.get(merge_key, _ABSENT)) != gone]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch", 500)
        else:
            raise PatchError(f"unknown patch type: {directive} in map: {item}", 500)
    if replace:
        return _strip_directives(plain)
    merged = list(original)
    for item in plain:
        key = _item_key(item, merge_key)
        for index, current in enumerate(merged):
            if isinstance(current, dict) and merge_key in current and _hashable(current[merge_key]) == key:
                merged[index] = _smp_map(current, item, items)
                break
        else:
            merged.append(_strip_directives(item))
    in_patch, server_only = _partition(merged, plain, merge_key)
    return _normalize_order(in_patch, server_only, plain, original, merge_key)


def _partition(values, by, merge_key):
    wanted = {_item_key(v, merge_key) for v in by if not (isinstance(v, dict) and v.get(_DIRECTIVE))}
    inside, outside = [], []
    for value in values:
        (inside if _item_key(value, merge_key) in wanted else outside).append(value)
    return inside, outside


def _position(order, value, merge_key):
    key = _item_key(value, merge_key)
    for index, candidate in enumerate(order):
        if isinstance(candidate, dict) and candidate.get(_DIRECTIVE):
            continue
        if _item_key(candidate, merge_key) == key:
            return index
    return -1


def _normalize_order(patch_items, server_only, patch_order, server_order, merge_key):
    """The apiserver's order for a merged list: patch items in patch order, server-only items in
    live order, interleaved where the live order says a server-only item comes first."""
    patch_items = sorted(patch_items, key=lambda v: _position(patch_order, v, merge_key))
    server_only = sorted(server_only, key=lambda v: _position(server_order, v, merge_key))
    out = []
    i = j = 0
    while i < len(server_only) or j < len(patch_items):
        if j >= len(patch_items):
            out.append(server_only[i])
            i += 1
        elif i >= len(server_only):
            out.append(patch_items[j])
            j += 1
        else:
            left = _position(server_order, server_only[i], merge_key)
            right = _position(server_order, patch_items[j], merge_key)
            if left >= 0 and right >= 0 and left < right:
                out.append(server_only[i])
                i += 1
            else:
                out.append(patch_items[j])
                j += 1
    return out


# ============================================================================================
# Field sets (structured-merge-diff semantics) and the FieldsV1 encoding
# ============================================================================================

# Fields no manager ever owns (the apiserver strips them from every field set).
_STRIPPED = {(), ("f:apiVersion",), ("f:kind",), ("f:metadata",), ("f:metadata", "f:name"),
             ("f:metadata", "f:namespace"), ("f:metadata", "f:creationTimestamp"), ("f:metadata", "f:selfLink"),
             ("f:metadata", "f:uid"), ("f:metadata", "f:clusterName"), ("f:metadata", "f:generation"),
             ("f:metadata", "f:managedFields"), ("f:metadata", "f:resourceVersion")}


def _compact(value):
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _list_kind(node):
    """'map' (keyed items), 'set' (scalar items) or 'atomic' for a list with this schema."""
    if node is None:
        return "atomic"
    list_type = node.list_type
    if list_type == "map" and node.list_map_keys:
        return "map"
    if list_type == "set":
        return "set"
    return "atomic"


def _map_is_atomic(node):
    return node is not None and node.map_type == "atomic"


def _is_named_field(node, key):
    """Whether `key` is a declared property (struct field) rather than a map entry."""
    if node is None:
        return False
    props = node.raw.get("properties")
    return bool(props) and key in props


def _is_struct(node):
    return node is not None and bool(node.raw.get("properties")) and not node.preserve_unknown


def _item_element(node, item, index):
    """The path element of a list item: k:{...} for list-maps, v:... for sets."""
    kind = _list_kind(node)
    if kind == "map":
        if not isinstance(item, dict):
            raise PatchError(f"element {index}: associative list with keys has an element that is not a map", 400)
        key = {}
        for name in node.list_map_keys:
            if name in item and item[name] is not None:
                key[name] = item[name]
            else:
                default = node.key_default(name)
                if default is None:
                    raise PatchError(f"element {index}: associative list with keys has an element that omits key "
                                     f'field "{name}" (and doesn\'t have default value)', 400)
                key[name] = default
        return "k:" + _compact(key)
    return "v:" + _compact(item)


def _classify(value, node):
    """'map', 'list' (associative) or 'leaf' for a value at a schema node."""
    if isinstance(value, dict):
        return "leaf" if _map_is_atomic(node) else "map"
    if isinstance(value, list):
        return "leaf" if _list_kind(node) == "atomic" else "list"
    return "leaf"


def _field_set(value, node, path=(), out=None):
    """Every path a configuration sets: leaves, list items, and map entries (not struct fields)."""
    if out is None:
        out = set()
    kind = _classify(value, node)
    if kind == "leaf":
        out.add(path)
    elif kind == "map":
        for key, child in value.items():
            sub = _child_node(node, key)
            child_path = path + ("f:" + key,)
            _field_set(child, sub, child_path, out)
            if not _is_named_field(node, key):
                out.add(child_path)
    else:
        items = _items_node(node)
        for index, item in enumerate(value):
            item_path = path + (_item_element(node, item, index),)
            _field_set(item, items, item_path, out)
            out.add(item_path)
    return out


def _index_items(values, node):
    order, by_element = [], {}
    for index, item in enumerate(values or ()):
        element = _item_element(node, item, index)
        if element not in by_element:
            by_element[element] = item
            order.append(element)
    return order, by_element


def _zip_order(left_order, right_order):
    """structured-merge-diff's merged order of two keyed lists: right's order for shared and new
    items, left-only items kept where they stood."""
    left_set, right_set = set(left_order), set(right_order)
    shared = [e for e in right_order if e in left_set]
    shared_pos = 0
    out = []
    done = set()
    i = j = 0
    while i < len(left_order) or j < len(right_order):
        if i < len(left_order) and j < len(right_order):
            element = left_order[i]
            if element == right_order[j]:
                out.append(element)
                done.add(element)
                i += 1
                j += 1
                shared_pos += 1
                continue
            next_shared = shared[shared_pos] if shared_pos < len(shared) else None
            if element in right_set and next_shared is not None and next_shared != element:
                i += 1
                continue
        if i < len(left_order):
            element = left_order[i]
            if element not in right_set:
                out.append(element)
                i += 1
                continue
            if element in done:
                i += 1
                continue
        if j < len(right_order):
            element = right_order[j]
            out.append(element)
            done.add(element)
            j += 1
            if shared_pos < len(shared) and shared[shared_pos] == element:
                shared_pos += 1
        else:
            i += 1
    return out


def _empty(value):
    return value is _ABSENT or value is None or value == {} or value == []


def _compare(old, new, node, builtin, path=(), result=None, in_new_parent=False, list_item=False):
    """(added, modified, removed) paths between two values, as structured-merge-diff compares."""
    if result is None:
        result = (set(), set(), set())
    added, modified, removed = result
    probe = new if new is not _ABSENT else old
    kind = _classify(probe, node)
    other = old if new is not _ABSENT else new
    if other is not _ABSENT and _classify(other, node) != kind:
        kind = "leaf"
    if kind != "leaf" and _empty(old) and _empty(new):
        kind = "leaf"
    if kind == "leaf":
        if old is _ABSENT:
            added.add(path)
        elif new is _ABSENT:
            removed.add(path)
        elif not json_equal(old, new):
            modified.add(path)
        return result
    appeared, vanished = old is _ABSENT, new is _ABSENT
    # A built-in object is compared against the Go zero value of its kind, where structs and
    # non-omitempty lists already exist: under a parent that existed (or was a zero-value struct)
    # only list items and map-typed fields count as added or removed. Custom resources have no
    # zero value, so every new node counts.
    counts = not builtin or in_new_parent or list_item or (kind == "map" and not _is_struct(node))
    fresh = (appeared or vanished) and counts
    if kind == "map":
        old_map = old if isinstance(old, dict) else {}
        new_map = new if isinstance(new, dict) else {}
        for key in list(old_map) + [k for k in new_map if k not in old_map]:
            _compare(old_map.get(key, _ABSENT), new_map.get(key, _ABSENT), _child_node(node, key), builtin,
                     path + ("f:" + key,), result, fresh)
    else:
        items = _items_node(node)
        old_order, old_items = _index_items(old if isinstance(old, list) else [], node)
        new_order, new_items = _index_items(new if isinstance(new, list) else [], node)
        for element in _zip_order(old_order, new_order):
            _compare(old_items.get(element, _ABSENT), new_items.get(element, _ABSENT), items, builtin,
                     path + (element,), result, fresh, True)
    if not counts:
        return result
    if appeared:
        added.add(path)
    elif vanished:
        removed.add(path)
    return result


def _merge(live, config, node):
    """Apply-merge: the configuration wins, live-only fields and keyed items stay."""
    if config is _ABSENT:
        return copy.deepcopy(live)
    if live is _ABSENT:
        return copy.deepcopy(config)
    kind = _classify(config, node)
    if kind == "leaf" or _classify(live, node) != kind:
        return copy.deepcopy(config)
    if kind == "map":
        out = {}
        for key, value in live.items():
            out[key] = _merge(value, config.get(key, _ABSENT), _child_node(node, key))
        for key, value in config.items():
            if key not in live:
                out[key] = copy.deepcopy(value)
        return out
    items = _items_node(node)
    live_order, live_items = _index_items(live, node)
    config_order, config_items = _index_items(config, node)
    return [_merge(live_items.get(e, _ABSENT), config_items.get(e, _ABSENT), items)
            for e in _zip_order(live_order, config_order)]


def _remove_paths(value, node, tree, builtin):
    """Remove the nodes named by a path tree ({element: subtree}, None = remove this node)."""
    if isinstance(value, dict):
        for element, subtree in tree.items():
            if not element.startswith("f:"):
                continue
            key = element[2:]
            if key not in value:
                continue
            if subtree is None:
                del value[key]
                continue
            sub = _child_node(node, key)
            _remove_paths(value[key], sub, subtree, builtin)
            if builtin and value[key] in ({}, []):
                # Go's encoder leaves out empty maps and lists (omitempty), so they vanish when stored.
                del value[key]
    elif isinstance(value, list) and _list_kind(node) != "atomic":
        items = _items_node(node)
        kept = []
        for index, item in enumerate(value):
            element = _item_element(node, item, index)
            if element in tree:
                subtree = tree[element]
                if subtree is None:
                    continue
                _remove_paths(item, items, subtree, builtin)
            kept.append(item)
        value[:] = kept


def _tree(paths):
    root = {}
    for path in sorted(paths, key=len):
        node = root
        for element in path[:-1]:
            child = node.get(element, _ABSENT)
            if child is None:
                break   # an ancestor goes as a whole
            node = node.setdefault(element, {})
        else:
            if path:
                node[path[-1]] = None
    return root


_ELEMENT_RANK = {".": 0, "f": 1, "v": 2, "k": 3, "i": 4}


def _element_sort_key(element):
    return (_ELEMENT_RANK.get(element[0], 5), element)


def fields_to_v1(paths):
    """A set of paths -> FieldsV1 JSON ({"f:spec": {"f:replicas": {}}, ...})."""
    tree = {}
    for path in paths:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
        node.setdefault(".", None)

    def render(node):
        out = {}
        member = "." in node
        children = [k for k in node if k != "."]
        if member and children:
            out["."] = {}
        for key in sorted(children, key=_element_sort_key):
            out[key] = render(node[key])
        return out

    return render(tree)


def fields_from_v1(fields):
    """FieldsV1 JSON -> set of paths."""
    out = set()

    def walk(node, path):
        if not isinstance(node, dict):
            return
        children = [k for k in node if k != "."]
        if "." in node or not children:
            out.add(path)
        for key in children:
            walk(node[key], path + (key,))

    if isinstance(fields, dict):
        for key, child in fields.items():
            if key != ".":
                walk(child, (key,))
    return out


def path_string(path):
    """structured-merge-diff's printed path: .spec.containers[name="app"].image"""
    out = ""
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            out += "." + rest
        elif kind == "k":
            key = json.loads(rest)
            out += "[" + ",".join(f"{k}={_compact(v)}" for k, v in sorted(key.items())) + "]"
        elif kind == "v":
            out += "[=" + rest + "]"
        elif kind == "i":
            out += "[" + rest + "]"
    return out


# ============================================================================================
# Managed fields
# ============================================================================================

def _now(now):
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    if isinstance(now, datetime.datetime):
        return now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(now)


class _Entry:
    __slots__ = ("manager", "operation", "api_version", "subresource", "time", "fields", "raw")

    def __init__(self, manager, operation, api_version, subresource, time, fields, raw=None):
        self.manager = manager
        self.operation = operation
        self.api_version = api_version
        self.subresource = subresource or ""
        self.time = time
        self.fields = fields
        self.raw = raw

    @property
    def key(self):
        # Appliers keep one entry whatever API version they use; updaters one per version.
        version = "" if self.operation == "Apply" else self.api_version
        return (self.manager, self.operation, version, self.subresource)

    def encode(self):
        out = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = fields_to_v1(self.fields)
        if self.subresource:
            out["subresource"] = self.subresource
        return out

    def describe(self):
        """How the apiserver names a manager in conflict messages."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text


def _decode_managed(obj):
    entries = {}
    for raw in ((obj or {}).get("metadata") or {}).get("managedFields") or ():
        if not isinstance(raw, dict) or not raw.get("manager"):
            continue
        entry = _Entry(raw.get("manager"), raw.get("operation") or "Update", raw.get("apiVersion") or "",
                       raw.get("subresource"), raw.get("time"), fields_from_v1(raw.get("fieldsV1")), raw)
        entries[entry.key] = entry
    return entries


def _encode_managed(entries):
    def order(entry):
        return (entry.operation, entry.time or "", entry.manager, entry.api_version, entry.subresource)
    return [e.encode() if e.raw is None else e.raw for e in sorted(entries.values(), key=order)]


def _body(obj):
    """The object without managedFields, which are never merged or compared as content."""
    if obj is None:
        return None
    out = copy.copy(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


def _clean(paths, ignored_fields):
    ignored = {("f:" + name,) for name in ignored_fields}
    return {p for p in paths if p not in _STRIPPED and p[:1] not in ignored}


def _set_managed(obj, entries):
    meta = obj.setdefault("metadata", {})
    encoded = _encode_managed(entries)
    if encoded:
        meta["managedFields"] = encoded
    else:
        meta.pop("managedFields", None)
    return obj


def _is_builtin(node):
    return node is not None and getattr(node, "_builtin", False)


def server_side_apply(live, applied, manager, node, force=False, subresource=None, now=None, ignored_fields=()):
    """Apply `applied` as `manager`; see the module docstring."""
    if not isinstance(applied, dict):
        raise PatchError("apply patch must be an object", 400)
    if (applied.get("metadata") or {}).get("managedFields"):
        raise PatchError("metadata.managedFields must be nil", 400)
    manager = manager or "unknown"
    builtin = _is_builtin(node)
    api_version = applied.get("apiVersion") or (live or {}).get("apiVersion", "")
    config = _body(applied)
    for name in ignored_fields:
        config.pop(name, None)
    live_body = _body(live) if live is not None else None
    entries = _decode_managed(live)
    if live is not None and not entries:
        # Objects written before anyone tracked fields: their content belongs to this pseudo-manager.
        first = _Entry("before-first-apply", "Update", live.get("apiVersion", api_version), None, None,
                       _clean(_field_set(live_body, node), ignored_fields))
        if first.fields:
            entries[first.key] = first

    merged = _merge(live_body if live_body is not None else _ABSENT, config, node)
    mine = _Entry(manager, "Apply", api_version, subresource, None, _clean(_field_set(config, node), ignored_fields))
    previous = entries.get(mine.key)
    entries[mine.key] = mine

    if previous is not None and previous.fields:
        owned = set().union(*(e.fields for e in entries.values()))
        present = _field_set(merged, node)
        gone = {p for p in previous.fields - owned if p in present}
        if gone:
            _remove_paths(merged, node, _tree(gone), builtin)

    added, modified, removed = _compare(live_body if live_body is not None else _ABSENT, merged, node, builtin)
    added, modified, removed = (_clean(s, ignored_fields) for s in (added, modified, removed))
    changed = added | modified
    conflicts = []
    for key, entry in entries.items():
        if key == mine.key:
            continue
        taken = entry.fields & changed
        if taken:
            conflicts.extend((entry, path) for path in taken)
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for key, entry in list(entries.items()):
        if key == mine.key:
            continue
        remaining = entry.fields - changed - removed
        if remaining != entry.fields:
            entries[key] = _Entry(entry.manager, entry.operation, entry.api_version, entry.subresource,
                                  entry.time, remaining)
    for key in [k for k, e in entries.items() if not e.fields]:
        del entries[key]

    content_changed = live_body is None or not json_equal(merged, live_body)
    if mine.key in entries:
        if content_changed or previous is None:
            mine.time = _now(now)
        else:
            mine.time = previous.time
            if previous.fields == mine.fields and previous.api_version == mine.api_version:
                entries[mine.key] = previous
    return _set_managed(merged, entries)


def _conflict_error(conflicts):
    conflicts = sorted(conflicts, key=lambda c: (c[0].manager, path_string(c[1])))
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {entry.describe()}",
               "field": path_string(path)} for entry, path in conflicts]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {entry.describe()}: {path_string(path)}"
    else:
        lines = []
        by_manager = {}
        for entry, path in conflicts:
            by_manager.setdefault(entry.describe(), []).append(path_string(path))
        for name in sorted(by_manager):
            lines.append(f"conflicts with {name}:")
            lines.extend(f"- {p}" for p in by_manager[name])
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApplyConflict(message, causes)


def record_update(old, new, manager, node, operation="Update", subresource=None, now=None, ignored_fields=()):
    """Managed fields for a create, update or non-apply patch; see the module docstring."""
    manager = manager or "unknown"
    builtin = _is_builtin(node)
    result = copy.deepcopy(new)
    api_version = result.get("apiVersion", "")
    old_entries = _decode_managed(old)
    sent = (new.get("metadata") or {}).get("managedFields")
    if sent is not None and (old is None or not json_equal(sent, (old.get("metadata") or {}).get("managedFields"))):
        # A client that sends managedFields different from the live ones replaces them.
        entries = _decode_managed(new)
    else:
        entries = old_entries
    old_body = _body(old) if old is not None else None
    new_body = _body(result)
    if old_body is None:
        # Create compares against the empty object of the kind: apiVersion and kind already set.
        baseline = {k: new_body[k] for k in ("apiVersion", "kind") if k in new_body}
        added, modified, removed = _compare(baseline, new_body, node, builtin)
    else:
        added, modified, removed = _compare(old_body, new_body, node, builtin)
    added, modified, removed = (_clean(s, ignored_fields) for s in (added, modified, removed))
    taken = added | modified
    mine_key = _Entry(manager, "Update" if operation != "Apply" else "Apply", api_version, subresource, None,
                      set()).key
    for key, entry in list(entries.items()):
        remaining = entry.fields - taken - removed
        if remaining != entry.fields:
            entries[key] = _Entry(entry.manager, entry.operation, entry.api_version, entry.subresource,
                                  entry.time, remaining)
    if taken:
        previous = entries.get(mine_key)
        fields = taken | (previous.fields if previous is not None else set())
        entry = _Entry(manager, "Update", api_version, subresource, _now(now), fields)
        entries[entry.key] = entry
    for key in [k for k, e in entries.items() if not e.fields]:
        del entries[key]
    return _set_managed(result, entries)


def unchanged(live, new):
    """Whether storing `new` over `live` would change nothing (resourceVersion aside)."""
    if live is None or new is None:
        return False
    left, right = dict(live), dict(new)
    left["metadata"] = {k: v for k, v in (live.get("metadata") or {}).items() if k != "resourceVersion"}
    right["metadata"] = {k: v for k, v in (new.get("metadata") or {}).items() if k != "resourceVersion"}
    return json_equal(left, right)
