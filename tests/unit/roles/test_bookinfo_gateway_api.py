"""Bookinfo's Gateway API routing as the role renders it, equal to Istio's samples/bookinfo/gateway-api."""
import json

import pytest

from app_render import load_reference, render

from tests.conftest import needs_reference

PART_OF = "app.kubernetes.io/part-of"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The routing objects of bookinfo_routing_api=gateway-api as mesh_app renders them: what comes after
    the workloads (the last Deployment) in the role's templates."""
    gateway_api = {"bookinfo_routing_api": "gateway-api", "_bookinfo_gateway_api_missing": []}
    variants = {"default": ("bookinfo", gateway_api),
                "reviews_v3": ("bookinfo", dict(gateway_api, bookinfo_routes={"reviews": "v3"},
                                                bookinfo_namespace="shop"))}
    objects = render(tmp_path_factory.mktemp("gateway_api"), variants)
    routing = {}
    for name, objs in objects.items():
        last_deployment = max(i for i, o in enumerate(objs) if o["kind"] == "Deployment")
        routing[name] = objs[last_deployment + 1:]
    return routing


def plain(obj):
    """Without what the samples cannot have: our namespace and part-of label."""
    obj = json.loads(json.dumps(obj))
    obj["metadata"].pop("namespace")
    assert obj["metadata"].pop("labels") == {PART_OF: "bookinfo"}
    return obj


@needs_reference("the role's Gateway API objects against Istio's samples/bookinfo/gateway-api and bookinfo-versions.yaml")
def test_objects_equal_istios_gateway_api_samples(rendered):
    samples = (load_reference("istio", "samples", "bookinfo", "bookinfo-versions.yaml")
               + load_reference("istio", "samples", "bookinfo", "gateway-api", "bookinfo-gateway.yaml")
               + load_reference("istio", "samples", "bookinfo", "gateway-api", "route-all-v1.yaml"))
    ours = [plain(o) for o in rendered["default"]]
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    assert sorted(ours, key=key) == sorted(samples, key=key)
    # Apply order: every backend Service before the routes that name it.
    kinds = [o["kind"] for o in ours]
    assert kinds.index("HTTPRoute") > max(i for i, k in enumerate(kinds) if k == "Service")


@needs_reference("the role's reviews route against Istio's samples/bookinfo/gateway-api/route-reviews-v3.yaml")
def test_bookinfo_routes_pick_the_version(rendered):
    (reviews,) = [o for o in rendered["reviews_v3"] if o["kind"] == "HTTPRoute" and o["metadata"]["name"] == "reviews"]
    assert reviews["metadata"]["namespace"] == "shop"
    assert plain(reviews) == load_reference("istio", "samples", "bookinfo", "gateway-api", "route-reviews-v3.yaml")[0]
    assert [o["metadata"]["name"] for o in rendered["reviews_v3"] if o["kind"] == "HTTPRoute"] == ["bookinfo", "reviews"]
