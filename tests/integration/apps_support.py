"""What the Bookinfo and hashapp integration tests share: a minimal Istio on kubesim and object views."""
import time

from sim.webhook_support import istiod_objects

ISTIO_API = "networking.istio.io/v1"

# What istiod's chart installs that matters to the apps: the injector webhook (kubesim injects
# pods when a webhook named *sidecar-injector* selects their namespace) and the ingress gateway Service.
INJECTOR = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "MutatingWebhookConfiguration",
    "metadata": {"name": "istio-sidecar-injector"},
    "webhooks": [{
        "name": "namespace.sidecar-injector.istio.io",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "clientConfig": {"service": {"name": "istiod", "namespace": "istio-system", "path": "/inject"}},
        "namespaceSelector": {"matchLabels": {"istio-injection": "enabled"}},
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
    }],
}


def ingress_gateway(service_type="LoadBalancer"):
    """The ingress gateway Service as istioctl's default profile makes it (80 -> 8080)."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system",
                      "labels": {"app": "istio-ingressgateway", "istio": "ingressgateway"}},
         "spec": {"type": service_type, "selector": {"istio": "ingressgateway"}, "ports": [
             {"name": "status-port", "port": 15021, "targetPort": 15021, "protocol": "TCP"},
             {"name": "http2", "port": 80, "targetPort": 8080, "protocol": "TCP"},
             {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]}},
    ]


def install_minimal_istio(sim, service_type="LoadBalancer", injector=True):
    objects = ingress_gateway(service_type) + istiod_objects()[1:] + ([INJECTOR] if injector else [])
    # istio-system may already hold other objects (the Prometheus Service of the release tests).
    sim.create_objects([o for o in objects if sim.get_object(o["apiVersion"], o["kind"], o["metadata"]["name"],
                                                             o["metadata"].get("namespace")) is None])
    return sim


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
