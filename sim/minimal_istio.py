"""A minimal Istio on kubesim, for tests and benchmarks that need the apps' view of a mesh without installing
the control plane: istiod's stand-in (webhook_support), the sidecar injector webhook and the ingress gateway Service."""
from sim.webhook_support import istiod_objects

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
