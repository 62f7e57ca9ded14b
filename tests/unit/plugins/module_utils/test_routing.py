"""routing.py: weights, VirtualService/DestinationRule building, safe order (pure functions)."""
import copy

import pytest

from ansible_collections.meshops.istio.plugins.module_utils import routing as rt
from sim.meshsim import bookinfo

NS = "bookinfo"


def reference(file_name, name="reviews"):
    """``name`` in Istio's samples/bookinfo/networking/<file_name>, as meshsim builds it (without a namespace,
    as in the file; tests/unit/test_standins.py checks meshsim's objects against the sample files)."""
    for doc in bookinfo.objects("networking/" + file_name):
        if doc["metadata"]["name"] == name:
            doc["metadata"].pop("namespace")
            return doc
    raise AssertionError("%s has no %s" % (file_name, name))


def declare(live, weights, matches=rt.KEEP, mirror=rt.KEEP, host="reviews", name="reviews"):
    weights = rt.validate_weights(weights)
    if matches is not rt.KEEP:
        matches = [rt.normalize_match(m, i) for i, m in enumerate(matches)]
    if mirror is not rt.KEEP:
        mirror = rt.validate_mirror(mirror)
    http = rt.build_http(live, host, NS, weights, matches=matches, mirror=mirror)
    obj = rt.virtual_service(name, NS, host, http, live_vs=live)
    # What the server would hold afterwards (apply merges these fields into the live object).
    stored = copy.deepcopy(live) if live else {
        "apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": {"name": name, "namespace": NS}, "spec": {}}
    stored["spec"].update(obj["spec"])
    return stored


def assert_equivalent(vs, file_name, name="reviews"):
    ref = reference(file_name, name)
    assert vs["apiVersion"] == ref["apiVersion"]
    assert vs["spec"] == ref["spec"], "%s differs from %s" % (vs["spec"], file_name)


# -- the seed scenario: all v1 -> 90/10 -> all v2 -> v2/v3 50/50 -> jason to v2, others v3 -> v3 ---------

def test_seed_scenario_walks_through_the_bookinfo_reference_files():
    vs = declare(None, {"v1": 100})
    assert_equivalent(vs, "virtual-service-all-v1.yaml")
    vs = declare(vs, {"v1": 90, "v2": 10})
    assert_equivalent(vs, "virtual-service-reviews-90-10.yaml")
    assert rt.current_split(vs, "reviews", NS) == {"v1": 90, "v2": 10}
    vs = declare(vs, {"v1": 80, "v2": 20})
    assert_equivalent(vs, "virtual-service-reviews-80-20.yaml")
    vs = declare(vs, {"v1": 0, "v2": 100})
    assert vs["spec"]["http"] == [{"route": [{"destination": {"host": "reviews", "subset": "v2"}}]}]
    vs = declare(vs, {"v2": 50, "v3": 50})
    assert_equivalent(vs, "virtual-service-reviews-v2-v3.yaml")
    vs = declare(vs, {"v3": 100}, matches=[{"subset": "v2", "headers": {"end-user": {"exact": "jason"}}}])
    assert_equivalent(vs, "virtual-service-reviews-jason-v2-v3.yaml")
    vs = declare(vs, {"v3": 100}, matches=[])
    assert_equivalent(vs, "virtual-service-reviews-v3.yaml")


def test_50_v3_and_test_v2_references():
    assert_equivalent(declare(None, {"v1": 50, "v3": 50}), "virtual-service-reviews-50-v3.yaml")
    vs = declare(None, {"v1": 100}, matches=[{"subset": "v2", "headers": {"end-user": "jason"}}])
    assert_equivalent(vs, "virtual-service-reviews-test-v2.yaml")


@pytest.mark.parametrize("service", ["productpage", "ratings", "details"])
def test_all_v1_for_every_bookinfo_service(service):
    vs = declare(None, {"v1": 100}, host=service, name=service)
    assert_equivalent(vs, "virtual-service-all-v1.yaml", name=service)


