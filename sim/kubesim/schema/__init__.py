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

Modules: builtin (Kubernetes' own schemas), crd (structural schemas of custom resources), cel
(x-kubernetes-validations), meta (ObjectMeta), causes (field paths and messages), validation (the
Validation outcome), nodes (merge metadata). validate() below dispatches to builtin or crd.
"""
import copy

from .builtin import KUBERNETES_VERSION, _builtin_def, _validate_builtin, builtin_definitions, builtin_known
from .crd import _validate_custom
from .meta import metadata_causes
from .nodes import SchemaNode, node_for, strategic_merge_supported
from .validation import Validation

__all__ = ["KUBERNETES_VERSION", "SchemaNode", "Validation", "builtin_definitions", "builtin_known", "metadata_causes",
           "node_for", "strategic_merge_supported", "validate"]


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
