"""ReplicaSets, StatefulSets and DaemonSets: pods created from their templates (creates refused by
admission retried when webhook configurations change) and their owners' status."""
from .. import errors
from ..store import clone
from .base import (DAEMONSETS, JOBS, PODS, REPLICASETS, STATEFULSETS, _KEY_OF_KIND, _now, _owned_by, _owner_ref, _pod_ready,
                   _spec_changed, template_hash)


class WorkloadController:
    """Pods for the workload kinds, and their status."""

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



def _webhook_configuration(self, event):
    self._retry_failed_creates()
