"""What the Bookinfo and hashapp integration tests share: a minimal Istio on kubesim and object views."""
import time

from sim.minimal_istio import INJECTOR, ingress_gateway, install_minimal_istio  # noqa: F401 (tests import them from here)

ISTIO_API = "networking.istio.io/v1"

KINDS = [("v1", "Service"), ("v1", "ServiceAccount"), ("apps/v1", "Deployment"),
         (ISTIO_API, "Gateway"), (ISTIO_API, "DestinationRule"), (ISTIO_API, "VirtualService")]


def objects_in(sim, namespace, part_of=None):
    """{(kind, name): object} in a namespace; only the app's (part-of label) when part_of is given."""
    found = {}
    for api_version, kind in KINDS:
        try:
            items = sim.list_objects(api_version, kind, namespace)
        except Exception:  # the kind is not served (Istio CRDs absent)
            continue
        for obj in items:
            labels = obj["metadata"].get("labels") or {}
            if part_of is None or labels.get("app.kubernetes.io/part-of") == part_of:
                found[(kind, obj["metadata"]["name"])] = obj
    return found


def resource_versions(sim, namespace, part_of):
    return {k: o["metadata"]["resourceVersion"] for k, o in objects_in(sim, namespace, part_of).items()}


def pods(sim, namespace, app=None):
    return [p for p in sim.list_objects("v1", "Pod", namespace)
            if app is None or (p["metadata"].get("labels") or {}).get("app") == app]


def has_sidecar(pod):
    return any(c["name"] == "istio-proxy" for c in pod["spec"]["containers"])


def wait_for(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def results(run, task):
    """Results of the task named ``task``, in run order (the json callback prefixes role tasks with
    "<role> : ")."""
    return [r for name, _host, r in run.tasks if name == task or name.endswith(" : " + task)]


def messages(run, task):
    """The msg of every result of a debug task that ran, in order."""
    return [r.get("msg") for r in results(run, task) if not r.get("skipped")]


def writes(sim):
    """(method, path) of every non-dry-run write kubesim received."""
    return [(r.method, r.path) for r in sim.writes()]