def test_mirror_v1_traffic_to_v2():
    vs = declare(None, {"v1": 100}, mirror={"subset": "v2", "percent": 100})
    route = vs["spec"]["http"][0]
    assert route["route"] == [{"destination": {"host": "reviews", "subset": "v1"}}]
    assert route["mirror"] == {"host": "reviews", "subset": "v2"}
    assert route["mirrorPercentage"] == {"value": 100.0}
    assert rt.mirror_of(vs, "reviews", NS) == {"subset": "v2", "percent": 100.0}
    # Declaring again without a mirror stops mirroring; keeping it leaves it there.
    assert "mirror" in declare(vs, {"v1": 100})["spec"]["http"][0]
    stopped = declare(vs, {"v1": 100}, mirror=None)["spec"]["http"][0]
    assert "mirror" not in stopped and "mirrorPercentage" not in stopped
    assert rt.subsets_used([vs], "reviews", NS) == {"v1", "v2"}


def test_cookie_match_becomes_a_cookie_header_regex():
    subset, match, _name = rt.normalize_match({"subset": "v2", "cookie": {"name": "user", "value": "jason"}})
    assert subset == "v2"
    regex = match["headers"]["cookie"]["regex"]
    import re
    assert re.match(regex, "user=jason")
    assert re.match(regex, "theme=dark; user=jason; lang=en")
    assert not re.match(regex, "user=jasonx")
    assert not re.match(regex, "xuser=jason")


# -- leaving other things alone ---------------------------------------------------------------------

