"""The phases istio_apply runs around an application's apply: Istio's API version, the namespace, the ingress."""
import pytest

from ansible_collections.meshops.istio.plugins.module_utils import mesh_app as ma
from ansible_collections.meshops.istio.plugins.module_utils.kube import KubeError


class FakeCluster:
    """Serves the networking.istio.io versions given; records the requests the functions make."""

    def __init__(self, served=(), objects=None):
        self.served, self.objects, self.calls = set(served), objects or {}, []

    def resource(self, api_version, kind):
        self.calls.append(("discover", api_version))
        if api_version not in self.served:
            raise KubeError("not served", kind, reason="IstioNotInstalled")

    def get(self, api_version, kind, name, namespace=None):
        self.calls.append(("get", kind, name))
        return self.objects.get((kind, name))

    def list(self, api_version, kind, namespace=None, label_selector=None):
        self.calls.append(("list", kind))
        return [obj for (k, _name), obj in self.objects.items() if k == kind]

    def serves(self, api_version):
        self.calls.append(("serves", api_version))
        return api_version in self.served


@pytest.mark.parametrize("served, wanted, expected", [
    ({"networking.istio.io/v1", "networking.istio.io/v1beta1"}, "auto", "v1"),
    ({"networking.istio.io/v1beta1"}, "auto", "v1beta1"),
    ({"networking.istio.io/v1beta1"}, "v1beta1", "v1beta1"),
    ({"networking.istio.io/v1beta1"}, "v1", None),
    (set(), "auto", None),
])
def test_served_istio_version(served, wanted, expected):
    assert ma.served_istio_version(FakeCluster(served), wanted) == expected


def test_a_failure_other_than_not_served_is_raised():
    class Broken(FakeCluster):
        def resource(self, api_version, kind):
            raise KubeError("refused", kind, reason="Forbidden")
    with pytest.raises(KubeError):
        ma.served_istio_version(Broken(), "auto")


def test_only_networking_istio_objects_move_to_the_served_version():
    objects = [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}},
               {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "a"}},
               {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": {"name": "a"}}]
    moved = ma.with_istio_version(objects, "v1beta1")
    assert [o["apiVersion"] for o in moved] == ["apps/v1", "networking.istio.io/v1beta1", "security.istio.io/v1"]
    assert objects[1]["apiVersion"] == "networking.istio.io/v1"  # the caller's objects stay as given


def test_the_missing_istio_message_says_what_to_do():
    assert "run playbooks/install.yml" in ma.istio_missing_message("auto", "shop")
    assert "set the Istio API version to auto" in ma.istio_missing_message("v1alpha3", "shop")


LB = {"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}}
PENDING_LB = {"spec": {"type": "LoadBalancer"}, "status": {}}
NODE = {"metadata": {"name": "n1"}}


ROUTE = {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "istio-ingressgateway"},
         "spec": {"to": {"kind": "Service", "name": "istio-ingressgateway"}}}


@pytest.mark.parametrize("service, nodes_read", [(LB, False), (PENDING_LB, True), ({"spec": {"type": "ClusterIP"}}, False)])
def test_ingress_reads_the_nodes_only_for_a_node_port_address(service, nodes_read):
    cluster = FakeCluster(objects={("Service", "istio-ingressgateway"): service, ("Node", "n1"): NODE})
    found = ma.ingress(cluster, "istio-ingressgateway", "istio-system")
    assert found == {"resources": [service], "nodes": [NODE] if nodes_read else [], "routes": []}
    assert (("list", "Node") in cluster.calls) == nodes_read
    # Routes are looked for behind a ClusterIP Service only, and listed only where the API serves them.
    asked = ("serves", "route.openshift.io/v1") in cluster.calls
    assert asked == (service["spec"]["type"] == "ClusterIP") and ("list", "Route") not in cluster.calls


def test_ingress_on_openshift_reads_the_routes():
    service = {"spec": {"type": "ClusterIP"}}
    cluster = FakeCluster(served={"route.openshift.io/v1"},
                          objects={("Service", "istio-ingressgateway"): service, ("Route", "istio-ingressgateway"): ROUTE})
    found = ma.ingress(cluster, "istio-ingressgateway", "istio-system")
    assert found == {"resources": [service], "nodes": [], "routes": [ROUTE]}


def test_ingress_of_a_missing_service_is_empty():
    cluster = FakeCluster()
    assert ma.ingress(cluster, "istio-ingressgateway", "istio-system") == {"resources": [], "nodes": [], "routes": []}
    assert cluster.calls == [("get", "Service", "istio-ingressgateway")]
