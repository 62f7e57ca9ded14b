"""istio_traffic by real ansible-playbook against kubesim: the seed scenarios, lifecycle, safe order, bad input."""
import pytest

from tests.conftest import REPO
from sim.meshsim import bookinfo

PLAYBOOK = str(REPO / "tests" / "integration" / "playbooks" / "istio_traffic.yml")
TASK = "Declare the routing"
NS = "bookinfo"
API = "networking.istio.io/v1"
LABELS = {"v1": {"version": "v1"}, "v2": {"version": "v2"}, "v3": {"version": "v3"}}


def reference_spec(file_name, name="reviews"):
    """The spec of ``name`` in Istio's samples/bookinfo/networking/<file_name>, as meshsim builds it
    (tests/unit/test_standins.py checks those objects against the sample files)."""
    for doc in bookinfo.objects("networking/" + file_name):
        if doc["metadata"]["name"] == name:
            return doc["spec"]
    raise AssertionError(file_name)


def items(run):
    (res,) = run.results(TASK)
    return res.get("results", [res])


@pytest.fixture
def cluster(kubesim_istio):
    bookinfo.seed(kubesim_istio, NS, destination_rules=False)
    return kubesim_istio


def test_seed_scenarios_end_to_end(cluster, run_playbook):
    """all v1 -> 90/10 -> all v2 -> v2/v3 50/50 -> jason to v2, others v3 -> mirror v1 to v2."""
    steps = [
        {"subsets": {"v1": 100}, "subset_labels": LABELS},
        {"subsets": {"v1": 90, "v2": 10}},
        {"subsets": {"v1": 0, "v2": 100}},
        {"subsets": {"v2": 50, "v3": 50}},
        {"subsets": {"v3": 100}, "match": [{"subset": "v2", "headers": {"end-user": {"exact": "jason"}}}]},
        {"subsets": {"v1": 100}, "mirror": {"subset": "v2", "percent": 100}},
    ]
    run = run_playbook(PLAYBOOK, cluster, extra_vars={"traffic_steps": steps})
    assert run.rc == 0, run
    results = items(run)
    assert [r["changed"] for r in results] == [True] * 6
    assert results[0]["previous"] is None and results[0]["subsets_added"] == ["v1", "v2", "v3"]
    assert [o["action"] for o in results[0]["objects"]] == ["created", "created"]
    assert results[0]["virtual_service"]["spec"] == reference_spec("virtual-service-all-v1.yaml")
    assert results[1]["virtual_service"]["spec"] == reference_spec("virtual-service-reviews-90-10.yaml")
    assert (results[1]["previous"], results[1]["split"]) == ({"v1": 100}, {"v1": 90, "v2": 10})
    assert results[2]["split"] == {"v2": 100}
    assert results[3]["virtual_service"]["spec"] == reference_spec("virtual-service-reviews-v2-v3.yaml")
    assert results[4]["virtual_service"]["spec"] == reference_spec("virtual-service-reviews-jason-v2-v3.yaml")
    assert results[4]["match"] == [{"subsets": {"v2": 100}, "name": None,
                                    "match": [{"headers": {"end-user": {"exact": "jason"}}}]}]
    assert results[5]["mirror"] == {"subset": "v2", "percent": 100.0} and results[5]["match"] == []
    vs = cluster.get_object(API, "VirtualService", "reviews", NS)
    assert vs["spec"]["http"] == [{"route": [{"destination": {"host": "reviews", "subset": "v1"}}],
                                   "mirror": {"host": "reviews", "subset": "v2"}, "mirrorPercentage": {"value": 100}}]
    dr = cluster.get_object(API, "DestinationRule", "reviews", NS)
    assert dr["spec"] == reference_spec("destination-rule-all.yaml")


