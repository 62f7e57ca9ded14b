"""`make demo-burst` (scripts/demo_burst.py) run as a user runs it: the worker traffic goes to the burst cluster
under the ramped load and comes back, and nothing the demo started outlives it, also when it is interrupted."""
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import yaml

from scripts import demo_burst, eda
from tests.conftest import REPO
from sim.prometheus_harness import wait_until

BOTH = ("primary", "burst")


def start(directory, *args, **popen):
    return subprocess.Popen([sys.executable, "-m", "scripts.demo_burst", "--dir", str(directory), *args], cwd=REPO,
                            text=True, **popen)


def servers_of(directory):
    return [yaml.safe_load((directory / f"{c}.kubeconfig").read_text())["clusters"][0]["cluster"]["server"]
            for c in BOTH]


def alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def listening(url):
    address = urllib.parse.urlparse(url)
    with socket.socket() as sock:
        return sock.connect_ex((address.hostname, address.port)) == 0


def mentioning(text):
    """Processes whose command line mentions ``text`` (ansible-rulebook, with its Java inside, names the demo's dir)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            pass  # gone meanwhile
    return found


def assert_all_stopped(directory, pgids, urls):
    assert not (directory / "servers.pid").exists()
    assert [pgid for pgid in pgids if alive(pgid)] == []
    assert [url for url in urls if listening(url)] == []
    assert mentioning(str(directory)) == []


# The default (make setup installs ansible-rulebook and Java): the event-driven burst; and the polling burst job.
@pytest.mark.parametrize("driver", ["rulebook", "polling"])
def test_the_load_moves_the_worker_traffic_to_burst_and_back(tmp_path, driver):
    assert eda.unavailable() is None
    directory = tmp_path / "demo"
    # ansible-rulebook keeps its private directory in TMPDIR: it must not be left there.
    (tmp_path / "tmp").mkdir()
    run = start(directory, *(["--driver", driver] if driver == "polling" else []), stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, env=dict(os.environ, TMPDIR=str(tmp_path / "tmp")))
    out, _ = run.communicate(timeout=600)
    assert run.returncode == 0, out[-4000:]
    summary = json.loads((directory / "summary.json").read_text())
    assert summary["ok"] and summary["driver"] == driver
    why = "ansible-rulebook and Java are installed" if driver == "rulebook" else "chosen with --driver"
    assert f"Driver: {driver} ({why})." in out

    # The weights over time: on primary, all on burst while the load is high, back on primary. Once each.
    spans = demo_burst.spans(summary["samples"])
    assert [dict(weights) for _first, _last, weights, _loads in spans] == [
        {"primary": 100, "burst": 0}, {"primary": 0, "burst": 100}, {"primary": 100, "burst": 0}]
    assert [s["load"] for s in summary["samples"]][0] == 5 and summary["samples"][-1]["load"] == 5
    assert 20 in spans[0][3] and spans[1][3] == [20, 5]
    # The burst job decided it: entered above 15 req/s, left below 10, stayed otherwise.
    decisions = summary["decisions"]
    moves = [d for d in decisions if d["action"] != "stay"]
    assert [d["action"] for d in moves] == ["enter", "leave"]
    assert moves[0]["rate"] > 15 and moves[0]["burst_weight"] == 100 and moves[0]["applied"]
    assert moves[1]["rate"] < 10 and moves[1]["burst_weight"] == 0 and moves[1]["applied"]
    assert all(not d["applied"] for d in decisions if d["action"] == "stay")
    if driver == "rulebook":
        # One playbook run a crossing, deciding with the rate of the event.
        assert len(decisions) == 2 and len(list((directory / "rulebook-runs").glob("burst-*.xml"))) == 2
        assert all("rate given by the caller" in d["reason"] for d in decisions)
    # ansible-rulebook's private directory (scripts/eda.py's) and its playbook runs' (ansible-runner's) are gone.
    assert sorted((tmp_path / "tmp").glob("meshops-eda-*")) == []
    # Measured, never asserted on its value: load crossing 15 req/s -> weights on burst.
    assert summary["reaction_seconds"] is not None
    print(f"demo-burst reaction ({driver}): {summary['reaction_seconds']}s")

    # What a newcomer reads: the table as it goes, the folded decision log, the weights over time.
    assert f"=== Decision log of {demo_burst.DRIVERS[driver].title}, times in UTC ===" in out
    folded = [line.split()[1] for line in out.split("=== Decision log")[1].split("\n\n")[0].splitlines()[1:]]
    assert [a for a in folded if a != "stay"] == ["enter", "leave"] and len(folded) == len(demo_burst.fold_stays(decisions))
    assert out.count("=== Weights of worker-virtual-service over time ===") == 1
    assert "primary 0% / burst 100%" in out
    assert "The worker traffic went to the burst cluster under load and came back when the load dropped." in out
    if importlib.util.find_spec("ansible_mitogen") is not None:
        assert "Running the playbooks with Mitogen" in out

    # One kubeconfig with the codelab's contexts, for this user only; the codelab's inventory pointed at it.
    kubeconfig = directory / "kubeconfig"
    assert [c["name"] for c in yaml.safe_load(kubeconfig.read_text())["contexts"]] == list(BOTH)
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    inventory = yaml.safe_load((directory / "mesh.clusters.yml").read_text())
    assert inventory["kubeconfig"] == str(kubeconfig)
    assert [(c["name"], c["context"], c["vars"]["hashapp_cluster_role"]) for c in inventory["clusters"]] == [
        ("onprem", "primary", "primary"), ("burst", "burst", "burst")]

    # Two kubesims, two playbooks, meshsim, Prometheus, the burst job or ansible-rulebook: all gone, ports closed.
    assert len(summary["started"]) == 7 and len(summary["urls"]) == 4
    assert_all_stopped(directory, summary["started"], summary["urls"])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_demo_stops_what_it_started(tmp_path, signum):
    directory = tmp_path / "demo"
    pid_file = directory / "servers.pid"
    with open(tmp_path / "out.log", "w") as log:
        run = start(directory, stdout=log, stderr=subprocess.STDOUT)
        try:
            # Both clusters serve and playbooks/multicluster.yml runs (the third process group).
            wait_until(lambda: pid_file.is_file() and len(pid_file.read_text().split()) >= 3, timeout=120,
                       message="the clusters and the first playbook")
            pgids = [int(pid) for pid in pid_file.read_text().split()]
            servers = servers_of(directory)
            run.send_signal(signum)
            assert run.wait(timeout=60) == 130
        finally:
            if run.poll() is None:
                run.kill()
    out = (tmp_path / "out.log").read_text()
    assert "Interrupted." in out and "Stopped everything the demo started" in out, out[-3000:]
    started = json.loads((directory / "summary.json").read_text())["started"]
    assert started[:len(pgids)] == pgids
    assert_all_stopped(directory, started, servers)


def test_a_failing_step_stops_what_it_started(tmp_path):
    # A strategy Ansible does not have: the first playbook fails as soon as it starts.
    directory = tmp_path / "demo"
    run = start(directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=dict(os.environ, ANSIBLE_STRATEGY="no_such_strategy"))
    out, _ = run.communicate(timeout=300)
    assert run.returncode == 1, out[-3000:]
    assert "playbooks/multicluster.yml failed (exit " in out and "Traceback" not in out
    summary = json.loads((directory / "summary.json").read_text())
    assert not summary["ok"] and summary["samples"] == [] and len(summary["started"]) == 3
    assert_all_stopped(directory, summary["started"], servers_of(directory))
