"""What every controller shares: the resource keys it watches, the event queue and its drain, writes that go
through admission, garbage collection by ownerReferences, and small helpers (timestamps, conditions)."""
import collections
import hashlib
import json
import time

from .. import errors
from ..admission import Admission

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



def _pod_ready(pod):
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _spec_changed(event):
    return event.old is None or (event.obj.get("spec") != event.old.get("spec"))


_KEY_OF_KIND = {"ReplicaSet": REPLICASETS, "StatefulSet": STATEFULSETS, "DaemonSet": DAEMONSETS, "Job": JOBS}


class ControllerBase:
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



# Store resource key -> handler(controllers, event); the package's __init__ fills it, openshift.install adds
# the Route router.
_HANDLERS = {}