def test_check_apply_rerun_diff_absent(cluster, run_playbook):
    declare = {"traffic_steps": [{"subsets": {"v1": 90, "v2": 10}, "subset_labels": LABELS, "timeout": "5s",
                                  "retries": {"attempts": 2, "perTryTimeout": "2s"}}]}
    check = run_playbook(PLAYBOOK, cluster, extra_vars=declare, check=True, diff=True)
    assert check.rc == 0, check
    assert items(check)[0]["changed"] and items(check)[0]["split"] == {"v1": 90, "v2": 10}
    assert cluster.writes() == [], "check mode writes nothing"
    assert any(r.dry_run for r in cluster.request_log), "check mode asks the server (dry run)"
    assert cluster.get_object(API, "VirtualService", "reviews", NS) is None

    first = run_playbook(PLAYBOOK, cluster, extra_vars=declare, diff=True)
    assert first.rc == 0 and first.changed == 1, first
    res = items(first)[0]
    assert res["diff"]["before"] == {}
    after = res["diff"]["after"]
    assert set(after) == {"DestinationRule/bookinfo/reviews", "VirtualService/bookinfo/reviews"}
    assert after["VirtualService/bookinfo/reviews"]["spec"]["http"][0]["timeout"] == "5s"
    route = cluster.get_object(API, "VirtualService", "reviews", NS)["spec"]["http"][0]
    assert route["retries"] == {"attempts": 2, "perTryTimeout": "2s"}

    cluster.clear_request_log()
    again = run_playbook(PLAYBOOK, cluster, extra_vars=declare, diff=True)
    assert again.rc == 0 and again.changed == 0, again
    assert cluster.writes() == [], "a converged host is not written"
    assert "diff" not in items(again)[0]
    # Omitting timeout/retries keeps them; other declared parts are the same: still nothing to do.
    same = run_playbook(PLAYBOOK, cluster, extra_vars={"traffic_steps": [{"subsets": {"v1": 90, "v2": 10}}]})
    assert same.rc == 0 and same.changed == 0, same

    gone = run_playbook(PLAYBOOK, cluster, extra_vars={"traffic_steps": [{"state": "absent"}]}, diff=True)
    assert gone.rc == 0 and gone.changed == 1, gone
    res = items(gone)[0]
    assert res["previous"] == {"v1": 90, "v2": 10} and res["split"] is None
    assert [(o["kind"], o["action"]) for o in res["objects"]] == [("DestinationRule", "unchanged"),
                                                                  ("VirtualService", "deleted")]
    assert cluster.get_object(API, "VirtualService", "reviews", NS) is None
    assert cluster.get_object(API, "DestinationRule", "reviews", NS) is not None, "the DR is kept"
    gone_again = run_playbook(PLAYBOOK, cluster, extra_vars={"traffic_steps": [{"state": "absent"}]})
    assert gone_again.rc == 0 and gone_again.changed == 0, gone_again


def test_subsets_are_added_before_and_pruned_after_the_virtual_service(cluster, run_playbook):
    cluster.create_objects(bookinfo.reference_objects("networking/destination-rule-reviews.yaml", namespace=NS))
    cluster.create_objects(bookinfo.reference_objects("networking/virtual-service-reviews-50-v3.yaml", namespace=NS))
    cluster.clear_request_log()
    run = run_playbook(PLAYBOOK, cluster, extra_vars={"traffic_steps": [{
        "subsets": {"v1": 90, "v4": 10}, "subset_labels": {"v4": {"version": "v4"}}, "prune_subsets": True}]})
    assert run.rc == 0, run
    res = items(run)[0]
    assert (res["subsets_added"], res["subsets_removed"]) == (["v4"], ["v2", "v3"])
    writes = [(w.method, w.path.rsplit("/", 2)[-2]) for w in cluster.writes()]
    assert writes == [("PATCH", "destinationrules"), ("PATCH", "virtualservices"), ("PATCH", "destinationrules")]
    dr = cluster.get_object(API, "DestinationRule", "reviews", NS)
    assert [s["name"] for s in dr["spec"]["subsets"]] == ["v1", "v4"]
    assert dr["spec"]["trafficPolicy"] == {"loadBalancer": {"simple": "RANDOM"}}, "left alone"


def test_prune_keeps_subsets_other_virtual_services_use(cluster, run_playbook):
    cluster.create_objects(bookinfo.reference_objects("networking/destination-rule-all.yaml", namespace=NS))
    cluster.create_objects([{"apiVersion": API, "kind": "VirtualService",
                             "metadata": {"name": "reviews-testers", "namespace": NS},
                             "spec": {"hosts": ["reviews.bookinfo.svc.cluster.local"], "gateways": ["edge"],
                                      "http": [{"route": [{"destination": {"host": "reviews", "subset": "v3"}}]}]}}])
    run = run_playbook(PLAYBOOK, cluster, extra_vars={"traffic_steps": [{"subsets": {"v1": 100},
                                                                         "prune_subsets": True}]})
    assert run.rc == 0, run
    assert items(run)[0]["subsets_removed"] == ["v2"]


