"""Istio's CRDs in kubesim (the reference's, else the stand-ins): discovery, schema validation, printing."""
import json
import subprocess

import pytest
import yaml
from kubernetes import config, dynamic
from kubernetes.dynamic.exceptions import UnprocessibleEntityError

from sim.kubesim import KubeSim
from sim.meshsim import bookinfo
from tests.standins import istio_crds

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CRDS = istio_crds()

VS = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
      "metadata": {"name": "reviews", "namespace": "default"},
      "spec": {"hosts": ["reviews"], "http": [{"route": [
          {"destination": {"host": "reviews", "subset": "v1"}, "weight": 90},
          {"destination": {"host": "reviews", "subset": "v2"}, "weight": 10}]}]}}


def kubectl(sim, *args, input=None, check=True):
    proc = subprocess.run(["kubectl", "--kubeconfig", sim.kubeconfig_path, *args], input=input,
                          capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
    return proc


def test_loading_the_crds_is_complete():
    sim = KubeSim(crd_files=[CRDS]).start()
    try:
        names = {c["metadata"]["name"] for c in sim.list_objects("apiextensions.k8s.io/v1", "CustomResourceDefinition")}
        expected = {d["metadata"]["name"] for d in yaml.load_all(CRDS.read_text(), Loader=LOADER)
                    if d and d.get("kind") == "CustomResourceDefinition"}
        assert names == expected and "virtualservices.networking.istio.io" in names
        served = {(t.group, t.version) for t in sim.registry.all() if t.crd}
        assert {("networking.istio.io", "v1"), ("networking.istio.io", "v1beta1"),
                ("networking.istio.io", "v1alpha3"), ("security.istio.io", "v1")} <= served
    finally:
        sim.stop()


def test_virtual_service_accepted_and_rejected(kubesim_istio_module):
    sim = kubesim_istio_module
    dc = dynamic.DynamicClient(config.new_client_from_config(sim.kubeconfig_path))
    vs = dc.resources.get(api_version="networking.istio.io/v1", kind="VirtualService")
    created = vs.create(body=VS)
    assert created.spec.http[0].route[1].weight == 10
    assert created.metadata.generation == 1
    bad = json.loads(json.dumps(VS))
    bad["metadata"]["name"] = "reviews-bad"
    bad["spec"]["http"][0]["route"][0]["weight"] = "abc"
    with pytest.raises(UnprocessibleEntityError) as err:
        vs.create(body=bad)
    status = json.loads(err.value.body)
    assert status["reason"] == "Invalid" and status["code"] == 422
    assert status["details"]["kind"] == "VirtualService"
    assert status["details"]["group"] == "networking.istio.io"
    fields = [c["field"] for c in status["details"]["causes"]]
    assert "spec.http[0].route[0].weight" in fields
    assert status["message"].startswith('VirtualService.networking.istio.io "reviews-bad" is invalid: ')
    assert ('spec.http[0].route[0].weight: Invalid value: "string": spec.http[0].route[0].weight in body must be '
            'of type integer: "string"') in status["message"]
    assert sim.get_object("networking.istio.io/v1", "VirtualService", "reviews-bad", "default") is None
    old_api = dc.resources.get(api_version="networking.istio.io/v1beta1", kind="VirtualService")
    assert old_api.get(name="reviews", namespace="default").apiVersion == "networking.istio.io/v1beta1"


def test_kubectl_applies_bookinfo_routing_and_rejects_bad_weight(kubesim_istio_module, tmp_path):
    sim = kubesim_istio_module
    kubectl(sim, "apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: bookinfo}\n")
    # Bookinfo's routing files as meshsim builds them (the same objects as Istio's samples, see test_standins).
    files = {}
    for name in ("destination-rule-all.yaml", "virtual-service-reviews-90-10.yaml"):
        files[name] = tmp_path / name
        docs = [dict(d, metadata={"name": d["metadata"]["name"]}) for d in bookinfo.objects("networking/" + name)]
        files[name].write_text(yaml.safe_dump_all(docs))
        out = kubectl(sim, "apply", "-n", "bookinfo", "-f", str(files[name]))
        assert "created" in out.stdout and out.stderr == ""
    again = kubectl(sim, "apply", "-n", "bookinfo", "-f", str(files["virtual-service-reviews-90-10.yaml"]))
    assert again.stdout.strip() == "virtualservice.networking.istio.io/reviews unchanged"
    table = kubectl(sim, "get", "virtualservices", "-n", "bookinfo").stdout.splitlines()
    assert table[0].split() == ["NAME", "GATEWAYS", "HOSTS", "AGE"]
    assert table[1].split()[:2] == ["reviews", '["reviews"]']
    short = kubectl(sim, "get", "dr", "-n", "bookinfo", "-o", "name").stdout.split()
    assert "destinationrule.networking.istio.io/reviews" in short
    bad = yaml.safe_load(files["virtual-service-reviews-90-10.yaml"].read_text())
    bad["metadata"] = {"name": "reviews-abc", "namespace": "bookinfo"}
    bad["spec"]["http"][0]["route"][0]["weight"] = "abc"
    out = kubectl(sim, "apply", "-f", "-", input=yaml.safe_dump(bad), check=False)
    assert out.returncode == 1
    assert 'The VirtualService "reviews-abc" is invalid' in out.stderr
    assert "spec.http[0].route[0].weight" in out.stderr
    unknown = json.loads(json.dumps(VS))
    unknown["metadata"] = {"name": "strict", "namespace": "bookinfo"}
    unknown["spec"]["http"][0]["retries"] = {"attempts": 3, "bogus": True}
    out = kubectl(sim, "apply", "-f", "-", input=json.dumps(unknown), check=False)
    assert out.returncode == 1 and 'unknown field "spec.http[0].retries.bogus"' in out.stderr
    dry = kubectl(sim, "apply", "-f", "-", "--dry-run=server", input=json.dumps(dict(VS, metadata={
        "name": "dry", "namespace": "bookinfo"})))
    assert "(server dry run)" in dry.stdout
    assert sim.get_object("networking.istio.io/v1", "VirtualService", "dry", "bookinfo") is None
    wait = kubectl(sim, "wait", "--for=condition=Established", "crd/virtualservices.networking.istio.io",
                   "--timeout=5s")
    assert "condition met" in wait.stdout


def test_deleting_a_crd_removes_its_objects_and_api(kubesim_factory):
    sim = kubesim_factory("crd-delete", istio_crds=True)
    sim.create_objects([VS])
    kubectl(sim, "delete", "crd", "virtualservices.networking.istio.io")
    assert sim.registry.by_path("networking.istio.io", "v1", "virtualservices") is None
    out = kubectl(sim, "get", "virtualservices", "-A", check=False)
    # kubectl's discovery cache may still know the type: then the list itself gets the 404.
    assert out.returncode == 1 and ('doesn\'t have a resource type "virtualservices"' in out.stderr
                                    or "the server could not find the requested resource" in out.stderr)
    kubectl(sim, "apply", "-f", "-", input=yaml.safe_dump(next(
        d for d in yaml.load_all(CRDS.read_text(), Loader=LOADER)
        if d and d["metadata"]["name"] == "virtualservices.networking.istio.io")))
    assert kubectl(sim, "get", "virtualservices", "-A", "-o", "name").stdout == ""
