"""The controlling process killed mid-release (and mid-watch), with real ansible-playbook.

ansible-playbook runs each task in a worker that starts its own session, so a signal to ansible-playbook's process
group never reaches the module: before the fix, `kill -9` of the group left istio_release stepping the release to
promotion with no job attached. Now the module stops at the next step boundary, with the state annotation as the
last step wrote it, and a re-run resumes.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.meshops.istio.plugins.module_utils import burst as bu
from ansible_collections.meshops.istio.plugins.module_utils.release import state as rl
from ansible_collections.meshops.istio.plugins.module_utils import routing as rt
from tests.conftest import REPO, ansible_env, write_inventory
from tests.reliability.faults_support import API, Tally, orphans, violations
from tests.reliability.test_faults import seed_worker
from sim.meshsim import bookinfo
from sim.prometheus_harness import PrometheusServer, wait_until

TALLY = Tally("killed")
RELEASE = str(REPO / "tests" / "integration" / "playbooks" / "istio_release.yml")
BURST = str(REPO / "tests" / "reliability" / "playbooks" / "burst_watch.yml")
INTERVAL = 2
ANALYSIS = {"interval": INTERVAL, "window": "5s", "min_requests": 0, "threshold": 0,
            "checks": [{"name": "prometheus_up", "query": "vector(1)", "min": 1}]}


@pytest.fixture(scope="module")
def env(kubesim_istio_module):
    prometheus = PrometheusServer([]).start()
    yield dict(sim=kubesim_istio_module, prometheus=prometheus)
    prometheus.stop()
    totals = TALLY.totals()
    TALLY.save()
    assert totals["invariant_violations"] == 0 and totals["orphans"] == 0, totals


class Job:
    """One ansible-playbook run in a session of its own, as a terminal or AWX starts it."""

    def __init__(self, tmp_path, sim, playbook, extra):
        self.tag = str(tmp_path)
        inventory = write_inventory(tmp_path / "inventory.yml", [sim])
        (tmp_path / "tmp").mkdir(exist_ok=True)
        # Module files land under the test's own directory, so its processes are told from other tests'.
        self.env = ansible_env(TMPDIR=str(tmp_path / "tmp"), ANSIBLE_REMOTE_TMP=str(tmp_path / "remote"),
                               ANSIBLE_LOCAL_TEMP=str(tmp_path / "local"))
        self.cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, playbook,
                    "-e", json.dumps(extra)]
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     cwd=REPO, env=self.env, start_new_session=True)
        return self

    def run(self):
        return subprocess.run(self.cmd, capture_output=True, text=True, cwd=REPO, env=self.env, timeout=180,
                              check=False)

    def processes(self):
        return orphans(pattern=self.tag)

    def module_pid(self, name):
        found = [pid for pid, cmd in self.processes() if "AnsiballZ_%s" % name in cmd and not cmd.startswith("/bin/sh")]
        return found[0] if found else None


def release_state(sim, ns):
    vs = sim.get_object(API, "VirtualService", "reviews", ns)
    split = rt.current_split(vs, "reviews", ns) or {}
    return rl.load(vs["metadata"].get("annotations")), dict((k, v) for k, v in split.items() if v)


KILLS = {
    "SIGKILL to ansible-playbook's process group": ("group", signal.SIGKILL),
    "SIGTERM to ansible-playbook's process group": ("group", signal.SIGTERM),
    "SIGINT to ansible-playbook's process group": ("group", signal.SIGINT),
    "SIGTERM to the module": ("module", signal.SIGTERM),
}


@pytest.mark.parametrize("kill", list(KILLS))
def test_release_stops_at_the_next_step_when_its_job_is_killed(env, tmp_path, kill):
    sim = env["sim"]
    target, signum = KILLS[kill]
    ns = "fkill-%d" % (list(KILLS).index(kill) + 1)
    bookinfo.seed(sim, ns, destination_rules=True, virtual_services=["virtual-service-all-v1.yaml"])
    extra = {"rel_action": "run", "rel_namespace": ns, "rel_canary": "v2", "rel_steps": [30, 60, 100],
             "rel_analysis": ANALYSIS, "rel_prometheus": {"url": env["prometheus"].url}}
    job = Job(tmp_path, sim, RELEASE, extra).start()
    wait_until(lambda: job.module_pid("istio_release") and (release_state(sim, ns)[0] or {}).get("step", -1) >= 0,
               timeout=60, message="the release started")
    if target == "group":
        os.killpg(job.proc.pid, signum)
    else:
        os.kill(job.module_pid("istio_release"), signum)
    output = job.proc.communicate(timeout=60)[0]
    # The module notices within a poll of its wait between steps.
    wait_until(lambda: not job.processes(), timeout=15, message="no process of the job left")
    left = job.processes()
    stopped_at = release_state(sim, ns)
    # Nothing moves any more: a full analysis interval and more later, the release is where the kill left it.
    time.sleep(INTERVAL * 1.5)
    state, split = release_state(sim, ns)
    found = violations(sim, ns)
    TALLY.add("release", kill, "process", stopped_at[0]["step"], "stopped at step %d" % (stopped_at[0]["step"] + 1),
              1, found, len(left))
    assert left == [] and found == []
    assert (state, split) == stopped_at
    assert state["phase"] == "progressing" and state["step"] < 2, state
    assert split == dict((k, v) for k, v in rl.weights_at(state, state["plan"][state["step"]]).items() if v)
    if target == "module":
        assert "stopped between two steps because it received SIGTERM" in output, output[-3000:]
    # A re-run resumes where it stopped and promotes.
    again = job.run()
    assert again.returncode == 0, again.stdout[-3000:]
    state, split = release_state(sim, ns)
    assert state["phase"] == "succeeded" and split == {"v2": 100}
    assert [h["event"] for h in state["history"]].count("start") == 1
    assert violations(sim, ns) == []


def test_burst_watch_stops_when_its_job_is_killed(env, tmp_path):
    sim = env["sim"]
    ns = "fkill-burst"
    seed_worker(sim, ns)
    extra = {"burst_namespace": ns, "burst_prometheus": {"url": env["prometheus"].url}, "burst_query": "vector(20)",
             "burst_interval": 1, "burst_max_checks": 600}

    def annotated():
        vs = sim.get_object(API, "VirtualService", "worker-virtual-service", ns)
        return bu.STATE_ANNOTATION in (vs["metadata"].get("annotations") or {})

    job = Job(tmp_path, sim, BURST, extra).start()
    wait_until(lambda: job.module_pid("istio_burst") and annotated(), timeout=60, message="the first check")
    os.killpg(job.proc.pid, signal.SIGKILL)
    job.proc.communicate(timeout=60)
    wait_until(lambda: not job.processes(), timeout=15, message="no process of the job left")
    left = job.processes()
    found = violations(sim, ns)
    TALLY.add("burst", "SIGKILL to ansible-playbook's process group", "process", 0, "stopped", 1, found, len(left))
    assert left == [] and found == []
    extra["burst_max_checks"] = 1
    again = Job(tmp_path, sim, BURST, extra).run()
    assert again.returncode == 0, again.stdout[-3000:]
    assert violations(sim, ns) == []