def test_other_routes_and_fields_are_left_alone(cluster, run_playbook):
    cluster.create_objects(bookinfo.reference_objects("networking/destination-rule-all.yaml", namespace=NS))
    faulty = {"match": [{"headers": {"end-user": {"exact": "jason"}}}],
              "fault": {"abort": {"httpStatus": 500, "percentage": {"value": 100}}},
              "route": [{"destination": {"host": "reviews", "subset": "v1"}}]}
    admin = {"match": [{"uri": {"prefix": "/admin"}}], "route": [{"destination": {"host": "details"}}]}
    cluster.create_objects([{"apiVersion": API, "kind": "VirtualService",
                             "metadata": {"name": "reviews", "namespace": NS, "labels": {"team": "books"}},
                             "spec": {"hosts": ["reviews"], "gateways": ["mesh"], "http": [
                                 admin, faulty, {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]}}])
    run = run_playbook(PLAYBOOK, cluster, extra_vars={"traffic_steps": [{"subsets": {"v1": 50, "v2": 50}}]})
    assert run.rc == 0, run
    vs = cluster.get_object(API, "VirtualService", "reviews", NS)
    assert vs["metadata"]["labels"] == {"team": "books"}
    assert vs["spec"]["gateways"] == ["mesh"]
    assert vs["spec"]["http"][:2] == [admin, faulty]
    assert vs["spec"]["http"][2]["route"][1] == {"destination": {"host": "reviews", "subset": "v2"}, "weight": 50}


def test_bad_input_is_refused_with_a_clear_message_and_nothing_changes(cluster, run_playbook):
    cluster.create_objects(bookinfo.reference_objects("networking/destination-rule-all.yaml", namespace=NS))
    cluster.create_objects(bookinfo.reference_objects("networking/virtual-service-all-v1.yaml", namespace=NS))
    cluster.clear_request_log()
    bad = [
        {"subsets": {"v1": 90, "v2": 20}},
        {"subsets": {"v1": 110, "v2": -10}},
        {"subsets": {"v1": 90.5, "v2": 9.5}},
        {"subsets": {"v1": 90, "v9": 10}},
        {"subsets": {"v1": 100}, "mirror": {"subset": "v2", "percent": 0}},
        {"subsets": {"v1": 100}, "match": [{"subset": "v2"}]},
        {"subsets": {"v1": 100}, "timeout": "soon"},
        {"service": "reviewz", "subsets": {"v1": 100}},
        {"service": "reviews", "namespace": "nowhere", "subsets": {"v1": 100}},
    ]
    run = run_playbook(PLAYBOOK, cluster, extra_vars={"traffic_steps": bad})
    assert run.rc != 0
    msgs = [r.get("msg", "") for r in items(run)]
    assert all(r.get("failed") for r in items(run)), msgs
    assert "Subsets add up to 110, not 100 (v1=90, v2=20)" in msgs[0]
    assert "The weight of subset v1 is 110; weights go from 0 to 100" in msgs[1]
    assert "The weight of subset v1 is 90.5, not a whole number" in msgs[2]
    assert msgs[3].startswith("Subset v9 is not defined in DestinationRule bookinfo/reviews (it defines: v1, v2, v3)")
    assert "more than 0 and at most 100" in msgs[4]
    assert "match[0] needs headers or cookie" in msgs[5]
    assert "timeout is 'soon', not a duration" in msgs[6]
    assert msgs[7].startswith("Service bookinfo/reviewz does not exist")
    assert msgs[8].startswith("Service nowhere/reviews does not exist")
    assert all("Traceback" not in m for m in msgs)
    assert cluster.writes() == []


def test_without_istio_the_message_says_so(kubesim, run_playbook):
    bookinfo.seed(kubesim, NS, destination_rules=False)
    run = run_playbook(PLAYBOOK, kubesim, extra_vars={"traffic_steps": [{"subsets": {"v1": 100}}]})
    assert run.rc != 0
    assert "Istio is not installed in this cluster" in items(run)[0]["msg"]
