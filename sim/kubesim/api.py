"""REST semantics of the apiserver, independent of HTTP: what get/list/create/update/patch/delete do.

Every write runs the same pipeline as kube-apiserver: decode + schema (400 on bad JSON types,
fieldValidation), mutating admission (defaults, sidecar injection), validation (422 Invalid),
system metadata (uid, generation, resourceVersion, managedFields), then storage. A write that
changes nothing is not stored, so resourceVersion stays the same and no watch event fires.
"""
import base64
import datetime
import json
import uuid

import yaml

from . import errors, merge, schema
from .resources import VIRTUAL
from .store import clone
from .selectors import match_fields, match_labels, parse_field_selector, parse_label_selector

# Field selectors the real apiserver accepts beyond metadata.name / metadata.namespace.
_FIELD_LABELS = {
    ("", "pods"): {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                   "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"},
    ("", "secrets"): {"type"},
    ("", "namespaces"): {"status.phase"},
    ("", "nodes"): {"spec.unschedulable"},
    ("", "events"): {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                     "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                     "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"},
    ("apps", "replicasets"): {"status.replicas"},
    ("batch", "jobs"): {"status.successful"},
    ("certificates.k8s.io", "certificatesigningrequests"): {"spec.signerName"},
}

_PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "apply-cbor",
}


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_manager(user_agent):
    """The field manager the apiserver derives from a User-Agent when none is given."""
    name = (user_agent or "unknown").split("/", 1)[0]
    return name[:128] or "unknown"


class Request:
    """One API call, already routed: what the HTTP layer hands to Api."""

    def __init__(self, verb, rtype, namespace=None, name=None, subresource=None, query=None, body=None,
                 content_type="application/json", user_agent="", user="admin"):
        self.verb, self.rtype, self.namespace, self.name = verb, rtype, namespace, name
        self.subresource, self.query, self.body = subresource, query or {}, body
        self.content_type, self.user_agent, self.user = content_type, user_agent, user
        self.warnings = []

    @property
    def dry_run(self):
        return self.query.get("dryRun") == "All"

    @property
    def field_manager(self):
        return self.query.get("fieldManager") or default_manager(self.user_agent)

    @property
    def field_validation(self):
        return self.query.get("fieldValidation") or "Warn"


