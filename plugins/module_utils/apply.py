# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""One apply phase of a role in one module run (meshops.istio.istio_apply): read what exists a kind at
a time, write only what would change, keep what another owner moves now, wait for what was applied.

A role used to spend a task (a new process, a new client, discovery) on each of these steps, and
kubernetes.core.k8s sends a PATCH for every object even when nothing changes (tests/integration/
test_kube_costs.py: 42 requests and 14 PATCHes for 14 converged objects, against 3 GETs here; state absent
on objects already gone: 3 GETs against its 14). Its ``create_definitions`` is not used for ``objects``: it
reads YAML without saying which document is wrong and takes no nested lists.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils.mesh_app import ensure_namespace
from ansible_collections.meshops.istio.plugins.module_utils.kube import (
    ApplyReport,
    KubeError,
    LiveObjects,
    describe,
    hide_secret_data,
    ready_rule,
)


class ObjectsError(ValueError):
    """The objects option cannot be applied as given; the message says which object and why."""


def _documents(value, where):
    """The YAML documents of a manifest string (empty documents dropped)."""
    import yaml  # only when a manifest comes as text

    try:
        return [doc for doc in yaml.safe_load_all(value) if doc is not None]
    except yaml.YAMLError as e:
        raise ObjectsError("%s is not valid YAML: %s" % (where, e)) from e


def load_objects(value):
    """The objects to apply, in order, from a list (of objects, manifests, or lists of them), one
    object, or a manifest string with several YAML documents. ``kind: List`` is unpacked."""
    out = []

    def add(item, where):
        if item is None:
            return
        if isinstance(item, str):
            for i, doc in enumerate(_documents(item, where)):
                add(doc, "%s, document %d" % (where, i + 1))
            return
        if isinstance(item, (list, tuple)):
            for i, sub in enumerate(item):
                add(sub, "%s[%d]" % (where, i))
            return
        if not isinstance(item, dict):
            raise ObjectsError("%s is a %s, not a Kubernetes object (a mapping with apiVersion, kind and metadata.name)."
                               % (where, type(item).__name__))
        if item.get("kind") == "List" and isinstance(item.get("items"), list):
            add(item["items"], where + ".items")
            return
        meta = item.get("metadata")
        missing = [field for field, ok in (("apiVersion", isinstance(item.get("apiVersion"), str) and item.get("apiVersion")),
                                           ("kind", isinstance(item.get("kind"), str) and item.get("kind")),
                                           ("metadata.name", isinstance(meta, dict) and isinstance(meta.get("name"), str)
                                            and meta.get("name"))) if not ok]
        if missing:
            raise ObjectsError("%s (%s) has no %s: every object needs apiVersion, kind and metadata.name."
                               % (where, describe(item.get("kind") or "object", (meta or {}).get("name")
                                                  if isinstance(meta, dict) else None), " or ".join(missing)))
        out.append(item)

    add(value, "objects")
    seen = {}
    for obj in out:
        meta = obj["metadata"]
        key = (obj["apiVersion"].rpartition("/")[0], obj["kind"], meta.get("namespace"), meta["name"])
        if key in seen:
            raise ObjectsError("%s is given twice; give every object once (the second would silently win)."
                               % describe(obj["kind"], meta["name"], meta.get("namespace")))
        seen[key] = True
    return out


def create_only_names(create_only):
    """{kind: set(names)} from the create_only option ({kind: [names]})."""
    return dict((kind, set(names or ())) for kind, names in (create_only or {}).items())


