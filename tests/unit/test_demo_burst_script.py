"""scripts/demo_burst.py's report: the decision log with runs of "stay" folded, the weights over time, and what it
says when the traffic did not move (the full run is tests/integration/test_demo_burst.py)."""
import io
import json
import urllib.error

import pytest

from scripts import demo_burst

PRIMARY, BURST = {"primary": 100, "burst": 0}, {"primary": 0, "burst": 100}


def decision(second, action, rate, weight):
    return {"at": "2026-01-31T17:04:%02dZ" % second, "action": action, "rate": rate, "burst_weight": weight,
            "reason": "%s req/s: something" % rate}


def sample(second, load, weights):
    return {"second": second, "load": load, "rate": float(load), "weights": weights}


def test_runs_of_stay_fold_into_one_line(capsys):
    decisions = [decision(0, "stay", None, 0), decision(2, "stay", 5.0, 0), decision(4, "enter", 18.5, 100),
                 decision(6, "stay", 19.0, 100), decision(8, "leave", 6.4, 0), decision(10, "stay", 5.0, 0)]
    assert [(first, last, count) for first, last, count, _d in demo_burst.fold_stays(decisions)] == [
        (0, 1, 2), (2, 2, 1), (3, 3, 1), (4, 4, 1), (5, 5, 1)]

    class Driver:
        title = "a driver"

    demo_burst.report(Driver, decisions, [sample(0, 5, PRIMARY)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "=== Decision log of a driver, times in UTC ==="
    # A run without a sample at its start shows the rates it had; a lone decision shows its own.
    assert lines[2].split() == ["17:04:00-17:04:02", "stay", "x2", "5.00", "req/s", "burst", "0%", "something"]
    assert lines[3].split()[:4] == ["17:04:04", "enter", "18.50", "req/s"]
    assert lines[4].split()[:5] == ["17:04:06", "stay", "19.00", "req/s", "burst"]
    assert len(lines) == 2 + 5 + 3


def test_weights_over_time_are_spans_of_equal_weights():
    samples = [sample(0, 5, PRIMARY), sample(2, 20, PRIMARY), sample(4, 20, BURST), sample(6, 5, BURST),
               sample(8, 5, PRIMARY)]
    assert demo_burst.spans(samples) == [(0, 2, PRIMARY, [5, 20]), (4, 6, BURST, [20, 5]), (8, 8, PRIMARY, [5])]
    assert demo_burst.outcome(samples)[0] is True


def test_the_demo_says_when_the_traffic_did_not_move_or_did_not_come_back():
    ok, message = demo_burst.outcome([sample(0, 5, PRIMARY), sample(2, 20, PRIMARY)])
    assert not ok and message.startswith("The worker traffic never moved to burst")
    ok, message = demo_burst.outcome([sample(0, 20, BURST), sample(2, 5, BURST)])
    assert not ok and message == "The worker traffic did not come back to primary before the ramp ended."


def test_the_clusters_share_one_kubeconfig(tmp_path):
    paths = []
    for name in ("primary", "burst"):
        path = tmp_path / name
        path.write_text("clusters: [{name: %s}]\nusers: [{name: %s-admin}]\ncontexts: [{name: %s}]\n" % (name, name, name))
        paths.append(path)
    merged = demo_burst.merge_kubeconfigs(paths)
    assert [c["name"] for c in merged["contexts"]] == ["primary", "burst"]
    assert [u["name"] for u in merged["users"]] == ["primary-admin", "burst-admin"]
    assert merged["current-context"] == "primary"


def test_a_prometheus_still_opening_its_storage_has_no_rate_yet():
    class Lab:
        def __init__(self, code):
            self.code = code

        def rate(self):
            raise urllib.error.HTTPError("http://127.0.0.1:1/api/v1/query", self.code, "status", {}, None)

    assert demo_burst.first_rate(Lab(503)) is None
    with pytest.raises(urllib.error.HTTPError):
        demo_burst.first_rate(Lab(400))


def test_the_ramp_steps_by_elapsed_time():
    # RAMP is 5 req/s for 10 s, 20 for 20 s, 5 for 20 s.
    assert demo_burst.RAMP == ((5, 10), (20, 20), (5, 20))
    assert [demo_burst.step_at(t) for t in (0, 9.9, 10, 29.9, 30, 49.9, 50, 70)] == [0, 0, 1, 1, 2, 2, None, None]


def junit_report(directory, when, cases):
    """A report as ansible.builtin.junit writes one for a playbook run: (name, result or None for a failure)."""
    body = "".join(
        '<testcase name="[primary] Burst worker traffic under load: %s"><system-out>%s</system-out></testcase>'
        % (name, json.dumps(result).replace("&", "&amp;").replace("<", "&lt;")) if result is not None else
        '<testcase name="[primary] Burst worker traffic under load: %s"><failure message="boom">{}</failure></testcase>'
        % name for name, result in cases)
    (directory / ("burst-%s.xml" % when)).write_text(
        '<?xml version="1.0" ?><testsuites><testsuite name="burst">%s</testsuite></testsuites>' % body)


CHECK = "burst : " + demo_burst.CHECK_TASK


def test_the_rulebook_decisions_come_from_the_playbook_runs_in_the_order_they_ran(tmp_path):
    enter, leave = decision(4, "enter", 18.5, 100), decision(30, "leave", 6.4, 0)
    # 999.5 sorts after 1000.25 as text: the order is the runs' time, not the file names'.
    junit_report(tmp_path, "1000.25", [("burst : Check the inputs", {"changed": False}),
                                        (CHECK, {"changed": True, "decisions": [leave]})])
    junit_report(tmp_path, "999.5", [(CHECK, {"changed": True, "decisions": [enter]}),
                                      ("Publish where the worker traffic goes, for the workflow", {"changed": False})])
    assert demo_burst.rulebook_decisions(tmp_path) == [enter, leave]
    assert demo_burst.rulebook_decisions(tmp_path / "none") == []


def test_a_failed_or_incomplete_rulebook_run_is_an_error(tmp_path):
    junit_report(tmp_path, "1000.0", [(CHECK, None)])
    with pytest.raises(ValueError, match=r"A burst playbook run failed \(burst-1000.0.xml\): .*Check the worker load"):
        demo_burst.rulebook_decisions(tmp_path)
    (tmp_path / "burst-1000.0.xml").unlink()
    junit_report(tmp_path, "1001.0", [("burst : Check the inputs", {"changed": False})])
    with pytest.raises(ValueError, match="has 0 results of the task 'Check the worker load and set the weights'"):
        demo_burst.rulebook_decisions(tmp_path)


def test_the_driver_is_the_rulebook_where_it_can_run(monkeypatch):
    monkeypatch.setattr(demo_burst.eda, "unavailable", lambda: None)
    assert demo_burst.choose_driver() == ("rulebook", "ansible-rulebook and Java are installed")
    assert demo_burst.choose_driver("polling") == ("polling", "chosen with --driver")
    monkeypatch.setattr(demo_burst.eda, "unavailable", lambda: "ansible-rulebook is not installed (pip install ...)")
    assert demo_burst.choose_driver() == ("polling", "ansible-rulebook is not installed (pip install ...)")
    assert sorted(demo_burst.DRIVERS) == ["polling", "rulebook"]


def test_the_rulebook_driver_watches_on_while_a_playbook_it_started_runs(tmp_path):
    class Rulebook:
        dir = tmp_path
        alive = True

        def running(self):
            return self.alive

    driver = demo_burst.RulebookDriver(type("Lab", (), {"directory": tmp_path}))
    driver.rulebook, driver.until = Rulebook(), float("inf")
    assert driver.busy()
    driver.until = 0.0
    assert not driver.busy()
    # ansible-rulebook's private directory of a playbook run (ansible-runner's), there while it runs.
    (tmp_path / "edax1y2z3").mkdir()
    assert driver.busy()
    Rulebook.alive = False
    assert not driver.busy()


def test_the_reaction_runs_from_the_crossing_to_the_enter_decision_within_its_second(monkeypatch):
    asked = []

    def urlopen(url, timeout):
        asked.append(url)
        values = [[99.9, "9.5"], [100.0, "14.9"], [100.3, "16"], [100.4, "15.5"]]
        return io.BytesIO(json.dumps({"data": {"result": [{"values": values}]}}).encode())

    monkeypatch.setattr(demo_burst.urllib.request, "urlopen", urlopen)
    lab = type("Lab", (), {"prometheus_url": "http://127.0.0.1:1"})
    enter = {"at": "1970-01-01T00:01:42Z", "action": "enter"}
    assert demo_burst.reaction(lab, [{"at": "1970-01-01T00:01:30Z", "action": "stay"}, enter], 90) == [1.7, 2.7]
    assert "start=90&end=103.0&step=0.1" in asked[0]
    # A decision in the second of the crossing: its time was cut to the whole second before it.
    assert demo_burst.reaction(lab, [dict(enter, at="1970-01-01T00:01:40Z")], 90) == [0.0, 0.7]
    assert demo_burst.reaction(lab, [dict(enter, action="stay")], 90) is None
    assert demo_burst.reaction(lab, [enter], 90, high=20) is None