class Api:
    def __init__(self, sim):
        self.sim = sim
        self.store = sim.store
        self.registry = sim.registry

    # helpers --------------------------------------------------------------------------------
    def _present(self, rtype, obj):
        """An object as the requested version shows it (CR versions share storage)."""
        if obj is not None and obj.get("apiVersion") != rtype.api_version:
            obj["apiVersion"] = rtype.api_version
        return obj

    def _existing(self, rtype, namespace, name):
        obj = self.store.get(rtype.key, namespace if rtype.namespaced else None, name)
        if obj is None:
            raise errors.not_found(rtype, name)
        return obj

    def _check_namespace(self, rtype, namespace, name):
        if not rtype.namespaced:
            return
        ns = self.store.peek(("", "namespaces"), None, namespace)
        if ns is None:
            raise errors.ApiError(404, f'namespaces "{namespace}" not found', "NotFound",
                                  {"name": namespace, "kind": "namespaces"})
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.ApiError(
                403, f'{rtype.plural}{"." + rtype.group if rtype.group else ""} "{name}" is forbidden: unable to '
                     f'create new content in namespace {namespace} because it is being terminated', "Forbidden",
                {"name": name, "group": rtype.group, "kind": rtype.plural,
                 "causes": [{"reason": "NamespaceTerminating",
                             "message": f"namespace {namespace} is being terminated",
                             "field": "metadata.namespace"}]})

    def _schema_for(self, rtype):
        return rtype.schema if rtype.crd else None

    def _decode(self, req, rtype, obj):
        """Schema pass: 400 for undecodable/unknown fields (per fieldValidation), 422 for invalid."""
        if not isinstance(obj, dict):
            raise errors.bad_request("the body of the request could not be decoded as an object")
        result = schema.validate(obj, self._schema_for(rtype))
        message = result.bad_request(req.field_validation)
        if message:
            raise errors.bad_request(message)
        if req.field_validation.lower() == "warn":
            req.warnings.extend(result.warnings())
        causes = list(result.causes) + schema.metadata_causes(result.object)
        if causes:
            raise errors.invalid(rtype, (obj.get("metadata") or {}).get("name", ""), causes)
        return result.object

    def _check_identity(self, req, rtype, obj):
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if kind and kind != rtype.kind:
            raise errors.bad_request(f"the API version in the data ({api_version}) does not match the expected "
                                     f"API version ({rtype.api_version})" if api_version != rtype.api_version else
                                     f"the kind in the data ({kind}) does not match the expected kind "
                                     f"({rtype.kind})")
        if api_version and api_version != rtype.api_version:
            raise errors.bad_request(f"the API version in the data ({api_version}) does not match the expected "
                                     f"API version ({rtype.api_version})")
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if rtype.namespaced:
            if meta.get("namespace") and req.namespace and meta["namespace"] != req.namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent "
                                         "on the request")
            if req.namespace:
                meta["namespace"] = req.namespace
        else:
            meta.pop("namespace", None)

    # reads ----------------------------------------------------------------------------------
    def get(self, req):
        obj = self._existing(req.rtype, req.namespace, req.name)
        if req.subresource == "scale":
            return self._scale_of(req.rtype, obj)
        return self._present(req.rtype, obj)

    def pod_log(self, req):
        """No process runs in a simulated pod: the log says so, for the container asked about."""
        pod = self._existing(req.rtype, req.namespace, req.name)
        names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        inits = [c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []]
        container = req.query.get("container")
        if container is None:
            if len(names) != 1:
                raise errors.bad_request(f"a container name must be specified for pod {req.name}, choose one of: "
                                         f"[{' '.join(names)}] or one of the init containers: [{' '.join(inits)}]")
            container = names[0]
        elif container not in names + inits:
            raise errors.bad_request(f"container {container} is not valid for pod {req.name}")
        return f"kubesim: container {container} of pod {req.namespace}/{req.name} runs no process and logs nothing\n"

    def list(self, req):
        rtype = req.rtype
        labels = parse_label_selector(req.query.get("labelSelector", ""))
        fields = parse_field_selector(req.query.get("fieldSelector", ""))
        allowed = {"metadata.name", "metadata.namespace"} | _FIELD_LABELS.get(rtype.key, set())
        for path, _, _ in fields:
            if path not in allowed:
                raise errors.bad_request(f"field label not supported: {path}")
        with self.store.lock:
            rv = str(self.store.resource_version)
            items = self.store.list(rtype.key, req.namespace if rtype.namespaced else None, where=lambda o: (
                match_labels(labels, o["metadata"].get("labels")) and match_fields(fields, o)))
        items = [self._present(rtype, o) for o in items]
        meta = {"resourceVersion": rv}
        limit = int(req.query.get("limit") or 0)
        start = 0
        token = req.query.get("continue")
        if token:
            try:
                start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["start"])
            except (ValueError, KeyError, TypeError):
                raise errors.bad_request("continue key is not valid: invalid continue token") from None
        if limit and limit > 0:
            page = items[start:start + limit]
            if start + limit < len(items):
                meta["continue"] = base64.urlsafe_b64encode(
                    json.dumps({"start": start + limit, "rv": rv}).encode()).decode()
                meta["remainingItemCount"] = len(items) - start - limit
            items = page
        elif start:
            items = items[start:]
        return {"apiVersion": rtype.api_version, "kind": rtype.list_kind, "metadata": meta, "items": items}

    # writes ---------------------------------------------------------------------------------
    def create(self, req):
        rtype = req.rtype
        if rtype.key in VIRTUAL:
            return 201, self.sim.controllers.review(rtype, req.body)
        if req.subresource == "token":
            return 201, self._token_request(req)
        if req.subresource:
            raise errors.method_not_allowed()
        obj = req.body
        if not isinstance(obj, dict):
            raise errors.bad_request("the body of the request could not be decoded as an object")
        obj = clone(obj)
        self._check_identity(req, rtype, obj)
        obj = self._decode(req, rtype, obj)
        meta = obj["metadata"]
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + self.sim.random_suffix()
            else:
                raise errors.invalid(rtype, "", [{"reason": "FieldValueRequired", "field": "metadata.name",
                                                  "message": "Required value: name or generateName is required"}])
        name = meta["name"]
        with self.store.lock:
            self._check_namespace(rtype, req.namespace, name)
            if self.store.peek(rtype.key, meta.get("namespace"), name) is not None:
                raise errors.already_exists(rtype, name)
            for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
                meta.pop(key, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if rtype.generation:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            if "status" in rtype.subresources:
                obj.pop("status", None)
            self.sim.controllers.admit("CREATE", rtype, obj, None, req.dry_run)
            causes = schema.metadata_causes(obj)
            if causes:
                raise errors.invalid(rtype, name, causes)
            self.sim.controllers.validate("CREATE", rtype, obj, None, req.dry_run)
            meta.pop("managedFields", None)
            obj = merge.record_update(None, obj, req.field_manager, self._schema_node(rtype), "Update",
                                      None, ignored_fields=_ignored(rtype, None))
            if req.dry_run:
                return 201, self._present(rtype, obj)
            stored = self.store.put(rtype.key, obj)
            self.sim.controllers.drain()
            return 201, self._present(rtype, stored)

    def _schema_node(self, rtype):
        return schema.node_for(rtype.api_version, rtype.kind, self._schema_for(rtype))

    def update(self, req):
        rtype = req.rtype
        if req.subresource == "scale":
            return self._update_scale(req)
        if req.subresource == "finalize" and rtype.key == ("", "namespaces"):
            req = Request("update", rtype, None, req.name, "status", req.query, req.body, req.content_type,
                          req.user_agent, req.user)
            return self._finalize(req)
        if req.subresource not in (None, "status"):
            raise errors.method_not_allowed()
        obj = req.body
        if not isinstance(obj, dict):
            raise errors.bad_request("the body of the request could not be decoded as an object")
        obj = clone(obj)
        self._check_identity(req, rtype, obj)
        body_name = obj["metadata"].get("name")
        if body_name and body_name != req.name:
            raise errors.bad_request(f"the name of the object ({body_name}) does not match the name on the URL "
                                     f"({req.name})")
        obj["metadata"]["name"] = req.name
        with self.store.lock:
            old = self._existing(rtype, req.namespace, req.name)
            rv = obj["metadata"].get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rtype, req.name)
            obj = self._decode(req, rtype, obj)
            return self._finish_write(req, rtype, old, obj, "Update")

    def patch(self, req):
        rtype = req.rtype
        ctype = (req.content_type or "").split(";")[0].strip().lower()
        kind = _PATCH_TYPES.get(ctype)
        accepted = [c for c in _PATCH_TYPES if c != "application/apply-patch+cbor"]
        if rtype.crd:
            accepted.remove("application/strategic-merge-patch+json")
        if kind is None or kind == "apply-cbor" or (kind == "strategic" and not schema.strategic_merge_supported(
                rtype.api_version, rtype.kind, self._schema_for(rtype))):
            raise errors.unsupported_media_type(ctype, accepted)
        if req.subresource not in (None, "status", "scale"):
            raise errors.method_not_allowed()
        with self.store.lock:
            old = self.store.get(rtype.key, req.namespace if rtype.namespaced else None, req.name)
            if req.subresource == "scale":
                if old is None:
                    raise errors.not_found(rtype, req.name)
                scale = self._scale_of(rtype, old)
                patched = self._apply_patch(kind, scale, req, None)
                req.body = patched
                return self._update_scale(req)
            if kind == "apply":
                return self._server_side_apply(req, old)
            if old is None:
                raise errors.not_found(rtype, req.name)
            current = self._present(rtype, clone(old))
            patched = self._apply_patch(kind, current, req, self._schema_node(rtype))
            if not isinstance(patched, dict):
                raise errors.bad_request("the patch did not produce an object")
            self._check_identity(req, rtype, patched)
            if patched["metadata"].get("name") != req.name:
                raise errors.bad_request(f"the name of the object ({patched['metadata'].get('name')}) does not "
                                         f"match the name on the URL ({req.name})")
            rv = patched["metadata"].get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rtype, req.name)
            obj = self._decode(req, rtype, patched)
            return self._finish_write(req, rtype, old, obj, "Update")

    def _apply_patch(self, kind, current, req, node):
        body = req.body
        if isinstance(body, (bytes, bytearray)):
            try:
                body = json.loads(body)
            except ValueError as exc:
                raise errors.bad_request(f"error decoding patch: {exc}") from None
        try:
            if kind == "json":
                return merge.json_patch(current, body)
            if kind == "merge":
                return merge.merge_patch(current, body)
            return merge.strategic_merge_patch(current, body, node)
        except merge.PatchError as exc:
            raise errors.ApiError(exc.code, str(exc)) from None

    def _server_side_apply(self, req, old):
        rtype = req.rtype
        if not req.query.get("fieldManager"):
            raise errors.bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                                     "is required for apply patch")
        body = req.body
        if isinstance(body, (bytes, bytearray)):
            try:
                body = yaml.safe_load(body.decode())
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                raise errors.bad_request(f"error decoding YAML: {exc}") from None
        if not isinstance(body, dict):
            raise errors.bad_request("apply patch must be an object")
        applied = clone(body)
        self._check_identity(req, rtype, applied)
        if applied["metadata"].get("name") not in (None, req.name):
            raise errors.bad_request(f"the name of the object ({applied['metadata'].get('name')}) does not match "
                                     f"the name on the URL ({req.name})")
        applied["metadata"]["name"] = req.name
        applied = self._decode(req, rtype, applied)
        force = str(req.query.get("force", "")).lower() == "true"
        live = None if old is None else self._present(rtype, clone(old))
        if live is None:
            self._check_namespace(rtype, req.namespace, req.name)
        try:
            merged = merge.server_side_apply(live, applied, req.field_manager, self._schema_node(rtype),
                                             force=force, subresource=req.subresource,
                                             ignored_fields=_ignored(rtype, req.subresource))
        except merge.ApplyConflict as exc:
            raise errors.ApiError(409, str(exc), "Conflict",
                                  {"name": req.name, "group": rtype.group, "kind": rtype.plural,
                                   "causes": exc.causes}) from None
        if old is None:
            if req.subresource:
                raise errors.not_found(rtype, req.name)
            req.body = merged
            merged["metadata"].pop("resourceVersion", None)
            meta = merged["metadata"]
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if rtype.generation:
                meta["generation"] = 1
            if "status" in rtype.subresources:
                merged.pop("status", None)
            self.sim.controllers.admit("CREATE", rtype, merged, None, req.dry_run)
            causes = schema.metadata_causes(merged)
            if causes:
                raise errors.invalid(rtype, req.name, causes)
            self.sim.controllers.validate("CREATE", rtype, merged, None, req.dry_run)
            if req.dry_run:
                return 201, self._present(rtype, merged)
            stored = self.store.put(rtype.key, merged)
            self.sim.controllers.drain()
            return 201, self._present(rtype, stored)
        return self._finish_write(req, rtype, old, merged, "Apply", managed_done=True)

    def _finish_write(self, req, rtype, old, obj, operation, managed_done=False):
        """Common tail of update/patch/apply on an existing object."""
        meta = obj["metadata"]
        old_meta = old["metadata"]
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        if rtype.namespaced:
            meta["namespace"] = old_meta.get("namespace")
        if req.subresource == "status":
            # The status subresource changes status only (and keeps metadata but labels/annotations).
            new = clone(old)
            new["status"] = obj.get("status")
            if new["status"] is None:
                new.pop("status")
            if managed_done:
                new["metadata"]["managedFields"] = meta.get("managedFields")
            obj = new
            meta = obj["metadata"]
        elif "status" in rtype.subresources:
            if "status" in old:
                obj["status"] = clone(old["status"])
            else:
                obj.pop("status", None)
        if rtype.generation:
            gen = old_meta.get("generation", 1)
            if _spec_of(obj, rtype) != _spec_of(old, rtype):
                gen += 1
            meta["generation"] = gen
        else:
            meta.pop("generation", None)
        if req.subresource != "status":
            self.sim.controllers.admit("UPDATE", rtype, obj, old, req.dry_run)
            causes = schema.metadata_causes(obj)
            if causes:
                raise errors.invalid(rtype, req.name, causes)
        # Admission runs before storage: a no-op update is still sent to the webhooks.
        self.sim.controllers.validate("UPDATE", rtype, obj, old, req.dry_run, req.subresource)
        if not managed_done:
            obj = merge.record_update(old, obj, req.field_manager, self._schema_node(rtype), operation,
                                      req.subresource, ignored_fields=_ignored(rtype, req.subresource))
        meta = obj["metadata"]
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if managed_done:
            _keep_apply_times(old, obj)
        if merge.unchanged(old, obj):
            return 200, self._present(rtype, old)
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and rtype.key != ("", "namespaces"):
            if req.dry_run:
                return 200, self._present(rtype, obj)
            gone = self.store.remove(rtype.key, meta.get("namespace"), meta["name"])
            self.sim.controllers.drain()
            return 200, self._present(rtype, gone)
        if req.dry_run:
            return 200, self._present(rtype, obj)
        stored = self.store.put(rtype.key, obj)
        self.sim.controllers.drain()
        return 200, self._present(rtype, stored)

    def _finalize(self, req):
        rtype = req.rtype
        with self.store.lock:
            old = self._existing(rtype, None, req.name)
            obj = clone(old)
            obj.setdefault("spec", {})["finalizers"] = (req.body.get("spec") or {}).get("finalizers") or []
            if req.dry_run:
                return 200, obj
            stored = self.store.put(rtype.key, obj)
            self.sim.controllers.drain()
            return 200, stored

    # scale ----------------------------------------------------------------------------------
    def _scale_paths(self, rtype):
        if rtype.crd:
            paths = rtype.scale_paths or {}
            return (paths.get("specReplicasPath", ".spec.replicas"), paths.get("statusReplicasPath",
                                                                                ".status.replicas"),
                    paths.get("labelSelectorPath"))
        return ".spec.replicas", ".status.replicas", None

    def _scale_of(self, rtype, obj):
        spec_path, status_path, selector_path = self._scale_paths(rtype)
        selector = ""
        if selector_path:
            selector = _get_path(obj, selector_path) or ""
        elif isinstance((obj.get("spec") or {}).get("selector"), dict):
            sel = obj["spec"]["selector"]
            parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
            for expr in sel.get("matchExpressions") or []:
                op = expr.get("operator")
                vals = ",".join(expr.get("values") or [])
                parts.append({"In": f"{expr['key']} in ({vals})", "NotIn": f"{expr['key']} notin ({vals})",
                              "Exists": expr["key"], "DoesNotExist": f"!{expr['key']}"}.get(op, ""))
            selector = ",".join(parts)
        meta = obj["metadata"]
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                             if k in meta},
                "spec": {"replicas": _get_path(obj, spec_path) or 0},
                "status": {"replicas": _get_path(obj, status_path) or 0, "selector": selector}}

    def _update_scale(self, req):
        rtype = req.rtype
        body = req.body if isinstance(req.body, dict) else {}
        replicas = (body.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.ApiError(422, f'Scale.autoscaling "{req.name}" is invalid: spec.replicas: Invalid value: '
                                       f'{replicas}: must be greater than or equal to 0', "Invalid",
                                  {"name": req.name, "group": "autoscaling", "kind": "Scale",
                                   "causes": [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                               "message": f"Invalid value: {replicas}: must be greater than or "
                                                          f"equal to 0"}]})
        with self.store.lock:
            old = self._existing(rtype, req.namespace, req.name)
            rv = (body.get("metadata") or {}).get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rtype, req.name)
            obj = clone(old)
            _set_path(obj, self._scale_paths(rtype)[0], replicas)
            sub = Request("update", rtype, req.namespace, req.name, None, req.query, obj, user_agent=req.user_agent)
            _, result = self._finish_write(sub, rtype, old, obj, "Update")
            return 200, self._scale_of(rtype, result)

    # delete ---------------------------------------------------------------------------------
    def delete(self, req):
        rtype = req.rtype
        if req.subresource:
            raise errors.method_not_allowed()
        options = req.body if isinstance(req.body, dict) else {}
        policy = req.query.get("propagationPolicy") or options.get("propagationPolicy")
        if options.get("orphanDependents") is True:
            policy = "Orphan"
        with self.store.lock:
            old = self._existing(rtype, req.namespace, req.name)
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
                raise errors.conflict(rtype, req.name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                                                       f"UID in object meta: {old['metadata']['uid']}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rtype, req.name, "Precondition failed: ResourceVersion in precondition: "
                                                       f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                                                       f"{old['metadata']['resourceVersion']}")
            return self._delete_one(rtype, old, policy or "Background", req.dry_run)

    def _delete_one(self, rtype, old, policy, dry_run):
        self.sim.controllers.admission.delete(rtype, old, dry_run)
        meta = old["metadata"]
        ns = meta.get("namespace")
        if rtype.key == ("", "namespaces") or meta.get("finalizers"):
            obj = clone(old)
            if not obj["metadata"].get("deletionTimestamp"):
                obj["metadata"]["deletionTimestamp"] = now_rfc3339()
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
                if rtype.key == ("", "namespaces"):
                    obj.setdefault("status", {})["phase"] = "Terminating"
                if dry_run:
                    return 200, self._present(rtype, obj)
                obj = self.store.put(rtype.key, obj)
                self.sim.controllers.drain()
            return (200 if rtype.key == ("", "namespaces") else 202), self._present(rtype, obj)
        if dry_run:
            return 200, self._deleted_answer(rtype, old)
        gone = self.store.remove(rtype.key, ns, meta["name"])
        self.sim.controllers.deleted(rtype, gone, policy)
        self.sim.controllers.drain()
        return 200, self._deleted_answer(rtype, gone)

    def _deleted_answer(self, rtype, obj):
        # Custom resources and pods answer with the object; other built-ins with a Success status.
        if rtype.crd or rtype.key == ("", "pods"):
            return self._present(rtype, obj)
        details = {"name": obj["metadata"]["name"], "kind": rtype.plural, "uid": obj["metadata"]["uid"]}
        if rtype.group:
            details["group"] = rtype.group
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def delete_collection(self, req):
        rtype = req.rtype
        if "deletecollection" not in rtype.verbs:
            raise errors.method_not_allowed()
        options = req.body if isinstance(req.body, dict) else {}
        policy = req.query.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
        with self.store.lock:
            listed = self.list(Request("list", rtype, req.namespace, query={
                k: v for k, v in req.query.items() if k in ("labelSelector", "fieldSelector")}))
            deleted = []
            for obj in listed["items"]:
                _, answer = self._delete_one(rtype, obj, policy, req.dry_run)
                deleted.append(obj if answer.get("kind") == "Status" else answer)
            listed["items"] = deleted
            return 200, listed

    # token requests -------------------------------------------------------------------------
    def _token_request(self, req):
        rtype = req.rtype
        if rtype.key != ("", "serviceaccounts"):
            raise errors.method_not_allowed()
        with self.store.lock:
            sa = self._existing(rtype, req.namespace, req.name)
        spec = (req.body or {}).get("spec") or {}
        seconds = int(spec.get("expirationSeconds") or 3600)
        token = self.sim.issue_token(f"system:serviceaccount:{req.namespace}:{req.name}", seconds,
                                     sa["metadata"]["uid"])
        expires = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds))
        return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": req.name, "namespace": req.namespace, "creationTimestamp": None},
                "spec": {"audiences": spec.get("audiences") or ["https://kubernetes.default.svc.cluster.local"],
                         "expirationSeconds": seconds, "boundObjectRef": spec.get("boundObjectRef")},
                "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}


