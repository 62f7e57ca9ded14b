"""What tests need to give kubesim's webhooks a server: an istiod stand-in and Istio's webhook configurations.

kubesim calls a webhook only when its Service has a Ready pod behind it, as a real apiserver reaches it.
`istiod(sim)` creates what Istio's istiod chart runs for that (namespace, ServiceAccount, Service with
port 443 -> 15017, Deployment); its pod turns Ready after the cluster's `available_delay`.
`validator(failure_policy)` is the base chart's `istiod-default-validator` configuration as
`helm template` renders it with `base.validationFailurePolicy` set (Fail is what istiod itself sets once
it is serving, and what an upgrade keeps).
"""
ISTIO_NAMESPACE = "istio-system"


def istiod(sim, revision="", namespace=ISTIO_NAMESPACE, image="docker.io/istio/pilot:1.24.0"):
    """Create an istiod-shaped Deployment and Service (istiod or istiod-<revision>) in `namespace`."""
    objects = istiod_objects(revision, namespace, image)
    if sim.get_object("v1", "Namespace", namespace) is not None:
        objects = objects[1:]
    sim.create_objects(objects)
    return objects[-1]["metadata"]["name"]


def istiod_objects(revision="", namespace=ISTIO_NAMESPACE, image="docker.io/istio/pilot:1.24.0"):
    name = f"istiod-{revision}" if revision else "istiod"
    labels = {"app": "istiod", "istio": "pilot", "istio.io/rev": revision or "default"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace, "labels": labels},
         "spec": {"selector": labels, "ports": [
             {"name": "grpc-xds", "port": 15010, "protocol": "TCP"},
             {"name": "https-dns", "port": 15012, "protocol": "TCP"},
             {"name": "https-webhook", "port": 443, "targetPort": 15017, "protocol": "TCP"},
             {"name": "http-monitoring", "port": 15014, "protocol": "TCP"}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": name, "namespace": namespace, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
             "metadata": {"labels": dict(labels, **{"sidecar.istio.io/inject": "false"})},
             "spec": {"serviceAccountName": name, "containers": [
                 {"name": "discovery", "image": image,
                  "ports": [{"containerPort": 8080}, {"containerPort": 15010}, {"containerPort": 15017}]}]}}}},
    ]


def validator(failure_policy="Fail", service="istiod", namespace=ISTIO_NAMESPACE):
    """The `istiod-default-validator` ValidatingWebhookConfiguration of Istio's base chart."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "istiod-default-validator",
                     "labels": {"app": "istiod", "istio": "istiod", "istio.io/rev": "default"}},
        "webhooks": [{
            "name": "validation.istio.io",
            "clientConfig": {"service": {"name": service, "namespace": namespace, "path": "/validate"}},
            "rules": [{"operations": ["CREATE", "UPDATE"],
                       "apiGroups": ["security.istio.io", "networking.istio.io", "telemetry.istio.io",
                                     "extensions.istio.io"],
                       "apiVersions": ["*"], "resources": ["*"]}],
            "failurePolicy": failure_policy, "sideEffects": "None", "admissionReviewVersions": ["v1"]}],
    }


def injector(failure_policy="Fail", service="istiod", namespace=ISTIO_NAMESPACE):
    """A sidecar injector MutatingWebhookConfiguration as istiod's chart writes its namespace webhook."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "istio-sidecar-injector", "labels": {"app": "sidecar-injector"}},
        "webhooks": [{
            "name": "namespace.sidecar-injector.istio.io",
            "clientConfig": {"service": {"name": service, "namespace": namespace, "path": "/inject", "port": 443}},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
            "failurePolicy": failure_policy, "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "namespaceSelector": {"matchLabels": {"istio-injection": "enabled"}},
            "objectSelector": {"matchExpressions": [
                {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}]}}],
    }
