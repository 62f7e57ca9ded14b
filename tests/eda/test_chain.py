"""The event-driven chains for real: meshsim -> Prometheus -> (Alertmanager ->) ansible-rulebook with the
collection's sources and rulebooks -> playbook -> kubesim.

One cluster named primary (the burst playbook's host), one meshsim, one Prometheus with the shipped alerting
rules, one Alertmanager with the shipped route, per module. Without ansible-rulebook or Java the tests fail
saying which is missing (`make setup` installs both), never skip. The reaction time of the burst chain is measured
and written to tests/output/eda_reaction.json, never asserted."""
import datetime
import json
import re
import time
from pathlib import Path

import pytest
import yaml

from scripts import eda
from tests.conftest import REPO, write_inventory
from tests.eda.sources import PROMETHEUS_FILES
from tests.integration import burst_support as b
from sim.alertmanager_harness import AlertmanagerServer
from tests.kubesim_fixtures import _start
from sim.meshsim import KubeReader, MeshSim
from sim.daemon import free_port
from sim.prometheus_harness import PrometheusServer

WEBHOOK_TOKEN = "eda-webhook-token-4711"


def shipped_alertmanager_config(webhook_url, token):
    """extensions/eda/prometheus/alertmanager.yml with the webhook URL of the test's rulebook and its token (what
    the file's comment tells a user to edit)."""
    config = yaml.safe_load((PROMETHEUS_FILES / "alertmanager.yml").read_text())
    (receiver,) = [r for r in config["receivers"] if r["name"] == "meshops-eda"]
    receiver["webhook_configs"][0]["url"] = webhook_url
    receiver["webhook_configs"][0]["http_config"] = {"authorization": {"credentials": token}}
    return config


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    directory = tmp_path_factory.mktemp("eda")
    sim = _start(directory, name="primary", istio_crds=True)
    mesh = MeshSim(KubeReader(sim.kubeconfig_path, sim.name), cluster=sim.name, refresh=0.5).start()
    webhook_port = free_port()
    alertmanager = AlertmanagerServer(
        shipped_alertmanager_config("http://127.0.0.1:%d/alerts" % webhook_port, WEBHOOK_TOKEN)).start()
    prometheus = PrometheusServer([mesh.url], extra_config={
        "rule_files": [str(PROMETHEUS_FILES / "alerts.yml")], "alerting": alertmanager.prometheus_alerting()}).start()
    inventory = write_inventory(directory / "inventory.yml", [sim])
    env = type("Chain", (), dict(sim=sim, mesh=mesh, prometheus=prometheus, alertmanager=alertmanager,
                                 inventory=inventory, webhook_port=webhook_port, dir=directory))
    prometheus.wait_scraped(2)
    yield env
    prometheus.stop()
    alertmanager.stop()
    mesh.stop()
    sim.stop()


def wait(predicate, timeout, what, rulebook):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline or not rulebook.running():
            raise AssertionError("%s did not happen (rulebook %s); its log:\n%s"
                                 % (what, "running" if rulebook.running() else "exited", rulebook.log()[-6000:]))
        time.sleep(0.2)


def vs_writes(sim, ns, name):
    return [r for r in sim.writes() if r.path.endswith("/namespaces/%s/virtualservices/%s" % (ns, name))]


def first_above(prometheus, query, threshold, start, end):
    """Unix time of the first point at which Prometheus's ``query`` is above ``threshold`` (0.1 s resolution)."""
    import urllib.parse
    import urllib.request
    data = urllib.parse.urlencode({"query": query, "start": start, "end": end, "step": "0.1"}).encode()
    with urllib.request.urlopen(prometheus.url + "/api/v1/query_range", data=data, timeout=5) as r:
        result = json.loads(r.read())["data"]["result"]
    for ts, value in (result[0]["values"] if result else []):
        if float(value) > threshold:
            return float(ts)
    return None


