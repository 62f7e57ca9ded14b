"""Field sets (structured-merge-diff semantics) and the FieldsV1 encoding of managedFields."""
import copy
import json

from .patch import _ABSENT, PatchError, json_equal
from .strategic import _child_node, _items_node


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
