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

Modules: patch (RFC 7386 and RFC 6902, PatchError), strategic (strategic merge patch), fields (field sets and
FieldsV1), apply (managed fields, server-side apply, ApplyConflict).
"""
from .apply import ApplyConflict, record_update, server_side_apply, unchanged
from .fields import fields_from_v1, fields_to_v1, path_string
from .patch import PatchError, json_equal, json_patch, merge_patch
from .strategic import strategic_merge_patch

__all__ = ["ApplyConflict", "PatchError", "fields_from_v1", "fields_to_v1", "json_equal", "json_patch", "merge_patch",
           "path_string", "record_update", "server_side_apply", "strategic_merge_patch", "unchanged"]
