"""The hash app as the role renders it, checked against the codelab (seed 004) and the schemas."""
import jsonschema
import kubernetes_validate
import pytest

K8S_VERSION = "1.32.0"
PART_OF = {"app.kubernetes.io/part-of": "hashapp"}


def key(obj):
    return obj["kind"], obj["metadata"]["name"]


def by_key(objects):
    return {key(o): o for o in objects}


def probes(port):
    """The codelab's readiness and liveness probes for the frontend and the worker."""
    def probe(path, kind):
        return {"initialDelaySeconds": 10, "httpGet": {
            "path": path, "port": port,
            "httpHeaders": [{"name": "Cookie", "value": f"istio_session-id=x-{kind}-probe"}]}}
    return {"readinessProbe": probe("/_healthz", "readiness"), "livenessProbe": probe("/", "liveness")}


def test_primary_cluster_gets_the_whole_app_and_its_routing(rendered):
    assert set(by_key(rendered["hashapp_primary"])) == {
        ("Deployment", "redis-cache"), ("Service", "redis-cache-service"),
        ("Deployment", "frontend-deployment"), ("Service", "frontend-service"),
        ("Deployment", "worker-deployment"), ("Service", "worker-service"),
        ("Gateway", "frontend-gateway"), ("VirtualService", "frontend-ingress-virtual-service"),
        ("VirtualService", "redis-virtual-service"),
        ("DestinationRule", "worker-destination-rule"), ("VirtualService", "worker-virtual-service"),
    }


def test_burst_cluster_gets_only_the_worker_and_two_services(rendered):
    assert set(by_key(rendered["hashapp_burst"])) == {
        ("Deployment", "worker-deployment"), ("Service", "worker-service"), ("Service", "redis-cache-service")}


def test_frontend_matches_the_codelab(rendered):
    deployment = by_key(rendered["hashapp_primary"])[("Deployment", "frontend-deployment")]
    assert deployment["apiVersion"] == "apps/v1"
    assert deployment["metadata"]["labels"] == {"app": "frontend", **PART_OF}
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "frontend"}}
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": "frontend"}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container == {
        "name": "frontend", "image": "gcr.io/istio-burst-workshop/frontend",
        "ports": [{"containerPort": 8080}], **probes(8080),
        "env": [{"name": "PORT", "value": "8080"}, {"name": "PROCESSOR_URL", "value": "http://worker-service"},
                {"name": "REDIS_URL", "value": "redis-cache-service:6379"}]}


@pytest.mark.parametrize("variant, cluster_type, extra_env", [
    ("hashapp_primary", "primary-cluster", []),
    ("hashapp_burst", "burst-cluster", [{"name": "PREFIX", "value": "bursty-"}]),
])
def test_worker_variant_per_cluster_role(rendered, variant, cluster_type, extra_env):
    deployment = by_key(rendered[variant])[("Deployment", "worker-deployment")]
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "worker"}}
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": "worker", "cluster-type": cluster_type}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container == {
        "name": "worker", "image": "gcr.io/istio-burst-workshop/worker", "imagePullPolicy": "Always",
        "ports": [{"containerPort": 8081}], **probes(8081),
        "env": [{"name": "PORT", "value": "8081"}, {"name": "REDIS_URL", "value": "redis-cache-service:6379"}]
        + extra_env}


def test_redis_matches_the_codelab(rendered):
    deployment = by_key(rendered["hashapp_primary"])[("Deployment", "redis-cache")]
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "redis-cache"}}
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    tcp = {"periodSeconds": 5, "tcpSocket": {"port": 6379}}
    assert container == {
        "name": "redis", "image": "redis:alpine", "ports": [{"containerPort": 6379}],
        "readinessProbe": tcp, "livenessProbe": tcp,
        "volumeMounts": [{"mountPath": "/data", "name": "redis-data"}],
        "resources": {"limits": {"memory": "256Mi", "cpu": "125m"}, "requests": {"cpu": "70m", "memory": "200Mi"}}}
    assert pod["volumes"] == [{"name": "redis-data", "emptyDir": {}}]


