"""meshsim honours fortio load Jobs: traffic from the Job's workload to the URL's Service, at -qps, for -t."""
import datetime
import json
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from tests.conftest import REPO
from sim.meshsim import MeshSim, loadjobs
from sim.prometheus_harness import wait_until


def job(name, args, namespace="shop", created=None, command=None):
    created = created or datetime.datetime.now(datetime.timezone.utc)
    container = {"name": "fortio", "image": "fortio/fortio:latest_release", "args": args}
    if command:
        container["command"] = command
    return {"metadata": {"name": name, "namespace": namespace,
                         "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "spec": {"template": {"spec": {"containers": [container]}}}}


@pytest.mark.parametrize("args,expected", [
    (["load", "-qps", "20", "-t", "30s", "-c", "4", "-allow-initial-errors", "http://reviews.shop:9080/"],
     dict(qps=20.0, t=30.0, n=0, c=4, url="http://reviews.shop:9080/")),
    (["load", "-qps=7.5", "-t=1m30s", "-n", "100", "reviews"], dict(qps=7.5, t=90.0, n=100, c=4, url="reviews")),
    (["load", "-t", "0", "-H", "x-a: b", "http://cart.other.svc.cluster.local:80/x"],
     dict(qps=8.0, t=0.0, n=0, c=4, url="http://cart.other.svc.cluster.local:80/x")),
    (["server"], None),
    (["load", "-qps", "5"], None),
])
def test_fortio_arguments(args, expected):
    assert loadjobs.fortio_load(args) == expected


def test_jobs_that_are_not_loads_are_ignored():
    assert loadjobs.parse(job("migrate", ["--all"])) is None
    assert loadjobs.parse(job("idle", ["load", "-qps", "0", "http://reviews:9080/"])) is None
    gone = job("old", ["load", "-qps", "5", "http://reviews:9080/"])
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert loadjobs.parse(gone) is None
    load = loadjobs.parse(job("l", ["load", "http://reviews:9080/"], command=["fortio"]))
    assert load.service == ("reviews", "shop") and load.qps == 8.0
    assert loadjobs.parse(job("l", ["load", "http://cart.other:80/"])).service == ("cart", "other")


class Reader:
    """Routing of nothing (every version shares the traffic) and the Jobs a test puts here."""

    def __init__(self):
        self.items = []

    def __call__(self, namespace):
        return [], []

    def jobs(self, namespace):
        return [j for j in self.items if j["metadata"]["namespace"] == namespace]


def test_a_load_job_is_traffic_from_its_workload_for_its_duration():
    reader = Reader()
    mesh = MeshSim(reader, refresh=0.2, seed=3, follow_jobs=True).start()
    try:
        mesh.add_service("reviews", "shop", rate=0, versions=["v1", "v2"], source_workload="productpage-v1")
        # -t counts from the Job's creation (seconds, as the API server stamps it).
        reader.items = [job("reviews-v2-load-1", ["load", "-qps", "50", "-t", "3s", "http://reviews.shop:9080/"])]
        wait_until(lambda: mesh.metrics.totals(source_workload="reviews-v2-load-1", reporter="destination") > 40,
                   timeout=10, message="requests from the load Job")
        assert mesh.metrics.totals(source_workload="productpage-v1") == 0
        assert mesh.state()["loads"]["shop/reviews-v2-load-1"]["service"] == "shop/reviews"
        # After its duration the Job sends nothing more, though it is still there.
        time.sleep(4)
        sent = mesh.metrics.totals(source_workload="reviews-v2-load-1", reporter="destination")
        assert 60 <= sent <= 200
        time.sleep(1)
        assert mesh.metrics.totals(source_workload="reviews-v2-load-1", reporter="destination") == sent
        # A Job without an end stops when it is deleted.
        reader.items = [job("endless", ["load", "-qps", "50", "-t", "0", "reviews"])]
        wait_until(lambda: mesh.metrics.totals(source_workload="endless") > 0, timeout=10, message="endless load")
        reader.items = []
        mesh.reload()
        stopped = mesh.metrics.totals(source_workload="endless")
        time.sleep(0.5)
        assert mesh.metrics.totals(source_workload="endless") == stopped and mesh.state()["loads"] == {}
    finally:
        mesh.stop()


def test_jobs_are_read_only_when_asked():
    reader = Reader()
    reader.items = [job("reviews-v2-load-1", ["load", "-qps", "50", "-t", "0", "http://reviews.shop:9080/"])]
    mesh = MeshSim(reader, refresh=0.2, seed=3).start()
    try:
        mesh.add_service("reviews", "shop", rate=0, versions=["v1"])
        mesh.reload()
        time.sleep(0.5)
        assert mesh.state()["loads"] == {} and mesh.metrics.totals(source_workload="reviews-v2-load-1") == 0
    finally:
        mesh.stop()


@pytest.mark.parametrize("follow", [True, False])
def test_the_command_line_follows_load_jobs_when_asked(kubesim_istio, tmp_path, follow):
    """`python -m sim.meshsim --follow-jobs` (what scripts/demo.py starts): a fortio Job in a simulated service's
    namespace is a client; without the flag it is not."""
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump(kubesim_istio.kubeconfig("cli")))
    kubesim_istio.create_objects([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
                            dict(job("reviews-v2-load-1", ["load", "-qps", "40", "-t", "0", "http://reviews.shop:9080/"]),
                                 apiVersion="batch/v1", kind="Job")])
    proc = subprocess.Popen([sys.executable, "-m", "sim.meshsim", "--kubeconfig", str(config), "--context", "cli",
                             "--service", "reviews:shop:v1,v2", "--rate", "0"] + (["--follow-jobs"] if follow else []),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("meshsim on http://"), line + (proc.stderr.read() if proc.poll() is not None else "")
        url = line.split()[2]

        def state():
            with urllib.request.urlopen(url + "/state", timeout=10) as response:
                return json.loads(response.read())

        wait_until(lambda: state()["refreshes"] >= 3, timeout=20, message="meshsim refreshes")
        if follow:
            wait_until(lambda: state()["services"]["shop/reviews"]["requests"]["v1"]
                       + state()["services"]["shop/reviews"]["requests"]["v2"] > 20, timeout=20,
                       message="requests from the load Job")
            assert list(state()["loads"]) == ["shop/reviews-v2-load-1"]
        else:
            time.sleep(1)
            now = state()
            assert now["loads"] == {} and sum(now["services"]["shop/reviews"]["requests"].values()) == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