class ApplyRun:
    """Apply (or delete) ``objects`` on ``cluster`` and say what was done per object."""

    def __init__(self, cluster, objects, create_only=None, namespace=None):
        """``namespace``: (name, labels) of a namespace to create or label before the objects (labels map
        to a value, or None for "must not be there")."""
        self.cluster = cluster
        self.namespace = namespace
        self.namespace_action = None
        self.objects = objects
        self.create_only = create_only_names(create_only)
        self.report = ApplyReport()
        self.kept = []
        self.pending = []
        self.not_ready = []
        self.live = LiveObjects(cluster, objects)

    # -- present --------------------------------------------------------------------------------
    def present(self, wait=False, wait_timeout=300, wait_sleep=1.0):
        pending_namespaces = {}
        applied = []
        if self.namespace:
            self._ensure_namespace(pending_namespaces)
        for obj in self.objects:
            meta = obj["metadata"]
            namespace = meta.get("namespace")
            if self.cluster.check_mode and namespace in pending_namespaces:
                self._pending(obj, pending_namespaces[namespace])
                continue
            try:
                live = self.live.of(obj)
                if meta["name"] in self.create_only.get(obj["kind"], ()) and live is not None:
                    # Created when missing, then left to whoever moves it now (a release, the burst job).
                    self.kept.append(obj)
                    self.report.add(obj, "kept", live, live)
                    continue
                action, before, after = self.cluster.apply_one(obj, live=live, known_live=True)
            except KubeError as e:
                if not self.cluster.check_mode:
                    raise
                reason = self._why_not_dry_run(e, obj)
                if reason is None:
                    raise
                if e.status == 404 and namespace:
                    pending_namespaces[namespace] = reason
                self._pending(obj, reason)
                continue
            if not self.cluster.check_mode:
                self.live.update(obj, after)
            elif obj["kind"] == "Namespace" and action == "created":
                # Objects in it cannot be dry-run: the dry run did not store the namespace.
                pending_namespaces[meta["name"]] = "namespace %s would be created first" % meta["name"]
            self.report.add(obj, action, before, after)
            applied.append(obj)
        if wait and not self.cluster.check_mode:
            self.not_ready = self.cluster.wait_ready(applied, wait_timeout, sleep=wait_sleep, known=self.live)
            if self.not_ready:
                raise KubeError(not_ready_message(self.not_ready, wait_timeout), reason="NotReady")
        return self

    def _ensure_namespace(self, pending_namespaces):
        name, labels = self.namespace
        live = self.cluster.get("v1", "Namespace", name)
        action, after, _change = ensure_namespace(self.cluster, name, live, labels, {})
        self.namespace_action = action
        self.report.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, action, live, after)
        if self.cluster.check_mode and action == "created":
            pending_namespaces[name] = "namespace %s would be created first" % name

    @staticmethod
    def _why_not_dry_run(error, obj):
        """Why the API cannot dry-run ``obj`` in check mode, when it is because an earlier step of the
        same run was only dry-run; None for any other failure."""
        if error.reason in ("IstioNotInstalled", "NoSuchKind"):
            return "the API does not serve %s %s yet (its CRD would be created first)" % (obj["apiVersion"], obj["kind"])
        namespace = obj["metadata"].get("namespace")
        if error.status == 404 and namespace:
            return "namespace %s does not exist yet (it would be created first)" % namespace
        return None

    def _pending(self, obj, reason):
        meta = obj["metadata"]
        self.pending.append(dict(kind=obj["kind"], apiVersion=obj["apiVersion"], name=meta["name"],
                                 namespace=meta.get("namespace"), reason=reason))
        self.report.add(obj, "created", None, obj)

    # -- absent ---------------------------------------------------------------------------------
    def absent(self):
        """Delete the objects that exist, last first. What exists is read a kind at a time, so objects
        that are gone already cost no DELETE (a second run sends no write)."""
        for obj in reversed(self.objects):
            try:
                live = self.live.of(obj)
            except KubeError as e:
                if e.reason not in ("IstioNotInstalled", "NoSuchKind"):
                    raise
                live = None
            if live is None:
                self.report.add(obj, "absent", None, None)
            else:
                self.cluster.delete_objects([obj], self.report)
        return self

    # -- result ---------------------------------------------------------------------------------
    def result(self, diff=False):
        kept = ["%s/%s" % (obj["kind"], obj["metadata"]["name"]) for obj in self.kept]
        out = dict(changed=self.report.changed, results=self.report.results, kept=kept, pending=self.pending)
        if diff and self.report.changed:
            out["diff"] = self.report.diff
        return out


def _state(live):
    status = (live or {}).get("status") or {}
    if live is None:
        return "missing"
    if "availableReplicas" in status or "replicas" in status:
        wanted = (live.get("spec") or {}).get("replicas", status.get("replicas"))
        return "%s of %s replicas available" % (status.get("availableReplicas", 0), wanted)
    if "desiredNumberScheduled" in status:
        return "%s of %s pods ready" % (status.get("numberReady", 0), status.get("desiredNumberScheduled"))
    conditions = ", ".join("%s=%s" % (c.get("type"), c.get("status")) for c in status.get("conditions") or [])
    return "conditions: %s" % (conditions or "none yet")


def not_ready_message(not_ready, timeout):
    parts = ["%s (%s)" % (describe(obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace")), _state(live))
             for obj, live in not_ready]
    return ("Not ready after %s s: %s. Look at their events and pods (kubectl describe), or raise the wait timeout "
            "if the cluster is slow." % (timeout, "; ".join(parts)))


def hidden_objects(objects):
    """The objects as they may appear in output: Secrets without their values."""
    return [hide_secret_data(obj) if isinstance(obj, dict) else obj for obj in objects]


__all__ = ["ApplyRun", "ObjectsError", "load_objects", "hidden_objects", "not_ready_message", "ready_rule"]
