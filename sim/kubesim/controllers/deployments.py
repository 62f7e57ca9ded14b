"""Deployments: a ReplicaSet per pod template, rolled over, and the Deployment's status and conditions."""
from ..store import clone
from .base import (DEPLOYMENTS, PODS, REPLICASETS, _condition, _int_or_percent, _owned_by, _owner_ref, _pod_ready, template_hash)


class DeploymentController:
    """What the deployment controller does."""

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
