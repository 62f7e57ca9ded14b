"""TEMPORARY stand-ins until K2's merge.py / protobuf.py land. Delete when they do."""
import copy


class PatchError(Exception):
    def __init__(self, message, code=422):
        super().__init__(message)
        self.code = code


class ApplyConflict(Exception):
    def __init__(self, message, causes=()):
        super().__init__(message)
        self.causes = list(causes)


class ProtobufError(Exception):
    pass


def decode(body):
    raise ProtobufError("protobuf decoding not available yet")


def merge_patch(doc, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _ptr(path):
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def json_patch(doc, ops):
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = _ptr(op["path"])
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        kind = op["op"]
        if kind in ("add", "replace"):
            if isinstance(parent, list):
                if last == "-":
                    parent.append(op["value"])
                elif kind == "add":
                    parent.insert(int(last), op["value"])
                else:
                    parent[int(last)] = op["value"]
            else:
                parent[last] = op["value"]
        elif kind == "remove":
            if isinstance(parent, list):
                del parent[int(last)]
            else:
                del parent[last]
        elif kind == "test":
            cur = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if cur != op["value"]:
                raise PatchError("testing value failed", 422)
    return doc


def strategic_merge_patch(doc, patch, node):
    if not isinstance(patch, dict) or not isinstance(doc, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(doc)
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        sub = node.field(k) if node is not None else None
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and sub is not None and sub.patch_merge_key and isinstance(out.get(k), list):
            key = sub.patch_merge_key
            merged = list(out[k])
            for item in v:
                for i, cur in enumerate(merged):
                    if isinstance(cur, dict) and isinstance(item, dict) and cur.get(key) == item.get(key):
                        merged[i] = strategic_merge_patch(cur, item, sub.items())
                        break
                else:
                    merged.append(item)
            out[k] = merged
        elif isinstance(v, dict):
            out[k] = strategic_merge_patch(out.get(k) if isinstance(out.get(k), dict) else {}, v, sub)
        else:
            out[k] = copy.deepcopy(v)
    return out


def server_side_apply(live, applied, manager, node, force=False, subresource=None):
    base = live or {"metadata": {}}
    merged = strategic_merge_patch(base, applied, node)
    meta = merged["metadata"]
    entries = [e for e in meta.get("managedFields") or [] if e.get("manager") != manager or e.get("operation") != "Apply"]
    entries.append({"manager": manager, "operation": "Apply", "apiVersion": applied["apiVersion"],
                    "fieldsType": "FieldsV1", "fieldsV1": {}})
    meta["managedFields"] = entries
    return merged


def record_update(old, new, manager, node, operation, subresource):
    if old is not None and old["metadata"].get("managedFields"):
        new["metadata"]["managedFields"] = copy.deepcopy(old["metadata"]["managedFields"])
    return new
