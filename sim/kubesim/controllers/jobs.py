"""Jobs: pods run to completion and the Job's status and conditions."""
from ..store import clone
from .base import JOBS, _now, _pod_ready


class JobController:
    """The job controller."""

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
