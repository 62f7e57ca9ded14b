"""The apiserver's strategic merge patch (server side: parallel lists merged, unmatched nulls ignored),
driven by the schema node of a built-in kind (its merge keys and patch strategies)."""
import copy
import json

from .patch import _ABSENT, PatchError


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
