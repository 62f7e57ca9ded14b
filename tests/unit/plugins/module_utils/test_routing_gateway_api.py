"""routing.py, Gateway API part: HTTPRoutes and per-version Services equal Istio's Bookinfo samples."""
import copy

import pytest

from ansible_collections.meshops.istio.plugins.module_utils import routing as rt
from tests.conftest import needs_reference, reference_docs
from sim.kubesim import schema

SAMPLES = needs_reference("Istio's Bookinfo Gateway API samples and the Gateway API CRDs")
PORT = 9080
# Each sample file and the split of every service it routes.
SPLITS = {
    "route-all-v1.yaml": {"reviews": {"v1": 100}, "productpage": {"v1": 100}, "ratings": {"v1": 100},
                          "details": {"v1": 100}},
    "route-reviews-50-v3.yaml": {"reviews": {"v1": 50, "v3": 50}},
    "route-reviews-90-10.yaml": {"reviews": {"v1": 90, "v2": 10}},
    "route-reviews-v1.yaml": {"reviews": {"v1": 100}},
    "route-reviews-v3.yaml": {"reviews": {"v3": 100, "v1": 0}},
}
CRDS = [d for name in ("httproutes", "gateways") for d in
        reference_docs("gateway-api", "config", "crd", "standard", "gateway.networking.k8s.io_%s.yaml" % name)]


def sample(file_name):
    return reference_docs("istio", "samples", "bookinfo", "gateway-api", file_name)


def defaulted(obj):
    """``obj`` as the API server stores it: the HTTPRoute schema's defaults applied (kubesim does the same)."""
    crd = next(c for c in CRDS if c["spec"]["names"]["kind"] == obj["kind"])
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    result = schema.validate(obj, version["schema"]["openAPIV3Schema"])
    assert result.ok, result.causes
    return result.object


def built(service, split):
    rules = rt.build_rules(None, service, PORT, rt.validate_weights(split))
    route = rt.http_route(service, "bookinfo", [rt.service_parent_ref(service, PORT)], rules)
    del route["metadata"]["namespace"]  # the samples carry none
    return route


@SAMPLES
@pytest.mark.parametrize("file_name", sorted(SPLITS))
def test_routes_equal_istios_samples_and_read_back(file_name):
    routes = sample(file_name)
    assert [r["metadata"]["name"] for r in routes] == list(SPLITS[file_name])
    for route in routes:
        service = route["metadata"]["name"]
        split = SPLITS[file_name][service]
        assert built(service, split) == route
        served = dict((s, w) for s, w in split.items() if w)
        assert rt.route_split(route, service) == served
        # Read back as the API server returns it (defaults added: weight 1, group/kind, the "/" match).
        stored = defaulted(copy.deepcopy(route))
        assert stored != route
        assert rt.route_split(stored, service) == served
        # A release step from the stored route writes the sample again (modulo the defaults kept in place).
        rules = rt.set_route_weights(stored, service, PORT, rt.validate_weights(split))
        assert defaulted(dict(route, spec=dict(route["spec"], rules=rules))) == stored


@SAMPLES
def test_per_version_services_equal_bookinfo_versions():
    versions = reference_docs("istio", "samples", "bookinfo", "bookinfo-versions.yaml")
    bases = dict((d["metadata"]["name"], d) for d in reference_docs("istio", "samples", "bookinfo", "bookinfo.yaml")
                 if d["kind"] == "Service")
    for svc in versions:
        service, subset = svc["metadata"]["name"].rsplit("-", 1)
        base = copy.deepcopy(bases[service])
        base["metadata"]["namespace"] = "bookinfo"
        # As the API server returns the Service: the defaults must not be copied into the version's Service.
        base["spec"]["ports"][0].update(protocol="TCP", targetPort=PORT)
        made = rt.version_service(service, subset, base, {"version": subset})
        del made["metadata"]["namespace"]
        assert made == svc


def test_header_match_and_mirror_rules():
    subset, match, name = rt.normalize_match({"subset": "v2", "headers": {"end-user": "jason"}})
    cookie = rt.normalize_match({"subset": "v3", "cookie": {"name": "user", "value": "ann"}}, 1)
    rules = rt.build_rules(None, "reviews", PORT, {"v1": 100}, matches=[(subset, match, name), cookie],
                           mirror={"subset": "v2", "percent": 12.5}, timeout="5s")
    assert rules == [
        {"matches": [{"headers": [{"name": "end-user", "value": "jason"}]}],
         "backendRefs": [{"name": "reviews-v2", "port": PORT}], "timeouts": {"request": "5s"}},
        {"matches": [{"headers": [{"name": "cookie", "type": "RegularExpression",
                                   "value": rt.cookie_regex("user", "ann")}]}],
         "backendRefs": [{"name": "reviews-v3", "port": PORT}], "timeouts": {"request": "5s"}},
        {"backendRefs": [{"name": "reviews-v1", "port": PORT}],
         "filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "reviews-v2", "port": PORT},
                                                                 "fraction": {"numerator": 1250, "denominator": 10000}}}],
         "timeouts": {"request": "5s"}},
    ]
    route = {"spec": {"rules": rules}}
    assert rt.route_mirror(route, "reviews") == {"subset": "v2", "percent": 12.5}
    assert [m["subsets"] for m in rt.route_match_rules(route, "reviews")] == [{"v2": 100}, {"v3": 100}]
    assert rt.route_backends(route, "reviews") == {"v1", "v2", "v3"}
    # Declaring again without matches and mirror removes them; the default rule keeps its place.
    again = rt.build_rules(route, "reviews", PORT, {"v1": 50, "v3": 50}, matches=[], mirror=None, timeout=None)
    assert again == [{"backendRefs": [{"name": "reviews-v1", "port": PORT, "weight": 50},
                                      {"name": "reviews-v3", "port": PORT, "weight": 50}]}]


def test_rules_of_others_are_kept_and_a_catch_all_is_refused():
    other = {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
             "backendRefs": [{"name": "reviews-v3", "port": PORT}]}
    route = {"spec": {"rules": [other, {"backendRefs": [{"name": "reviews-v1", "port": PORT}]}]}}
    rules = rt.set_route_weights(route, "reviews", PORT, {"v1": 80, "v2": 20})
    assert rules[0] == other and rt.split_of_rule(rules[1], "reviews") == {"v1": 80, "v2": 20}
    assert rt.remove_service_rules({"spec": {"rules": rules}}, "reviews") == [other]
    foreign = {"spec": {"rules": [{"backendRefs": [{"name": "ratings", "port": PORT}]}]}}
    with pytest.raises(rt.RoutingError, match="already has a rule for every request to ratings"):
        rt.build_rules(foreign, "reviews", PORT, {"v1": 100})
    with pytest.raises(rt.RoutingError, match="no rule without matches"):
        rt.set_route_weights(foreign, "reviews", PORT, {"v1": 100})


@pytest.mark.parametrize("bad, message", [
    (lambda: rt.httproute_match({"headers": {"end-user": {"prefix": "ja"}}}), "HTTPRoute header matches do not have"),
    (lambda: rt.validate_gateway_duration("1.5s", "timeout"), "Gateway API does not accept"),
    (lambda: rt.validate_parent_refs([{"kind": "Gateway"}]), r"parent_refs\[0\] needs a name"),
    (lambda: rt.validate_parent_refs([{"name": "gw", "hostname": "x"}]), "unknown keys hostname"),
    (lambda: rt.validate_parent_refs([]), "must be a list of parentRefs"),
])
def test_bad_input_is_explained(bad, message):
    with pytest.raises(rt.RoutingError, match=message):
        bad()
