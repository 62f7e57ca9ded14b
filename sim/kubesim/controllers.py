"""In-process controllers: what kube-controller-manager and the kubelet would do, just enough
for waits to mean something.

Store events are queued and processed by `drain()`, which the API calls after each write (still
holding the store lock), so with no delay a Deployment is Available by the time the next request
arrives. With `available_delay`, pods turn Ready that many seconds after they are created
(a timer re-runs the reconcile), and LoadBalancer Services get their ingress IP after the delay.
"""
import base64
import collections
import hashlib
import json
import time

from . import errors
from .admission import Admission
from .selectors import match_label_selector_object
from .store import clone

_SAFE = "bcdfghjklmnpqrstvwxz2456789"
NODE_NAME = "kubesim-node"
NODE_IP = "10.0.0.10"

DEPLOYMENTS = ("apps", "deployments")
REPLICASETS = ("apps", "replicasets")
STATEFULSETS = ("apps", "statefulsets")
DAEMONSETS = ("apps", "daemonsets")
JOBS = ("batch", "jobs")
PODS = ("", "pods")
SERVICES = ("", "services")
ENDPOINTS = ("", "endpoints")
NAMESPACES = ("", "namespaces")
SECRETS = ("", "secrets")
SERVICEACCOUNTS = ("", "serviceaccounts")
CONFIGMAPS = ("", "configmaps")
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
PVCS = ("", "persistentvolumeclaims")
NODES = ("", "nodes")
ENDPOINTSLICES = ("discovery.k8s.io", "endpointslices")
MWCS = ("admissionregistration.k8s.io", "mutatingwebhookconfigurations")
VWCS = ("admissionregistration.k8s.io", "validatingwebhookconfigurations")


def safe_encode(number, length=10):
    out = []
    for _ in range(length):
        out.append(_SAFE[number % len(_SAFE)])
        number //= len(_SAFE)
    return "".join(out)


def template_hash(template):
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return safe_encode(int.from_bytes(digest[:8], "big"), 10)


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _owned_by(obj, uid):
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def _owner_ref(owner, controller=True):
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": controller, "blockOwnerDeletion": True}


