"""Start ansible-rulebook with one of the collection's rulebooks (extensions/eda/rulebooks), for demos and tests.

    from scripts import eda
    why = eda.unavailable()              # None, or why ansible-rulebook cannot run here (then poll instead)
    rb = eda.start_burst("http://127.0.0.1:9090", "inventory.yml", namespace="default", log_path="eda.log")
    ...                                  # the load crosses 15 req/s: playbooks/burst.yml runs
    rb.stop()

    rb = eda.start_rollback("inventory.yml", port=5001)   # Alertmanager's webhook URL: rb.webhook_url

``inventory`` is the inventory of the playbooks (the burst playbook acts on its host ``primary``). Each call
starts one ``ansible-rulebook`` process with this checkout as the collection meshops.istio (through
.tools/collections, as `make setup` links it); ``stop()`` ends it and the playbook it may be running.
The command line is the same as a user runs:
    ansible-rulebook -r meshops.istio.burst -i INVENTORY --vars VARS.yml
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def rulebook_command():
    return shutil.which("ansible-rulebook", path="%s:%s" % (BIN, os.environ.get("PATH", "")))


def unavailable():
    """None when ansible-rulebook can run here, else why not (a sentence)."""
    if not rulebook_command():
        return "ansible-rulebook is not installed (pip install ansible-rulebook; `make setup` does)"
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        return "ansible-rulebook needs a Java 17 runtime and none is on PATH (Debian: openjdk-17-jre-headless)"
    return None


class Rulebook:
    """A running ansible-rulebook; its output (the events it receives, the playbooks' output) goes to
    ``log_path``."""

    def __init__(self, rulebook, inventory, variables, log_path=None, env=None, verbosity=1):
        why = unavailable()
        if why:
            raise RuntimeError(why)
        self.dir = Path(tempfile.mkdtemp(prefix="meshops-eda-"))
        self.log_path = Path(log_path) if log_path else self.dir / "ansible-rulebook.log"
        (self.dir / "vars.yml").write_text(yaml.safe_dump(variables))
        run_env = dict(os.environ)
        run_env["PATH"] = "%s:%s:%s" % (REPO / ".tools" / "bin", BIN, run_env.get("PATH", ""))
        run_env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / ".tools" / "collections"))
        # ansible-rulebook runs each playbook in a private data dir under TMPDIR; in ours, stop() removes what a
        # playbook stopped half-way leaves behind.
        run_env["TMPDIR"] = str(self.dir)
        run_env.update(env or {})
        self.command = [rulebook_command(), "-r", "meshops.istio.%s" % rulebook, "-i", str(inventory),
                        "--vars", str(self.dir / "vars.yml"), "--print-events"] + (
                           ["-" + "v" * verbosity] if verbosity else [])
        self._log = open(self.log_path, "a")  # noqa: SIM115  (open as long as the process runs)
        # A session of its own, so that stop() also ends a playbook it started.
        self.proc = subprocess.Popen(self.command, cwd=self.dir, env=run_env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def running(self):
        return self.proc.poll() is None

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout=10):
        if self.running():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_burst(prometheus_url, inventory, namespace="default", high=15, low=10, poll_interval=1, window="15s",
                initial="unknown", log_path=None, env=None):
    """The burst rulebook: playbooks/burst.yml runs when the frontend's load on the worker in ``namespace``
    rises above ``high`` or falls below ``low`` requests per second (polled every ``poll_interval`` s)."""
    variables = {"burst_prometheus_url": prometheus_url, "burst_namespace": namespace, "burst_high": high,
                 "burst_low": low, "burst_poll_interval": poll_interval, "burst_window": window,
                 "burst_initial": initial}
    return Rulebook("burst", inventory, variables, log_path=log_path, env=env)


def start_rollback(inventory, port=5001, host="127.0.0.1", token="", log_path=None, env=None):
    """The release rollback rulebook: Alertmanager posts to ``rb.webhook_url``; playbooks/rollback.yml runs for the
    service of each firing MeshopsReleaseErrorRate alert."""
    variables = {"rollback_webhook_host": host, "rollback_webhook_port": port, "rollback_webhook_token": token}
    rb = Rulebook("release_rollback", inventory, variables, log_path=log_path, env=env)
    rb.webhook_url = "http://%s:%d/alerts" % (host, port)
    return rb