def _keep_apply_times(old, obj):
    """An apply whose content is unchanged once admission has run (a Secret's stringData merged into data
    is the case) keeps the managedFields times it had, as the apiserver's no-op apply does: the apply merge
    saw stringData as new and stamped the time, which would otherwise make a re-apply a write."""
    def content(o):
        return dict(o, metadata={k: v for k, v in o["metadata"].items() if k not in ("managedFields", "resourceVersion")})
    if not merge.json_equal(content(old), content(obj)):
        return

    def identity(entry):
        return {k: v for k, v in entry.items() if k != "time"}
    times = [(identity(e), e.get("time")) for e in old["metadata"].get("managedFields") or []]
    for entry in obj["metadata"].get("managedFields") or []:
        for same, time in times:
            if same == identity(entry):
                entry["time"] = time
                break


def _spec_of(obj, rtype):
    """What a generation bump looks at: everything but metadata (and status when it is separate)."""
    skip = {"metadata", "apiVersion", "kind"}
    if "status" in rtype.subresources:
        skip.add("status")
    return {k: v for k, v in obj.items() if k not in skip}


def _ignored(rtype, subresource):
    """Top-level fields an endpoint resets: status on the main resource of a kind with /status."""
    if subresource is None and "status" in rtype.subresources:
        return ("status",)
    return ()


def _get_path(obj, path):
    cur = obj
    for part in path.strip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _set_path(obj, path, value):
    parts = path.strip(".").split(".")
    cur = obj
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value
