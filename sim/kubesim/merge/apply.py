"""Managed fields: server-side apply with its conflicts, and the managedFields of every other write."""
import copy
import datetime
import json

from .fields import (_STRIPPED, _compare, _field_set, _merge, _remove_paths, _tree, fields_from_v1, fields_to_v1,
                     path_string)
from .patch import _ABSENT, PatchError, json_equal


class ApplyConflict(Exception):
    """Server-side apply conflicts: str() is the apiserver's message, causes its StatusCauses."""

    def __init__(self, message, causes=()):
        super().__init__(message)
        self.message = message
        self.causes = list(causes)


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