def test_other_routes_and_fields_are_left_alone():
    live = {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "reviews", "namespace": NS},
        "spec": {
            "hosts": ["reviews"], "gateways": ["mesh"],
            "http": [
                {"match": [{"uri": {"prefix": "/admin"}}], "route": [{"destination": {"host": "admin"}}]},
                {"match": [{"headers": {"end-user": {"exact": "jason"}}}],
                 "fault": {"delay": {"fixedDelay": "7s", "percentage": {"value": 100}}},
                 "route": [{"destination": {"host": "reviews", "subset": "v1"}}]},
                {"name": "default", "corsPolicy": {"allowOrigins": [{"exact": "x"}]},
                 "route": [{"destination": {"host": "reviews", "subset": "v1", "port": {"number": 9080}}}]},
            ]}}
    before = copy.deepcopy(live)
    http = rt.build_http(live, "reviews", NS, {"v1": 90, "v2": 10},
                         matches=[rt.normalize_match({"subset": "v2", "headers": {"end-user": "tester"}})],
                         timeout="3s", retries={"attempts": 2, "perTryTimeout": "1s"})
    assert live == before, "the live object must not be modified"
    assert http[0] == before["spec"]["http"][0]
    assert http[1] == before["spec"]["http"][1], "a route with fault injection is somebody else's"
    assert http[2]["match"] == [{"headers": {"end-user": {"exact": "tester"}}}]
    assert http[2]["route"] == [{"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}}]
    assert http[2]["timeout"] == "3s"
    default = http[3]
    assert default["name"] == "default" and default["corsPolicy"] == {"allowOrigins": [{"exact": "x"}]}
    assert default["route"] == [
        {"destination": {"host": "reviews", "subset": "v1", "port": {"number": 9080}}, "weight": 90},
        {"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}, "weight": 10}]
    assert default["retries"] == {"attempts": 2, "perTryTimeout": "1s"}
    obj = rt.virtual_service("reviews", NS, "reviews", http, live_vs=live)
    assert set(obj["spec"]) == {"hosts", "http"}, "gateways belongs to whoever wrote it"


def test_set_weights_touches_only_the_default_route():
    live = declare(None, {"v1": 100}, matches=[{"subset": "v2", "headers": {"end-user": "jason"}}],
                   mirror={"subset": "v3", "percent": 5})
    http = rt.set_weights(live, "reviews", NS, {"v1": 75, "v2": 25})
    assert http[0] == live["spec"]["http"][0]
    assert http[1]["mirror"] == live["spec"]["http"][1]["mirror"]
    assert rt.split_of_route(http[1]) == {"v1": 75, "v2": 25}


def test_set_weights_without_default_route_explains():
    with pytest.raises(rt.RoutingError, match="no default route"):
        rt.set_weights({"spec": {"hosts": ["reviews"], "http": []}}, "reviews", NS, {"v1": 100})


def test_a_default_route_to_another_host_is_refused():
    live = {"spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "ratings"}}]}]}}
    with pytest.raises(rt.RoutingError, match="already has a default route .no match. to ratings"):
        rt.build_http(live, "reviews", NS, {"v1": 100})


def test_vs_for_other_hosts_is_refused():
    live = {"spec": {"hosts": ["ratings"]}}
    with pytest.raises(rt.RoutingError, match="serves hosts ratings, not reviews"):
        rt.virtual_service("ratings", NS, "reviews", [], live_vs=live)


@pytest.mark.parametrize("a,b,same", [
    ("reviews", "reviews.bookinfo.svc.cluster.local", True),
    ("reviews", "reviews.bookinfo", True),
    ("reviews", "reviews.other", False),
    ("reviews.bookinfo.svc", "reviews.bookinfo.svc.cluster.local", True),
    ("reviews", "ratings", False),
    ("api.example.com", "api.example.com", True),
])
def test_same_host(a, b, same):
    assert rt.same_host(a, b, NS) is same


# -- weights and inputs -----------------------------------------------------------------------------

def test_validate_weights_accepts_integers_and_digit_strings_in_order():
    assert list(rt.validate_weights({"v1": "90", "v2": 10}).items()) == [("v1", 90), ("v2", 10)]


@pytest.mark.parametrize("weights,message", [
    ({"v1": 90, "v2": 20}, "Weights add up to 110, not 100 (v1=90, v2=20)"),
    ({"v1": 110, "v2": -10}, "The weight of subset v1 is 110; weights go from 0 to 100"),
    ({"v1": 100, "v2": -10}, "The weight of subset v2 is -10"),
    ({"v1": 90.5, "v2": 9.5}, "The weight of subset v1 is 90.5, not a whole number"),
    ({"v1": "ninety", "v2": 10}, "not a whole number"),
    ({"v1": True}, "not a whole number"),
    ({}, "must be a mapping of subset to weight"),
    ([90, 10], "must be a mapping of subset to weight"),
    ({"v 1": 100}, "subset name 'v 1' is not valid"),
])
def test_validate_weights_refuses_bad_input(weights, message):
    with pytest.raises(rt.RoutingError) as err:
        rt.validate_weights(weights)
    assert message in str(err.value)


@pytest.mark.parametrize("match,message", [
    ({"headers": {"end-user": "jason"}}, "needs a subset"),
    ({"subset": "v2"}, "needs headers or cookie"),
    ({"subset": "v2", "headers": {"End-User": "jason"}}, "lower-case header names"),
    ({"subset": "v2", "headers": {"end-user": {"contains": "j"}}}, "must be a string (exact match) or one of"),
    ({"subset": "v2", "cookie": {"name": "user"}}, "cookie must be {name: ..., value: ...}"),
    ({"subset": "v2", "uri": "/x"}, "unknown keys uri"),
])
def test_normalize_match_refuses_bad_input(match, message):
    with pytest.raises(rt.RoutingError) as err:
        rt.normalize_match(match)
    assert message in str(err.value)


@pytest.mark.parametrize("mirror,message", [
    ({"percent": 10}, "mirror must be {subset"),
    ({"subset": "v2", "percent": 0}, "more than 0 and at most 100"),
    ({"subset": "v2", "percent": 150}, "more than 0 and at most 100"),
    ({"subset": "v2", "percent": "lots"}, "not a number"),
])
def test_validate_mirror_refuses_bad_input(mirror, message):
    with pytest.raises(rt.RoutingError) as err:
        rt.validate_mirror(mirror)
    assert message in str(err.value)


@pytest.mark.parametrize("value,ok", [("10s", True), ("1.5s", True), ("250ms", True), ("1m30s", True),
                                      ("10", False), ("ten seconds", False), (10, False)])
def test_validate_duration(value, ok):
    if ok:
        assert rt.validate_duration(value, "timeout") == value
    else:
        with pytest.raises(rt.RoutingError, match="not a duration"):
            rt.validate_duration(value, "timeout")


# -- destination rules and ordering -----------------------------------------------------------------

def test_grown_subsets_adds_and_relabels_but_keeps_the_rest():
    live = reference("destination-rule-reviews.yaml")
    subsets = rt.grown_subsets(live, {"v4": {"version": "v4"}, "v1": {"version": "v1", "track": "stable"}})
    assert [s["name"] for s in subsets] == ["v1", "v2", "v3", "v4"]
    assert subsets[0]["labels"] == {"version": "v1", "track": "stable"}
    assert subsets[3] == {"name": "v4", "labels": {"version": "v4"}}
    dr = rt.destination_rule("reviews", NS, "reviews", subsets, live_dr=live)
    assert set(dr["spec"]) == {"host", "subsets"}, "trafficPolicy belongs to whoever wrote it"


def test_destination_rule_from_scratch_matches_the_reference():
    labels = {"v1": {"version": "v1"}, "v2": {"version": "v2"}, "v3": {"version": "v3"}}
    dr = rt.destination_rule("reviews", NS, "reviews", rt.grown_subsets(None, labels))
    assert dr["spec"] == reference("destination-rule-all.yaml")["spec"]


def test_unknown_subset_is_explained():
    subsets = rt.grown_subsets(reference("destination-rule-all.yaml"), {})
    with pytest.raises(rt.RoutingError) as err:
        rt.check_subsets_defined(["v1", "v9"], subsets, "reviews", NS)
    assert str(err.value).startswith("Subset v9 is not defined in DestinationRule bookinfo/reviews "
                                     "(it defines: v1, v2, v3)")
    assert "subset_labels: {v9: {version: v9}}" in str(err.value)


def test_dr_for_another_host_is_refused():
    with pytest.raises(rt.RoutingError, match="is for host ratings, not reviews"):
        rt.destination_rule("reviews", NS, "reviews", [], live_dr={"spec": {"host": "ratings"}})


def test_safe_order_adds_subsets_before_routing_and_prunes_after():
    live_dr = reference("destination-rule-all.yaml")
    live_vs = declare(None, {"v1": 50, "v3": 50})
    grown = rt.destination_rule("reviews", NS, "reviews", rt.grown_subsets(live_dr, {"v4": {"version": "v4"}}))
    vs = declare(live_vs, {"v1": 90, "v4": 10})
    keep = rt.subsets_used([vs], "reviews", NS)
    assert keep == {"v1", "v4"}
    final = rt.destination_rule("reviews", NS, "reviews", rt.prune_subsets(grown["spec"]["subsets"], keep))
    steps = rt.safe_order(grown, vs, final)
    assert [o["kind"] for o in steps] == ["DestinationRule", "VirtualService", "DestinationRule"]
    # Every state the cluster passes through routes only to defined subsets.
    defined = {s["name"] for s in live_dr["spec"]["subsets"]}
    routed = rt.subsets_used([live_vs], "reviews", NS)
    for obj in steps:
        if obj["kind"] == "DestinationRule":
            defined = {s["name"] for s in obj["spec"]["subsets"]}
        else:
            routed = rt.subsets_used([obj], "reviews", NS)
        assert routed <= defined, "routing to %s while only %s exist" % (routed - defined, defined)
    assert [s["name"] for s in final["spec"]["subsets"]] == ["v1", "v4"]
    assert rt.safe_order(grown, vs, grown) == [grown, vs]


def test_subsets_used_counts_every_virtual_service_of_the_host():
    a = declare(None, {"v1": 100})
    b = declare(None, {"v3": 100}, matches=[{"subset": "v2", "headers": {"x": "y"}}], name="reviews-edge",
                host="reviews.bookinfo.svc.cluster.local")
    other = declare(None, {"v9": 100}, host="ratings", name="ratings")
    assert rt.subsets_used([a, b, other], "reviews", NS) == {"v1", "v2", "v3"}