def _int_or_percent(value, total, round_up):
    if isinstance(value, str) and value.endswith("%"):
        scaled = int(value[:-1]) * total / 100
        return int(-(-scaled // 1)) if round_up else int(scaled)
    return int(value or 0)


def _condition(conditions, ctype, status, reason, message):
    """Replace a condition, keeping its timestamps when nothing about it changed."""
    now = _now()
    for cond in conditions:
        if cond["type"] == ctype:
            if (cond["status"], cond.get("reason"), cond.get("message")) != (status, reason, message):
                if cond["status"] != status:
                    cond["lastTransitionTime"] = now
                cond.update(status=status, reason=reason, message=message)
                if "lastUpdateTime" in cond:
                    cond["lastUpdateTime"] = now
            return
    conditions.append({"type": ctype, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
                       "reason": reason, "message": message})


class Controllers:
    def __init__(self, sim):
        self.sim = sim
        self.store = sim.store
        self.registry = sim.registry
        self.admission = Admission(sim)
        self._queue = collections.deque()
        self._draining = False
        self._ready_at = {}          # pod uid -> monotonic time it turns ready
        self._create_errors = {}     # (owner key, namespace, name) -> why its last pod create was refused
        self.store.add_listener(self._queue.append)

    # plumbing -------------------------------------------------------------------------------
    def admit(self, operation, rtype, obj, old, dry_run=False):
        self.admission.admit(operation, rtype, obj, old, dry_run)

    def validate(self, operation, rtype, obj, old, dry_run=False, subresource=None):
        self.admission.validate(operation, rtype, obj, old, dry_run, subresource)

    def drain(self):
        """Run controllers until nothing is left to react to (caller holds the store lock)."""
        if self._draining:
            return
        self._draining = True
        try:
            while self._queue:
                event = self._queue.popleft()
                handler = _HANDLERS.get(event.key)
                if handler:
                    try:
                        handler(self, event)
                    except errors.ApiError:
                        # A controller's write refused by admission fails the controller, never the
                        # request that woke it; pod creates are retried (see _new_pod).
                        continue
        finally:
            self._draining = False

    def _later(self, delay, fn):
        def run():
            with self.store.lock:
                if self.sim.stopped:
                    return
                fn()
                self.drain()
        self.sim.schedule(delay, run)

    def _put(self, key, obj):
        return self.store.put(key, obj)

    def _create(self, key, obj):
        rtype = self._type(key)
        obj.setdefault("apiVersion", rtype.api_version)
        obj.setdefault("kind", rtype.kind)
        meta = obj["metadata"]
        meta.setdefault("uid", self.sim.new_uid())
        meta.setdefault("creationTimestamp", _now())
        if rtype.generation:
            meta.setdefault("generation", 1)
        self.admission.admit("CREATE", rtype, obj, None)
        self.admission.validate("CREATE", rtype, obj, None)
        return self.store.put(key, obj)

    def _type(self, key):
        return next(t for t in self.registry.all() if t.key == key)

    def _remove(self, key, obj, policy="Background"):
        meta = obj["metadata"]
        gone = self.store.remove(key, meta.get("namespace"), meta["name"])
        if gone is not None:
            self.collect(gone, policy)
        return gone

    def _set_status(self, key, obj, status):
        if obj.get("status") != status:
            obj["status"] = status
            return self._put(key, obj)
        return obj

    # garbage collection ---------------------------------------------------------------------
    def deleted(self, rtype, obj, policy):
        """An API delete removed obj: collect its dependents per the propagation policy."""
        self.collect(obj, policy)

    def collect(self, owner, policy="Background"):
        uid = owner["metadata"]["uid"]
        ns = owner["metadata"].get("namespace")
        for key in self.store.kinds():
            for obj in self.store.list(key, ns, where=lambda o: _owned_by(o, uid)):
                if policy == "Orphan":
                    obj["metadata"]["ownerReferences"] = [r for r in obj["metadata"]["ownerReferences"]
                                                          if r.get("uid") != uid]
                    if not obj["metadata"]["ownerReferences"]:
                        del obj["metadata"]["ownerReferences"]
                    self._put(key, obj)
                else:
                    self._remove(key, obj)

    # CRDs -----------------------------------------------------------------------------------
    def _crd(self, event):
        name = event.obj["metadata"]["name"]
        if event.type == "DELETED":
            removed = self.registry.remove_crd(name)
            for key in {t.key for t in removed}:
                for obj in self.store.scan(key):
                    self.store.remove(key, obj["metadata"].get("namespace"), obj["metadata"]["name"])
            return
        crd = clone(event.obj)
        spec = crd.get("spec") or {}
        names = dict(spec.get("names") or {})
        names.setdefault("singular", names.get("kind", "").lower())
        names.setdefault("listKind", names.get("kind", "") + "List")
        old_types = self.registry.crd_types(name)
        self.registry.set_crd(crd)
        if old_types and {t.key for t in old_types} != {t.key for t in self.registry.crd_types(name)}:
            pass  # a CRD cannot change group/plural (the name is plural.group), nothing to move
        status = clone(crd.get("status") or {})
        conditions = status.setdefault("conditions", [])
        _condition(conditions, "NamesAccepted", "True", "NoConflicts", "no conflicts found")
        _condition(conditions, "Established", "True", "InitialNamesAccepted", "the initial names have been accepted")
        for cond in conditions:
            cond.pop("lastUpdateTime", None)
        status["acceptedNames"] = names
        stored = list(status.get("storedVersions") or [])
        for version in spec.get("versions") or []:
            if version.get("storage") and version["name"] not in stored:
                stored.append(version["name"])
        status["storedVersions"] = stored
        self._set_status(CRDS, crd, status)

    # namespaces -----------------------------------------------------------------------------
    def _namespace(self, event):
        ns = event.obj
        name = ns["metadata"]["name"]
        if event.type == "ADDED":
            if self.store.peek(SERVICEACCOUNTS, name, "default") is None:
                self._create(SERVICEACCOUNTS, {"metadata": {"name": "default", "namespace": name}})
            if self.store.peek(CONFIGMAPS, name, "kube-root-ca.crt") is None:
                self._create(CONFIGMAPS, {"metadata": {"name": "kube-root-ca.crt", "namespace": name,
                                                       "annotations": {"kubernetes.io/description": (
                                                           "Contains a CA bundle that can be used to verify the "
                                                           "kube-apiserver when using internal endpoints such as "
                                                           "the internal service IP or kubernetes.default.svc. No "
                                                           "other usage is guaranteed across distributions of "
                                                           "Kubernetes clusters.")}},
                                          "data": {"ca.crt": self.sim.ca_pem}})
        if event.type == "MODIFIED" and (ns["metadata"].get("labels") != ((event.old or {}).get("metadata") or {})
                                         .get("labels")):
            self._retry_failed_creates()    # webhook namespaceSelectors may now match differently
        if event.type == "DELETED" or not ns["metadata"].get("deletionTimestamp"):
            return
        for key in self.store.kinds():
            if key == NAMESPACES:
                continue
            for obj in self.store.scan(key, name):
                self.store.remove(key, name, obj["metadata"]["name"])
        current = self.store.get(NAMESPACES, None, name)
        if current is None:
            return
        before = list(current.setdefault("spec", {}).get("finalizers") or [])
        current["spec"]["finalizers"] = [f for f in before if f != "kubernetes"]
        if current["spec"]["finalizers"] or current["metadata"].get("finalizers"):
            if current["spec"]["finalizers"] != before:
                self._put(NAMESPACES, current)
        else:
            self.store.remove(NAMESPACES, None, name)

    # deployments ----------------------------------------------------------------------------
    def _deployment(self, event):
        if event.type == "DELETED":
            return
        self.reconcile_deployment(event.obj["metadata"]["namespace"], event.obj["metadata"]["name"])

    def reconcile_deployment(self, namespace, name):
        dep = self.store.get(DEPLOYMENTS, namespace, name)
        if dep is None or dep["metadata"].get("deletionTimestamp"):
            return
        spec = dep.get("spec") or {}
        desired = spec.get("replicas", 1)
        template = spec.get("template") or {}
        phash = template_hash(template)
        uid = dep["metadata"]["uid"]
        owned = self.store.list(REPLICASETS, namespace, where=lambda rs: _owned_by(rs, uid))
        new_rs = next((rs for rs in owned if rs["metadata"].get("labels", {}).get("pod-template-hash") == phash), None)
        revisions = [int(rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0))
                     for rs in owned]
        if new_rs is None:
            revision = max(revisions, default=0) + 1
            tmpl = clone(template)
            tmpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = phash
            selector = clone(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = phash
            new_rs = self._create(REPLICASETS, {
                "metadata": {"name": f"{name}-{phash}", "namespace": namespace,
                             "labels": dict(tmpl["metadata"]["labels"]),
                             "annotations": {"deployment.kubernetes.io/desired-replicas": str(desired),
                                             "deployment.kubernetes.io/max-replicas": str(desired),
                                             "deployment.kubernetes.io/revision": str(revision)},
                             "ownerReferences": [_owner_ref(dep)]},
                "spec": {"replicas": desired, "selector": selector, "template": tmpl,
                         "minReadySeconds": spec.get("minReadySeconds", 0)}})
            owned.append(new_rs)
        elif new_rs["spec"].get("replicas") != desired:
            new_rs["spec"]["replicas"] = desired
            new_rs["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/desired-replicas"] = str(desired)
            new_rs["metadata"]["generation"] = new_rs["metadata"].get("generation", 1) + 1
            new_rs = self._put(REPLICASETS, new_rs)
        revision = new_rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", "1")
        if dep["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision") != revision:
            dep["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = revision
            dep = self._put(DEPLOYMENTS, dep)
        new_ready = (new_rs.get("status") or {}).get("readyReplicas", 0)
        # Old ReplicaSets go away once the new one is fully ready: a rollout in one step.
        if new_ready >= desired:
            for rs in owned:
                if rs["metadata"]["name"] != new_rs["metadata"]["name"] and rs["spec"].get("replicas", 0) != 0:
                    rs["spec"]["replicas"] = 0
                    self._put(REPLICASETS, rs)
        self._deployment_status(namespace, name)

    def _deployment_status(self, namespace, name):
        dep = self.store.get(DEPLOYMENTS, namespace, name)
        if dep is None:
            return
        spec = dep.get("spec") or {}
        desired = spec.get("replicas", 1)
        phash = template_hash(spec.get("template") or {})
        uid = dep["metadata"]["uid"]
        owned = [rs for rs in self.store.scan(REPLICASETS, namespace) if _owned_by(rs, uid)]
        rs_uids = {rs["metadata"]["uid"] for rs in owned}
        failure = next((c for rs in owned for c in (rs.get("status") or {}).get("conditions") or []
                        if c.get("type") == "ReplicaFailure"), None)
        pods = self.store.list(PODS, namespace, where=lambda p: not p["metadata"].get("deletionTimestamp") and any(
            ref.get("uid") in rs_uids for ref in p["metadata"].get("ownerReferences") or []))
        ready = [p for p in pods if _pod_ready(p)]
        updated = [p for p in pods if p["metadata"].get("labels", {}).get("pod-template-hash") == phash]
        new_rs_name = f"{name}-{phash}"
        status = clone(dep.get("status") or {})
        status["observedGeneration"] = dep["metadata"].get("generation", 1)
        # Every count is omitempty in DeploymentStatus: a scaled-to-zero Deployment shows none of them
        # (kubernetes.core's readiness check relies on replicas and availableReplicas both missing).
        for field, value in (("replicas", len(pods)), ("updatedReplicas", len(updated)),
                             ("readyReplicas", len(ready)), ("availableReplicas", len(ready)),
                             ("unavailableReplicas", max(desired - len(ready), 0))):
            if value:
                status[field] = value
            else:
                status.pop(field, None)
        strategy = spec.get("strategy") or {}
        max_unavailable = 0
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            max_unavailable = _int_or_percent((strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%"),
                                              desired, False)
        conditions = status.setdefault("conditions", [])
        if len(ready) >= desired - max_unavailable:
            _condition(conditions, "Available", "True", "MinimumReplicasAvailable",
                       "Deployment has minimum availability.")
        else:
            _condition(conditions, "Available", "False", "MinimumReplicasUnavailable",
                       "Deployment does not have minimum availability.")
        complete = len(updated) == desired and len(pods) == desired and len(ready) >= desired
        if complete:
            _condition(conditions, "Progressing", "True", "NewReplicaSetAvailable",
                       f'ReplicaSet "{new_rs_name}" has successfully progressed.')
        else:
            _condition(conditions, "Progressing", "True", "ReplicaSetUpdated",
                       f'ReplicaSet "{new_rs_name}" is progressing.')
        if failure:
            _condition(conditions, "ReplicaFailure", "True", "FailedCreate", failure.get("message"))
        else:
            conditions[:] = [c for c in conditions if c["type"] != "ReplicaFailure"]
        conditions.sort(key=lambda c: ["Available", "Progressing"].index(c["type"])
                        if c["type"] in ("Available", "Progressing") else 9)
        self._set_status(DEPLOYMENTS, dep, status)

    # replica sets, stateful sets, daemon sets -----------------------------------------------
    def _replicaset(self, event):
        if event.type == "DELETED":
            return
        rs = event.obj
        ns, name = rs["metadata"]["namespace"], rs["metadata"]["name"]
        if event.type == "ADDED" or _spec_changed(event):
            self._scale_pods(REPLICASETS, ns, name)
        self._owner_status(REPLICASETS, ns, name)

    def _pods_of(self, owner):
        uid = owner["metadata"]["uid"]
        return self.store.list(PODS, owner["metadata"]["namespace"],
                               where=lambda p: _owned_by(p, uid) and not p["metadata"].get("deletionTimestamp"))

    def _scale_pods(self, key, namespace, name):
        owner = self.store.get(key, namespace, name)
        if owner is None or owner["metadata"].get("deletionTimestamp"):
            return
        spec = owner.get("spec") or {}
        pods = self._pods_of(owner)
        template = spec.get("template") or {}
        if key == DAEMONSETS:
            self._scale_daemon_pods(owner, template, pods)
            return
        desired = spec.get("replicas", 1)
        if key == STATEFULSETS:
            current = template_hash(template)
            wanted = {f"{name}-{i}" for i in range(desired)}
            for pod in pods:
                stale = pod["metadata"].get("labels", {}).get("controller-revision-hash") != f"{name}-{current}"
                if pod["metadata"]["name"] not in wanted or stale:
                    self._remove(PODS, pod)
            have = {p["metadata"]["name"] for p in self._pods_of(owner)}
            for i in range(desired):
                if f"{name}-{i}" not in have:
                    extra = {"controller-revision-hash": f"{name}-{current}",
                             "statefulset.kubernetes.io/pod-name": f"{name}-{i}",
                             "apps.kubernetes.io/pod-index": str(i)}
                    self._new_pod(owner, template, f"{name}-{i}", extra)
            return
        if len(pods) > desired:
            pods.sort(key=lambda p: p["metadata"]["creationTimestamp"], reverse=True)
            for pod in pods[:len(pods) - desired]:
                self._remove(PODS, pod)
        for _ in range(desired - len(pods)):
            if self._new_pod(owner, template, f"{name}-{self.sim.random_suffix()}", {}) is None:
                break

    def _scale_daemon_pods(self, owner, template, pods):
        """One pod per node that the template's nodeSelector and required node affinity select."""
        name = owner["metadata"]["name"]
        nodes = {n["metadata"]["name"] for n in self._eligible_nodes(template.get("spec") or {}, daemon=True)}
        current = template_hash(template)
        placed = set()
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if (pod["metadata"].get("labels", {}).get("controller-revision-hash") != current or node not in nodes
                    or node in placed):
                self._remove(PODS, pod)
            else:
                placed.add(node)
        for node in sorted(nodes - placed):
            if self._new_pod(owner, template, f"{name}-{self.sim.random_suffix()}",
                             {"controller-revision-hash": current}, node) is None:
                break

    # scheduling -----------------------------------------------------------------------------
    def _eligible_nodes(self, pod_spec, daemon=False):
        """Nodes a pod may run on: nodeSelector, required node affinity; the scheduler also skips nodes that
        are cordoned or not Ready (a DaemonSet's pods tolerate both)."""
        found = []
        for node in self.store.scan(NODES):
            labels = node["metadata"].get("labels") or {}
            if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
                continue
            required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                        .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
            terms = required.get("nodeSelectorTerms")
            if terms and not any(_node_term_matches(term, node) for term in terms):
                continue
            if not daemon and ((node.get("spec") or {}).get("unschedulable") or not _node_ready(node)):
                continue
            found.append(node)
        return found

    def _schedule(self, pod):
        """The scheduler: bind a pod without spec.nodeName to the eligible node running the fewest pods."""
        nodes = self._eligible_nodes(pod.get("spec") or {})
        if not nodes:
            total = len(list(self.store.scan(NODES)))
            status = clone(pod.get("status") or {})
            status["phase"] = "Pending"
            status["conditions"] = [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastProbeTime": None,
                "lastTransitionTime": _now(),
                "message": f"0/{total} nodes are available: {total} node(s) didn't match Pod's node "
                           f"affinity/selector." if total else "no nodes available to schedule pods"}]
            self._set_status(PODS, pod, status)
            return
        load = collections.Counter((p.get("spec") or {}).get("nodeName") for p in self.store.scan(PODS))
        node = min(nodes, key=lambda n: (load[n["metadata"]["name"]], n["metadata"]["name"]))
        pod["spec"]["nodeName"] = node["metadata"]["name"]
        self._put(PODS, pod)

    def _node_ip(self, node_name):
        node = self.store.peek(NODES, None, node_name) or {}
        for address in (node.get("status") or {}).get("addresses") or []:
            if address.get("type") == "InternalIP":
                return address["address"]
        return NODE_IP

    def _node(self, event):
        """Nodes come and go or change labels: DaemonSets follow, pending pods get another chance."""
        for ds in list(self.store.scan(DAEMONSETS)):
            ns, name = ds["metadata"]["namespace"], ds["metadata"]["name"]
            self._scale_pods(DAEMONSETS, ns, name)
            self._owner_status(DAEMONSETS, ns, name)
        if event.type != "DELETED":
            for pod in self.store.list(PODS, None, where=lambda p: not (p.get("spec") or {}).get("nodeName")):
                self._schedule(pod)

    # pod creation by controllers ------------------------------------------------------------
    def _new_pod(self, owner, template, pod_name, extra_labels, node_name=None):
        tmpl = clone(template)
        meta = tmpl.get("metadata") or {}
        labels = dict(meta.get("labels") or {})
        labels.update(extra_labels)
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": pod_name, "namespace": owner["metadata"]["namespace"], "labels": labels,
                            "ownerReferences": [_owner_ref(owner)]},
               "spec": tmpl.get("spec") or {}}
        if owner["kind"] != "StatefulSet":
            pod["metadata"]["generateName"] = owner["metadata"]["name"] + "-"
        if meta.get("annotations"):
            pod["metadata"]["annotations"] = dict(meta["annotations"])
        if node_name:
            pod["spec"]["nodeName"] = node_name
        ref = (_KEY_OF_KIND[owner["kind"]], owner["metadata"]["namespace"], owner["metadata"]["name"])
        try:
            created = self._create(PODS, pod)
        except errors.ApiError as exc:
            # Refused by admission (a missing ServiceAccount, an unreachable webhook): the controller
            # records FailedCreate and tries again when something that could change the answer changes.
            self._create_errors[ref] = f"{exc.message}"
            return None
        self._create_errors.pop(ref, None)
        return created

    def _retry_failed_creates(self):
        for key, namespace, name in list(self._create_errors):
            if self.store.peek(key, namespace, name) is None:
                self._create_errors.pop((key, namespace, name), None)
            elif key == JOBS:
                self._sync_job(namespace, name)
            else:
                self._scale_pods(key, namespace, name)
                self._owner_status(key, namespace, name)

    def _owner_status(self, key, namespace, name):
        owner = self.store.get(key, namespace, name)
        if owner is None:
            return
        pods = self._pods_of(owner)
        ready = sum(1 for p in pods if _pod_ready(p))
        gen = owner["metadata"].get("generation", 1)
        status = clone(owner.get("status") or {})
        if key == DAEMONSETS:
            desired = len(self._eligible_nodes(((owner.get("spec") or {}).get("template") or {}).get("spec") or {},
                                               daemon=True))
            status.update(desiredNumberScheduled=desired, currentNumberScheduled=len(pods), numberMisscheduled=0,
                          numberReady=ready, updatedNumberScheduled=len(pods), numberAvailable=ready,
                          observedGeneration=gen)
            if ready < desired:
                status["numberUnavailable"] = desired - ready
            else:
                status.pop("numberUnavailable", None)
        else:
            status.update(replicas=len(pods), observedGeneration=gen)
            for field, value in (("readyReplicas", ready), ("availableReplicas", ready)):
                if value:
                    status[field] = value
                else:
                    status.pop(field, None)
            if key == REPLICASETS:
                status["fullyLabeledReplicas"] = len(pods)
                if not pods:
                    status.pop("fullyLabeledReplicas")
                failure = self._create_errors.get((key, namespace, name))
                previous = next((c for c in status.get("conditions") or [] if c["type"] == "ReplicaFailure"), {})
                conditions = [c for c in status.get("conditions") or [] if c["type"] != "ReplicaFailure"]
                if failure:
                    conditions.append({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                       "message": failure,
                                       "lastTransitionTime": previous.get("lastTransitionTime") or _now()})
                if conditions:
                    status["conditions"] = conditions
                else:
                    status.pop("conditions", None)
            if key == STATEFULSETS:
                revision = f"{name}-{template_hash((owner.get('spec') or {}).get('template') or {})}"
                status.update(currentReplicas=len(pods), updatedReplicas=len(pods), currentRevision=revision,
                              updateRevision=revision, collisionCount=0)
        self._set_status(key, owner, status)
        if key == REPLICASETS:
            for ref in owner["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "Deployment":
                    self.reconcile_deployment(namespace, ref["name"])

    def _workload(self, key):
        def handle(self, event):
            if event.type == "DELETED":
                return
            ns, name = event.obj["metadata"]["namespace"], event.obj["metadata"]["name"]
            if event.type == "ADDED" or _spec_changed(event):
                self._scale_pods(key, ns, name)
            self._owner_status(key, ns, name)
        return handle

    # pods (the kubelet) ---------------------------------------------------------------------
    def _pod(self, event):
        pod = event.obj
        meta = pod["metadata"]
        if event.type == "DELETED":
            self._ready_at.pop(meta["uid"], None)
        elif not (pod.get("spec") or {}).get("nodeName"):
            current = self.store.get(PODS, meta["namespace"], meta["name"])
            if event.type == "ADDED" and current is not None:
                self._schedule(current)
        else:
            self._kubelet(pod)
        for ref in meta.get("ownerReferences") or []:
            key = _KEY_OF_KIND.get(ref.get("kind"))
            if key is None:
                continue
            if key == JOBS:
                self._sync_job(meta["namespace"], ref["name"])
                continue
            if event.type == "DELETED":
                self._scale_pods(key, meta["namespace"], ref["name"])
            self._owner_status(key, meta["namespace"], ref["name"])
        if event.type == "ADDED" or event.type == "DELETED" or _pod_ready(pod) != _pod_ready(event.old or {}):
            self._endpoints_for_namespace(meta["namespace"])

    def _kubelet(self, pod):
        meta = pod["metadata"]
        uid = meta["uid"]
        if meta.get("deletionTimestamp"):
            return
        if uid not in self._ready_at:
            self._ready_at[uid] = time.monotonic() + self.sim.available_delay
        remaining = self._ready_at[uid] - time.monotonic()
        status = clone(pod.get("status") or {})
        containers = (pod.get("spec") or {}).get("containers") or []
        node_ip = self._node_ip(pod["spec"]["nodeName"])
        if remaining > 0:
            if status.get("phase") == "Pending" and status.get("containerStatuses"):
                pass
            else:
                status.update(phase="Pending", hostIP=node_ip, hostIPs=[{"ip": node_ip}], startTime=_now(),
                              conditions=[{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                           "lastTransitionTime": _now()}],
                              containerStatuses=[{"name": c.get("name"), "image": c.get("image", ""),
                                                  "imageID": "", "ready": False, "restartCount": 0,
                                                  "started": False,
                                                  "state": {"waiting": {"reason": "ContainerCreating"}}}
                                                 for c in containers])
                status.setdefault("qosClass", "BestEffort")
                self._set_status(PODS, pod, status)
            uid_copy = uid
            self._later(remaining, lambda: self._pod_timer(meta["namespace"], meta["name"], uid_copy))
            return
        if _pod_ready(pod) or status.get("phase") in ("Succeeded", "Failed"):
            return
        now = _now()
        ip = self.sim.allocate_pod_ip(uid)
        if any(ref.get("kind") == "Job" for ref in meta.get("ownerReferences") or []):
            self._pod_completed(pod, status, ip, node_ip, now)
            return
        status.update(
            phase="Running", hostIP=node_ip, hostIPs=[{"ip": node_ip}], podIP=ip, podIPs=[{"ip": ip}],
            startTime=status.get("startTime", now), qosClass=status.get("qosClass", "BestEffort"),
            conditions=[{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                        for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                  "PodScheduled")],
            containerStatuses=[{"name": c.get("name"), "image": c.get("image", ""),
                                "imageID": f"{c.get('image', '')}@sha256:{'0' * 64}",
                                "containerID": f"containerd://{hashlib.sha256((uid + c.get('name', '')).encode()).hexdigest()}",
                                "ready": True, "restartCount": 0, "started": True,
                                "state": {"running": {"startedAt": now}}} for c in containers])
        self._set_status(PODS, pod, status)

    def _pod_completed(self, pod, status, ip, node_ip, now):
        """A Job's pod: its containers run to completion (exit 0) once the delay has passed."""
        status.update(
            phase="Succeeded", hostIP=node_ip, hostIPs=[{"ip": node_ip}], podIP=ip, podIPs=[{"ip": ip}],
            startTime=status.get("startTime", now), qosClass=status.get("qosClass", "BestEffort"),
            conditions=[{"type": t, "status": v, "lastProbeTime": None, "lastTransitionTime": now,
                         **({"reason": "PodCompleted"} if t != "PodScheduled" else {})}
                        for t, v in (("PodReadyToStartContainers", "False"), ("Initialized", "True"),
                                     ("Ready", "False"), ("ContainersReady", "False"), ("PodScheduled", "True"))],
            containerStatuses=[{"name": c.get("name"), "image": c.get("image", ""),
                                "imageID": f"{c.get('image', '')}@sha256:{'0' * 64}",
                                "containerID": "containerd://" + hashlib.sha256(
                                    (pod["metadata"]["uid"] + c.get("name", "")).encode()).hexdigest(),
                                "ready": False, "restartCount": 0, "started": False,
                                "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now,
                                                         "finishedAt": now}}}
                               for c in (pod.get("spec") or {}).get("containers") or []])
        self._set_status(PODS, pod, status)

    def _pod_timer(self, namespace, name, uid):
        pod = self.store.get(PODS, namespace, name)
        if pod is not None and pod["metadata"]["uid"] == uid:
            self._kubelet(pod)

    # services and endpoints -----------------------------------------------------------------
    def _service(self, event):
        svc = event.obj
        ns = svc["metadata"]["namespace"]
        if event.type == "DELETED":
            self.store.remove(ENDPOINTS, ns, svc["metadata"]["name"])
            return
        if (svc.get("spec") or {}).get("type") == "LoadBalancer" and not (
                (svc.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
            name, uid = svc["metadata"]["name"], svc["metadata"]["uid"]
            if self.sim.available_delay > 0:
                self._later(self.sim.available_delay, lambda: self._assign_lb(ns, name, uid))
            else:
                self._assign_lb(ns, name, uid)
        self._endpoints(svc)

    def _assign_lb(self, namespace, name, uid):
        svc = self.store.get(SERVICES, namespace, name)
        if svc is None or svc["metadata"]["uid"] != uid or (svc.get("spec") or {}).get("type") != "LoadBalancer":
            return
        status = clone(svc.get("status") or {})
        status["loadBalancer"] = {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}
        self._set_status(SERVICES, svc, status)

    def _endpoints_for_namespace(self, namespace):
        for svc in self.store.list(SERVICES, namespace, where=lambda s: (s.get("spec") or {}).get("selector")):
            self._endpoints(svc)

    def _endpoints(self, svc):
        spec = svc.get("spec") or {}
        selector = spec.get("selector")
        if not selector:
            return
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        ready, not_ready = [], []
        pods = self.store.list(PODS, ns, where=lambda p: (p.get("status") or {}).get("podIP") and all(
            (p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items()))
        for pod in pods:
            address = {"ip": pod["status"]["podIP"], "nodeName": pod["spec"].get("nodeName", NODE_NAME),
                       "targetRef": {"kind": "Pod", "namespace": ns, "name": pod["metadata"]["name"],
                                     "uid": pod["metadata"]["uid"]}}
            (ready if _pod_ready(pod) else not_ready).append(address)
        ports = []
        for port in spec.get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            if isinstance(target, str):
                target = _named_port(pods, target) or port.get("port")
            entry = {"port": target, "protocol": port.get("protocol", "TCP")}
            if port.get("name"):
                entry["name"] = port["name"]
            if port.get("appProtocol"):
                entry["appProtocol"] = port["appProtocol"]
            ports.append(entry)
        subsets = []
        if ready or not_ready:
            subset = {"ports": ports}
            if ready:
                subset["addresses"] = sorted(ready, key=lambda a: a["ip"])
            if not_ready:
                subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["ip"])
            subsets.append(subset)
        self._endpoint_slice(svc, ready, not_ready, ports)
        current = self.store.get(ENDPOINTS, ns, name)
        if current is None:
            body = {"metadata": {"name": name, "namespace": ns, "labels": dict(svc["metadata"].get("labels") or {})}}
            if subsets:
                body["subsets"] = subsets
            self._create(ENDPOINTS, body)
            self._retry_failed_creates()
        elif current.get("subsets", []) != subsets:
            if subsets:
                current["subsets"] = subsets
            else:
                current.pop("subsets", None)
            self._put(ENDPOINTS, current)
            # A webhook's Service may have become reachable: refused pod creates get another try.
            self._retry_failed_creates()

    def _endpoint_slice(self, svc, ready, not_ready, ports):
        """The EndpointSlice (discovery.k8s.io/v1) the endpointslice controller keeps beside Endpoints."""
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        endpoints = [{"addresses": [a["ip"]], "conditions": {"ready": ok, "serving": ok, "terminating": False},
                      "nodeName": a["nodeName"], "targetRef": a["targetRef"]}
                     for ok, group in ((True, ready), (False, not_ready)) for a in sorted(group, key=lambda a: a["ip"])]
        slice_ports = [{"name": p.get("name", ""), "port": p["port"], "protocol": p["protocol"],
                        **({"appProtocol": p["appProtocol"]} if p.get("appProtocol") else {})} for p in ports]
        current = next((e for e in self.store.list(ENDPOINTSLICES, ns) if _owned_by(e, svc["metadata"]["uid"])), None)
        if current is None:
            labels = dict(svc["metadata"].get("labels") or {})
            labels.update({"kubernetes.io/service-name": name,
                           "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"})
            body = {"metadata": {"name": f"{name}-{self.sim.random_suffix()}", "generateName": f"{name}-",
                                 "namespace": ns, "labels": labels,
                                 "ownerReferences": [_owner_ref(dict(svc, apiVersion="v1", kind="Service"))]},
                    "addressType": "IPv4", "endpoints": endpoints, "ports": slice_ports}
            self._create(ENDPOINTSLICES, body)
        elif (current.get("endpoints") or [], current.get("ports") or []) != (endpoints, slice_ports):
            current["endpoints"], current["ports"] = endpoints, slice_ports
            self._put(ENDPOINTSLICES, current)

    # jobs -----------------------------------------------------------------------------------
    def _job(self, event):
        if event.type == "DELETED":
            return
        self._sync_job(event.obj["metadata"]["namespace"], event.obj["metadata"]["name"])

    def _sync_job(self, namespace, name):
        """The job controller: up to `parallelism` pods at a time until `completions` have succeeded."""
        job = self.store.get(JOBS, namespace, name)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        status = clone(job.get("status") or {})
        if status.get("completionTime"):
            return
        spec = job.get("spec") or {}
        completions = spec.get("completions", 1)
        pods = self._pods_of(job)
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        active = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        if not spec.get("suspend") and succeeded < completions:
            wanted = min(spec.get("parallelism", 1), completions - succeeded) - len(active)
            for _ in range(max(wanted, 0)):
                pod = self._new_pod(job, spec.get("template") or {}, f"{name}-{self.sim.random_suffix()}", {})
                if pod is None:
                    break
                active.append(pod)
            # Pods that completed at once (no delay) are counted by the event their status change queued.
        now = _now()
        status.setdefault("startTime", now)
        status.update(ready=sum(1 for p in active if _pod_ready(p)), terminating=0,
                      uncountedTerminatedPods={})
        for field, value in (("active", len(active)), ("succeeded", succeeded)):
            if value:
                status[field] = value
            else:
                status.pop(field, None)
        if succeeded >= completions:
            status.update(completionTime=now, ready=0, conditions=[
                {"type": t, "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
                 "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"}
                for t in ("SuccessCriteriaMet", "Complete")])
            status.pop("uncountedTerminatedPods", None)
        self._set_status(JOBS, job, status)

    # volumes --------------------------------------------------------------------------------
    def _pvc(self, event):
        """Claims bind at once, as with a default StorageClass and an instant provisioner."""
        if event.type == "DELETED" or (event.obj.get("status") or {}).get("phase") == "Bound":
            return
        pvc = clone(event.obj)
        spec = pvc.get("spec") or {}
        status = {"phase": "Bound", "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                  "capacity": {"storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")}}
        self._set_status(PVCS, pvc, status)

    # service account tokens -----------------------------------------------------------------
    def _secret(self, event):
        if event.type == "DELETED":
            return
        secret = event.obj
        if secret.get("type") != "kubernetes.io/service-account-token":
            return
        self._fill_token(secret)

    def _fill_token(self, secret):
        meta = secret["metadata"]
        sa_name = (meta.get("annotations") or {}).get("kubernetes.io/service-account.name")
        if not sa_name:
            return
        sa = self.store.peek(SERVICEACCOUNTS, meta["namespace"], sa_name)
        if sa is None:
            return
        data = secret.get("data") or {}
        token = base64.b64decode(data["token"]).decode() if data.get("token") else None
        if token and self.sim.token_subject(token) is not None:
            return
        token = self.sim.issue_token(f"system:serviceaccount:{meta['namespace']}:{sa_name}", None,
                                     sa["metadata"]["uid"], secret=(meta["namespace"], meta["name"]))
        secret = clone(secret)
        secret["data"] = dict(data, **{
            "token": base64.b64encode(token.encode()).decode(),
            "ca.crt": base64.b64encode(self.sim.ca_pem.encode()).decode(),
            "namespace": base64.b64encode(meta["namespace"].encode()).decode()})
        secret["metadata"].setdefault("annotations", {})["kubernetes.io/service-account.uid"] = sa["metadata"]["uid"]
        self._put(SECRETS, secret)

    def _serviceaccount(self, event):
        if event.type != "ADDED":
            return
        self._retry_failed_creates()
        ns = event.obj["metadata"]["namespace"]
        for secret in self.store.list(SECRETS, ns, where=lambda s: s.get("type") == "kubernetes.io/service-account-token"
                                      and not (s.get("data") or {}).get("token")):
            self._fill_token(secret)

    # reviews --------------------------------------------------------------------------------
    def review(self, rtype, body):
        body = clone(body or {})
        body.setdefault("metadata", {})["creationTimestamp"] = None
        if rtype.kind == "TokenReview":
            token = (body.get("spec") or {}).get("token", "")
            subject = self.sim.token_subject(token)
            if subject is None:
                body["status"] = {"authenticated": False, "error": "invalid bearer token", "user": {}}
            else:
                body["status"] = {"authenticated": True,
                                  "user": {"username": subject, "groups": ["system:authenticated"]}}
        else:
            body["status"] = {"allowed": True, "reason": "kubesim allows every request"}
        return body


def _node_ready(node):
    """A node without a kubelet reporting Ready (one created by hand) is NotReady: nothing is scheduled there."""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def _node_term_matches(term, node):
    """One nodeSelectorTerm: its matchExpressions (on labels) and matchFields (metadata.name) all hold."""
    labels = node["metadata"].get("labels") or {}
    fields = {"metadata.name": node["metadata"]["name"]}
    for source, exprs in ((labels, term.get("matchExpressions")), (fields, term.get("matchFields"))):
        for expr in exprs or []:
            key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
            if op in ("In", "NotIn", "Exists", "DoesNotExist"):
                selector = {"matchExpressions": [{"key": key, "operator": op, "values": values}]}
                if not match_label_selector_object(selector, source):
                    return False
            elif op in ("Gt", "Lt"):
                try:
                    have, want = int(source[key]), int(values[0])
                except (KeyError, IndexError, ValueError):
                    return False
                if (op == "Gt" and not have > want) or (op == "Lt" and not have < want):
                    return False
    return True


def _pod_ready(pod):
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _named_port(pods, name):
    for pod in pods:
        for container in (pod.get("spec") or {}).get("containers") or []:
            for port in container.get("ports") or []:
                if port.get("name") == name:
                    return port.get("containerPort")
    return None


def _spec_changed(event):
    return event.old is None or (event.obj.get("spec") != event.old.get("spec"))


_KEY_OF_KIND = {"ReplicaSet": REPLICASETS, "StatefulSet": STATEFULSETS, "DaemonSet": DAEMONSETS, "Job": JOBS}


def _webhook_configuration(self, event):
    self._retry_failed_creates()


_HANDLERS = {
    CRDS: Controllers._crd,
    NODES: Controllers._node,
    MWCS: _webhook_configuration,
    VWCS: _webhook_configuration,
    NAMESPACES: Controllers._namespace,
    DEPLOYMENTS: Controllers._deployment,
    REPLICASETS: Controllers._replicaset,
    STATEFULSETS: Controllers._workload(None, STATEFULSETS),
    DAEMONSETS: Controllers._workload(None, DAEMONSETS),
    PODS: Controllers._pod,
    SERVICES: Controllers._service,
    JOBS: Controllers._job,
    SECRETS: Controllers._secret,
    SERVICEACCOUNTS: Controllers._serviceaccount,
    PVCS: Controllers._pvc,
}