def test_burst_rulebook_moves_the_worker_traffic(chain, tmp_path):
    ns, window = "eda-burst", "5s"
    chain.sim.create_objects(b.worker_routing(ns))
    chain.mesh.add_service("worker-service", ns, rate=5, versions=b.worker_versions(), source_workload="frontend-deployment")
    chain.mesh.reload()
    b.wait_rate(chain.prometheus, ns, 3, 7, window=window)
    chain.sim.clear_request_log()
    # initial low: the mesh starts on the primary, as the istiowatcher assumes.
    rulebook = eda.start_burst(chain.prometheus.url, chain.inventory, namespace=ns, poll_interval=1, window=window,
                               initial="low", log_path=tmp_path / "rulebook.log")
    try:
        wait(lambda: "meshops.istio.prometheus_threshold: polling" in rulebook.log(), 60, "the source starting",
             rulebook)
        raised = time.time()
        chain.mesh.set_rate("%s/worker-service" % ns, 20)
        wait(lambda: b.weights(chain.sim, ns) == {"primary": 0, "burst": 100}, 45, "the burst", rulebook)
        (enter,) = vs_writes(chain.sim, ns, b.VS)
        state = json.loads(chain.sim.get_object(b.API, "VirtualService", b.VS, ns)["metadata"]["annotations"][b.ANNOTATION])
        assert state["in_burst"] is True and state["burst_weight"] == 100
        crossed = first_above(chain.prometheus, b.codelab_query(ns, window), 15, raised - 1, enter.time)

        chain.mesh.set_rate("%s/worker-service" % ns, 5)
        wait(lambda: b.weights(chain.sim, ns) == {"primary": 100, "burst": 0}, 45, "the return to primary", rulebook)
        wait(lambda: rulebook.log().count("PLAY RECAP") == 2, 30, "the second playbook run ending", rulebook)
        # One write per crossing: the rulebook ran the playbook once up and once down, nothing in between.
        assert len(vs_writes(chain.sim, ns, b.VS)) == 2
        log = rulebook.log()
        assert log.count("PLAY [Burst worker traffic under load]") == 2, log[-4000:]
        assert "rate given by the caller; Prometheus not asked" in log
    finally:
        rulebook.stop()
        chain.mesh.remove_service("%s/worker-service" % ns)
    # The up event as the rulebook printed it (--print-events): when the source emitted it.
    up = re.search(r"'at': '([^']+)',\s+'direction': 'up'", log)
    emitted = datetime.datetime.fromisoformat(up.group(1)).timestamp() if up else None
    measured = {"load_crossed_15_at": crossed, "event_emitted_at": emitted, "burst_vs_written_at": enter.time,
                "reaction_seconds": round(enter.time - crossed, 2) if crossed else None,
                "event_after_crossing_seconds": round(emitted - crossed, 2) if emitted and crossed else None,
                "playbook_write_after_event_seconds": round(enter.time - emitted, 2) if emitted else None,
                "from_rate_change_seconds": round(enter.time - raised, 2), "window": window, "poll_interval": 1}
    out = Path(REPO) / "tests" / "output"
    out.mkdir(parents=True, exist_ok=True)
    (out / "eda_reaction.json").write_text(json.dumps(measured, indent=1))
    print("EDA burst reaction:", measured)


def test_release_error_rate_alert_rolls_the_release_back(chain, run_playbook, tmp_path):
    from ansible_collections.meshops.istio.plugins.module_utils.release import state as rl
    from ansible_collections.meshops.istio.plugins.module_utils import routing as rt
    from sim.meshsim import bookinfo

    ns = "eda-release"
    bookinfo.seed(chain.sim, ns, virtual_services=["virtual-service-all-v1.yaml"])
    chain.mesh.add_service("reviews", ns, rate=40, versions=["v1", "v2", "v3"], source_workload="productpage-v1")
    chain.mesh.reload()
    start = run_playbook("release.yml", chain.sim, extra_vars={
        "release_namespace": ns, "release_action": "start", "release_steps": "25,100",
        "release_prometheus_url": chain.prometheus.url})
    assert start.rc == 0, start

    def vs():
        return chain.sim.get_object(b.API, "VirtualService", "reviews", ns)

    assert rt.current_split(vs(), "reviews", ns) == {"v1": 75, "v2": 25}
    rulebook = eda.start_rollback(chain.inventory, port=chain.webhook_port, token=WEBHOOK_TOKEN,
                                  log_path=tmp_path / "rulebook.log")
    try:
        wait(lambda: "alertmanager_webhook: listening" in rulebook.log(), 60, "the webhook listening", rulebook)
        chain.sim.clear_request_log()
        broke = time.time()
        chain.mesh.set_version("%s/reviews" % ns, "v2", error_rate=0.5)
        wait(lambda: rt.current_split(vs(), "reviews", ns) == {"v1": 100}, 60, "the rollback", rulebook)
        back = vs_writes(chain.sim, ns, "reviews")
        state = rl.load(vs()["metadata"]["annotations"])
        assert (state["name"], state["phase"]) == ("reviews-v2", "aborted")
        # The alert that did it: the shipped rule, for v2 of reviews in this namespace.
        fired = [a for a in chain.alertmanager.alerts() if a["labels"]["alertname"] == "MeshopsReleaseErrorRate"]
        assert [(a["labels"]["destination_service_namespace"], a["labels"]["destination_version"]) for a in fired] == [
            (ns, "v2")]
        wait(lambda: "PLAY RECAP" in rulebook.log(), 30, "the rollback playbook ending", rulebook)
        log = rulebook.log()
        assert log.count("PLAY [Roll back a release]") == 1, log[-4000:]
        assert WEBHOOK_TOKEN not in log
    finally:
        rulebook.stop()
        chain.mesh.remove_service("%s/reviews" % ns)
    print("EDA rollback reaction: %.2f s from the canary's errors starting to the VirtualService write"
          % (back[0].time - broke))
