"""Bookinfo as the role renders it, compared with Istio's own sample files and schemas."""
import copy

import jsonschema
import kubernetes_validate
import pytest

from app_render import ISTIO_API, load_reference

from tests.conftest import needs_reference
from sim.meshsim import bookinfo

K8S_VERSION = "1.32.0"
PART_OF = "app.kubernetes.io/part-of"


def key(obj):
    return obj["kind"], obj["metadata"]["name"]


def normalised(obj):
    """An object without what may legitimately differ from the sample: the namespace (the sample has
    none), our part-of label, and the order of the pod's volumes (a set to Kubernetes)."""
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    meta.pop("namespace", None)
    labels = meta.get("labels", {})
    labels.pop(PART_OF, None)
    if not labels:
        meta.pop("labels", None)
    pod = obj.get("spec", {}).get("template", {}).get("spec")
    if pod and "volumes" in pod:
        pod["volumes"] = sorted(pod["volumes"], key=lambda v: v["name"])
    return obj


# DestinationRules and VirtualServices of the samples come from meshsim, which builds the sample files'
# objects (tests/unit/test_standins.py checks them against the files where ../shared/reference is present).
def by_key(objects):
    return {key(o): o for o in objects}


@needs_reference("the role's Bookinfo workloads against Istio's samples/bookinfo/bookinfo.yaml")
def test_workloads_equal_the_bookinfo_sample_field_by_field(rendered):
    reference = load_reference("istio", "samples", "bookinfo", "bookinfo.yaml")
    ours = by_key(o for o in rendered["bookinfo"] if o["apiVersion"] in ("v1", "apps/v1"))
    assert set(ours) == {key(o) for o in reference}
    for ref in reference:
        mine = ours[key(ref)]
        assert mine["apiVersion"] == ref["apiVersion"]
        assert normalised(mine) == normalised(ref), key(ref)


def test_every_object_carries_the_namespace_and_part_of_label(rendered):
    for obj in rendered["bookinfo"]:
        assert obj["metadata"]["namespace"] == "default"
        assert obj["metadata"]["labels"][PART_OF] == "bookinfo"
    for obj in rendered["bookinfo_mirror"]:
        assert obj["metadata"]["namespace"] == "shop"


@needs_reference("the role's image names against those of Istio's samples/bookinfo/bookinfo.yaml")
def test_image_registry_and_tag_overrides_reach_every_container(rendered):
    reference = {key(o): o for o in load_reference("istio", "samples", "bookinfo", "bookinfo.yaml")}
    deployments = [o for o in rendered["bookinfo_mirror"] if o["kind"] == "Deployment"]
    assert len(deployments) == 6
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        (ref_container,) = reference[key(deployment)]["spec"]["template"]["spec"]["containers"]
        image_name = ref_container["image"].rsplit("/", 1)[1].split(":")[0]
        assert container["image"] == f"mirror.example.com:5000/istio/{image_name}:1.21.0"


@needs_reference("the role's Gateway and ingress route against Istio's samples/bookinfo/networking/bookinfo-gateway.yaml")
def test_gateway_and_ingress_route_equal_the_sample(rendered):
    reference = by_key(load_reference("istio", "samples", "bookinfo", "networking", "bookinfo-gateway.yaml"))
    ours = by_key(rendered["bookinfo"])
    for ref_key, ref in reference.items():
        assert ours[ref_key]["apiVersion"] == ref["apiVersion"] == ISTIO_API
        assert ours[ref_key]["spec"] == ref["spec"], ref_key


def test_destination_rules_equal_destination_rule_all(rendered):
    reference = by_key(bookinfo.objects("networking/destination-rule-all.yaml"))
    ours = {k: o for k, o in by_key(rendered["bookinfo"]).items() if k[0] == "DestinationRule"}
    assert set(ours) == set(reference)
    for ref_key, ref in reference.items():
        assert ours[ref_key]["spec"]["host"] == ref["spec"]["host"]
        subsets = {s["name"]: s["labels"] for s in ours[ref_key]["spec"]["subsets"]}
        assert subsets == {s["name"]: s["labels"] for s in ref["spec"]["subsets"]}, ref_key


def test_initial_routes_equal_virtual_service_all_v1(rendered):
    reference = by_key(bookinfo.objects("networking/virtual-service-all-v1.yaml"))
    ours = {k: o for k, o in by_key(rendered["bookinfo"]).items() if k[0] == "VirtualService" and k[1] != "bookinfo"}
    assert set(ours) == set(reference)
    for ref_key, ref in reference.items():
        assert ours[ref_key]["spec"] == ref["spec"], ref_key


def test_route_variable_moves_one_service(rendered):
    ours = by_key(rendered["bookinfo_mirror"])
    reviews = ours[("VirtualService", "reviews")]["spec"]["http"][0]["route"]
    assert reviews == [{"destination": {"host": "reviews", "subset": "v3"}}]
    ratings = ours[("VirtualService", "ratings")]["spec"]["http"][0]["route"]
    assert ratings == [{"destination": {"host": "ratings", "subset": "v1"}}]


def test_subsets_are_applied_before_any_route_names_them(rendered):
    routing = [o for o in rendered["bookinfo"] if o["apiVersion"].startswith("networking.istio.io")]
    position = {key(o): i for i, o in enumerate(routing)}
    for obj in routing:
        if obj["kind"] != "VirtualService":
            continue
        for route in obj["spec"]["http"]:
            for dest in route["route"]:
                if "subset" in dest["destination"]:
                    assert position[("DestinationRule", dest["destination"]["host"])] < position[key(obj)]
    assert routing[0]["kind"] == "Gateway"


@pytest.mark.parametrize("variant", ["bookinfo", "bookinfo_mirror"])
def test_kubernetes_objects_validate_against_the_kubernetes_schemas(rendered, variant):
    checked = 0
    for obj in rendered[variant]:
        if obj["apiVersion"] in ("v1", "apps/v1"):
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
            checked += 1
    assert checked == 14


@pytest.mark.parametrize("variant", ["bookinfo", "bookinfo_mirror"])
def test_istio_objects_validate_against_the_reference_crd_schemas(rendered, variant, istio_crd_schemas):
    checked = 0
    for obj in rendered[variant]:
        if obj["apiVersion"].startswith("networking.istio.io/"):
            jsonschema.validate(obj, istio_crd_schemas[(obj["apiVersion"], obj["kind"])])
            checked += 1
    assert checked == 1 + 4 + 1 + 4


def test_schema_checks_catch_a_broken_object(rendered, istio_crd_schemas):
    """The validators above are able to fail: the same objects, broken, are refused."""
    deployment = copy.deepcopy(next(o for o in rendered["bookinfo"] if o["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    dr = copy.deepcopy(next(o for o in rendered["bookinfo"] if o["kind"] == "DestinationRule"))
    dr["spec"]["subsets"][0]["labels"] = ["version=v1"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(dr, istio_crd_schemas[(dr["apiVersion"], "DestinationRule")])
