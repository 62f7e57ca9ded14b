"""Pods: what the kubelet reports (Pending, Running and Ready after the cluster's available_delay, Jobs'
pods Succeeded or Failed)."""
import hashlib
import time

from ..store import clone
from .base import JOBS, PODS, _KEY_OF_KIND, _now, _pod_ready


class Kubelet:
    """Pod status as a kubelet would write it."""

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
