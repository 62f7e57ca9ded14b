"""kubesim's OpenShift mode (openshift=True) driven by kubectl and the DynamicClient: Routes get a host and
the router's admission, SCCs are listed, and a plain kubesim serves neither."""
import subprocess

import pytest
from kubernetes.dynamic.exceptions import ResourceNotFoundError, UnprocessibleEntityError

from tests.fidelity.test_kubesim_dynamic import dynamic_client

ROUTE = """apiVersion: route.openshift.io/v1
kind: Route
metadata: {name: %s, namespace: %s}
spec:
  %s
  to: {kind: Service, name: web}
  port: {targetPort: http}
"""


@pytest.fixture
def sim(kubesim_factory):
    return kubesim_factory("ocp", openshift=True)


def kubectl(sim, *args, stdin=None, check=True):
    return subprocess.run(["kubectl", "--kubeconfig", str(sim.kubeconfig_path), *args], input=stdin,
                          capture_output=True, text=True, check=check)


def route(sim, name, namespace="default"):
    return sim.get_object("route.openshift.io/v1", "Route", name, namespace)


def test_a_route_without_host_gets_the_default_one_and_is_admitted(sim):
    kubectl(sim, "apply", "-f", "-", stdin=ROUTE % ("web", "default", ""))
    web = route(sim, "web")
    assert web["spec"]["host"] == "web-default.apps.kubesim.example"
    assert web["metadata"]["annotations"]["openshift.io/host.generated"] == "true"
    ingress = web["status"]["ingress"]
    assert len(ingress) == 1 and ingress[0]["host"] == "web-default.apps.kubesim.example"
    assert ingress[0]["routerName"] == "default"
    assert [(c["type"], c["status"]) for c in ingress[0]["conditions"]] == [("Admitted", "True")]
    # Applying the same Route again (no host in it) keeps the host and changes nothing.
    version = web["metadata"]["resourceVersion"]
    assert "unchanged" in kubectl(sim, "apply", "-f", "-", stdin=ROUTE % ("web", "default", "")).stdout
    assert route(sim, "web")["metadata"]["resourceVersion"] == version
    # A server-side apply without the host (a new manager: managedFields change once) keeps it too.
    for _ in range(2):
        kubectl(sim, "apply", "--server-side", "--field-manager", "other", "-f", "-", stdin=ROUTE % ("web", "default", ""))
        version, web = web["metadata"]["resourceVersion"], route(sim, "web")
    assert web["metadata"]["resourceVersion"] == version
    assert web["spec"]["host"] == "web-default.apps.kubesim.example"
    table = kubectl(sim, "get", "routes").stdout.split("\n")
    assert table[0].split() == ["NAME", "HOST", "ADMITTED", "SERVICE", "TLS"]
    assert table[1].split() == ["web", "web-default.apps.kubesim.example", "True", "web"]


def test_an_older_route_of_another_namespace_keeps_its_host(sim):
    kubectl(sim, "create", "namespace", "other")
    kubectl(sim, "apply", "-f", "-", stdin=ROUTE % ("first", "default", "host: shop.example.com"))
    kubectl(sim, "apply", "-f", "-", stdin=ROUTE % ("second", "other", "host: shop.example.com"))
    assert route(sim, "first")["status"]["ingress"][0]["conditions"][0]["status"] == "True"
    refused = route(sim, "second", "other")["status"]["ingress"][0]["conditions"][0]
    assert (refused["status"], refused["reason"]) == ("False", "HostAlreadyClaimed")
    # Once the holder goes, the router admits the other one.
    kubectl(sim, "delete", "route", "first")
    assert route(sim, "second", "other")["status"]["ingress"][0]["conditions"][0]["status"] == "True"


def test_route_schema_refuses_what_openshift_refuses(sim):
    dc = dynamic_client(sim)
    routes = dc.resources.get(api_version="route.openshift.io/v1", kind="Route")
    with pytest.raises(UnprocessibleEntityError, match="spec.tls.termination"):
        routes.create(namespace="default", body={"metadata": {"name": "bad"}, "spec": {
            "to": {"kind": "Service", "name": "web"}, "tls": {"termination": "offload"}}})
    with pytest.raises(UnprocessibleEntityError, match="spec.to"):
        routes.create(namespace="default", body={"metadata": {"name": "bad"}, "spec": {"host": "x.example.com"}})


def test_sccs_and_multus_are_served_and_a_plain_cluster_has_neither(sim, kubesim):
    dc = dynamic_client(sim)
    sccs = dc.resources.get(api_version="security.openshift.io/v1", kind="SecurityContextConstraints")
    assert sorted(s.metadata.name for s in sccs.get().items) == ["anyuid", "privileged", "restricted-v2"]
    assert sccs.get(name="privileged").allowPrivilegedContainer is True
    assert kubectl(sim, "get", "scc", "restricted-v2", "-o", "jsonpath={.runAsUser.type}").stdout == "MustRunAsRange"
    nads = dc.resources.get(api_version="k8s.cni.cncf.io/v1", kind="NetworkAttachmentDefinition")
    nads.create(namespace="default", body={"metadata": {"name": "istio-cni"}})
    assert [n.metadata.name for n in nads.get(namespace="default").items] == ["istio-cni"]

    plain = dynamic_client(kubesim)
    for api_version, kind in (("route.openshift.io/v1", "Route"), ("security.openshift.io/v1", "SecurityContextConstraints")):
        with pytest.raises(ResourceNotFoundError):
            plain.resources.get(api_version=api_version, kind=kind)
    assert kubectl(kubesim, "get", "routes", check=False).returncode != 0
