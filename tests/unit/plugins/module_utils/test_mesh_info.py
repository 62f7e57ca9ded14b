"""istio_info's gateway reads and waits: one request per gateway Service, the Nodes once and only for a node
port, a wait that names what is not ready."""
import pytest

from ansible_collections.meshops.istio.plugins.module_utils import mesh_info as mi
from ansible_collections.meshops.istio.plugins.module_utils.kube import KubeError
from tests.unit.plugins.module_utils.test_mesh_app import LB, NODE, PENDING_LB, FakeCluster

GATEWAYS = [{"name": "ingress", "namespace": "istio-system"}, {"name": "egress", "namespace": "istio-egress"}]


@pytest.mark.parametrize("egress, nodes_read", [(LB, False), (PENDING_LB, True), ({"spec": {"type": "NodePort"}}, True)])
def test_gateway_services_read_each_service_and_the_nodes_once(egress, nodes_read):
    cluster = FakeCluster(objects={("Service", "ingress"): LB, ("Service", "egress"): egress, ("Node", "n1"): NODE})
    found, nodes = mi.gateway_services(cluster, GATEWAYS)
    assert found == [dict(GATEWAYS[0], resources=[LB]), dict(GATEWAYS[1], resources=[egress])]
    assert nodes == ([NODE] if nodes_read else [])
    assert cluster.calls == [("get", "Service", "ingress"), ("get", "Service", "egress")] + (
        [("list", "Node")] if nodes_read else [])


def test_a_gateway_without_a_service_has_no_resources_and_needs_no_nodes():
    cluster = FakeCluster(objects={("Node", "n1"): NODE})
    assert mi.gateway_services(cluster, GATEWAYS[:1]) == ([dict(GATEWAYS[0], resources=[])], [])


class WaitingCluster:
    def __init__(self, not_ready):
        self.not_ready, self.waited = not_ready, None

    def wait_ready(self, objects, timeout, sleep=1.0, known=None):
        self.waited = (objects, timeout)
        return [(obj, None) for obj in objects if obj["metadata"]["name"] in self.not_ready]


def test_the_wait_is_for_the_gateway_deployments_and_the_workloads_named():
    cluster = WaitingCluster(not_ready=())
    workloads = [mi._workload("Deployment", GATEWAYS[0]),
                 mi._workload("DaemonSet", {"name": "ztunnel", "namespace": "istio-system"})]
    mi.wait_ready(cluster, workloads, 30)
    assert [(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in cluster.waited[0]] == [
        ("Deployment", "istio-system", "ingress"), ("DaemonSet", "istio-system", "ztunnel")]
    assert cluster.waited[1] == 30


def test_a_wait_that_times_out_names_what_is_not_ready():
    cluster = WaitingCluster(not_ready=("istiod",))
    with pytest.raises(KubeError) as failed:
        mi.wait_ready(cluster, [mi._workload("Deployment", {"name": "istiod", "namespace": "istio-system"})], 5)
    assert failed.value.reason == "NotReady"
    assert "Not ready after 5 s" in failed.value.message and "istio-system/istiod" in failed.value.message