@pytest.mark.parametrize("variant", ["hashapp_primary", "hashapp_burst"])
def test_services_match_the_codelab(rendered, variant):
    objects = by_key(rendered[variant])
    expected = {
        "frontend-service": ({"app": "frontend"}, {"name": "http", "port": 80, "targetPort": 8080}),
        "worker-service": ({"app": "worker"}, {"name": "http", "port": 80, "targetPort": 8081}),
        "redis-cache-service": ({"app": "redis-cache"}, {"name": "tcp-redis", "port": 6379, "targetPort": 6379}),
    }
    services = [o for o in objects.values() if o["kind"] == "Service"]
    assert services
    for service in services:
        selector, port = expected[service["metadata"]["name"]]
        assert service["spec"] == {"type": "ClusterIP", "selector": selector, "ports": [port]}


def test_istio_objects_match_the_codelab(rendered):
    objects = by_key(rendered["hashapp_primary"])
    assert objects[("Gateway", "frontend-gateway")]["spec"] == {
        "selector": {"istio": "ingressgateway"},
        "servers": [{"port": {"number": 8080, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}
    assert objects[("VirtualService", "frontend-ingress-virtual-service")]["spec"] == {
        "hosts": ["*"], "gateways": ["frontend-gateway"],
        "http": [{"route": [{"destination": {"host": "frontend-service", "port": {"number": 80}}}]}]}
    assert objects[("VirtualService", "redis-virtual-service")]["spec"] == {
        "hosts": ["redis-cache-service"], "gateways": ["mesh"],
        "tcp": [{"route": [{"destination": {"host": "redis-cache-service.default.svc.cluster.local"}}]}]}
    assert objects[("DestinationRule", "worker-destination-rule")]["spec"] == {
        "host": "worker-service", "trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}},
        "subsets": [{"name": "primary", "labels": {"cluster-type": "primary-cluster"}},
                    {"name": "burst", "labels": {"cluster-type": "burst-cluster"}}]}
    host = "worker-service.default.svc.cluster.local"
    assert objects[("VirtualService", "worker-virtual-service")]["spec"] == {
        "hosts": ["worker-service"], "gateways": ["mesh"],
        "http": [{"route": [
            {"destination": {"host": host, "subset": "primary", "port": {"number": 80}}, "weight": 100},
            {"destination": {"host": host, "subset": "burst", "port": {"number": 80}}, "weight": 0}]}]}


def test_destination_rule_is_applied_before_the_worker_route(rendered):
    names = [key(o) for o in rendered["hashapp_primary"]]
    assert names.index(("DestinationRule", "worker-destination-rule")) < names.index(
        ("VirtualService", "worker-virtual-service"))


def test_overrides_reach_images_hosts_and_weights(rendered):
    objects = by_key(rendered["hashapp_mirror"])
    images = {name: objects[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]["image"]
              for name in ("frontend-deployment", "worker-deployment", "redis-cache")}
    assert images == {"frontend-deployment": "registry.example.com/burst/frontend:2.1",
                      "worker-deployment": "registry.example.com/burst/worker:2.1",
                      "redis-cache": "registry.example.com/library/redis:7-alpine"}
    route = objects[("VirtualService", "worker-virtual-service")]["spec"]["http"][0]["route"]
    assert [(d["destination"]["host"], d["weight"]) for d in route] == [
        ("worker-service.hash.svc.corp.local", 70), ("worker-service.hash.svc.corp.local", 30)]
    assert all(o["metadata"]["namespace"] == "hash" for o in objects.values())


@pytest.mark.parametrize("variant", ["hashapp_primary", "hashapp_burst", "hashapp_mirror"])
def test_objects_validate_against_kubernetes_and_istio_schemas(rendered, variant, istio_crd_schemas):
    for obj in rendered[variant]:
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "hashapp"
        if obj["apiVersion"].startswith("networking.istio.io/"):
            jsonschema.validate(obj, istio_crd_schemas[(obj["apiVersion"], obj["kind"])])
        else:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
