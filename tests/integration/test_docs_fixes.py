"""Regression tests of documented paths that broke when followed literally (issue 15): each test runs the
path as a user would, against kubesim or a local HTTP server, and asserts what the user sees and what
was (not) written. The release paths (Bookinfo -> release, rollback after a finished release) are in
test_release_role.py, beside the release role's other tests."""
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.integration import istio_support as s
from tests.integration.istio_support import build_chart_set
from tests.standins import istio_crds


# -- upgrade.yml to a version the chart directory does not hold (docs/control-plane.md) ---------------

def test_upgrade_to_a_version_the_chart_directory_lacks_is_refused_before_any_write(kubesim, run_playbook,
                                                                                     tmp_path):
    sim = kubesim
    charts = str(build_chart_set(tmp_path / "charts", "1.28.0", istio_crds()))
    # Istio 1.28.0 runs (seeded: the precheck reads only istiod's Deployment), the directory holds its charts.
    sim.create_objects([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "istiod", "namespace": "istio-system",
                      "labels": {"app": "istiod", "app.kubernetes.io/version": "1.28.0"}},
         "spec": {"selector": {"matchLabels": {"app": "istiod"}}, "template": {
             "metadata": {"labels": {"app": "istiod"}},
             "spec": {"containers": [{"name": "discovery", "image": "docker.io/istio/pilot:1.28.0"}]}}}}])

    start = len(sim.request_log)
    upgrade = run_playbook("upgrade.yml", sim, {"control_plane_version": "1.28.1", "control_plane_charts": charts})
    assert upgrade.rc != 0
    (msg,) = upgrade.failed_msgs
    assert ("Istio 1.28.1 was asked for, but the chart directory %s holds the base chart only at 1.28.0 "
            "(base/Chart.yaml). Put the 1.28.1 charts there" % charts) in msg, msg
    assert s.writes_since(sim, start) == []
    # Refused in the preflight, where the charts are looked for, after the precheck took it for an upgrade.
    failed = [task for task, _host, result in upgrade.tasks if result.get("failed")]
    assert failed == ["meshops.istio.control_plane : Work out the chart operations of this run"] == [upgrade.tasks[-1][0]]
    (precheck,) = upgrade.results("meshops.istio.control_plane : Check that Istio can be installed here")
    assert precheck["from_version"] == "1.28.0", precheck


# -- prometheus_query with ca_path --------------------------------------------------------------------

class _Counting(BaseHTTPRequestHandler):
    """Answers every query with an empty vector and counts what reached it."""
    requests = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.requests.append(self.path)
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def counting_prometheus():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Counting.requests = []
    yield "127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def _query_play(tmp_path, url, ca_path):
    play = [{"name": "Query Prometheus as the module's documentation shows", "hosts": "all", "gather_facts": False,
             "tasks": [{"name": "Query", "meshops.istio.prometheus_query": {
                 "url": url, "ca_path": ca_path, "bearer_token": "tok-SECRET-1",
                 "query": "sum(rate(istio_requests_total[1m]))"}}]}]
    path = Path(tmp_path) / "query.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    return str(path)


def test_prometheus_query_names_a_missing_ca_path(kubesim, run_playbook, tmp_path, counting_prometheus):
    missing = str(tmp_path / "pki" / "prometheus-ca.pem")
    run = run_playbook(_query_play(tmp_path, "https://" + counting_prometheus, missing), kubesim)
    assert run.rc != 0
    (msg,) = run.failed_msgs
    assert msg.startswith("ca_path %s does not exist or is not a file" % missing), msg
    assert "Cannot reach" not in msg and "tok-SECRET-1" not in run.stdout
    (res,) = run.results("Query")
    assert res["reason"] == "bad_tls"
    assert _Counting.requests == []


def test_prometheus_query_refuses_a_ca_path_on_plain_http(kubesim, run_playbook, tmp_path, counting_prometheus):
    ca = tmp_path / "prometheus-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    url = "http://" + counting_prometheus
    run = run_playbook(_query_play(tmp_path, url, str(ca)), kubesim)
    assert run.rc != 0
    (msg,) = run.failed_msgs
    assert msg.startswith("ca_path is set but the URL %s is plain http://" % url), msg
    assert "use the https:// URL of Prometheus, or drop ca_path" in msg
    assert _Counting.requests == [], "a refused query sends nothing (no token over plain http)"


# -- make test keeps Ansible's state inside the checkout -------------------------------------------------

# What molecule's prerun does (and ansible-lint when not offline): ansible-compat builds this collection and
# installs the copy into its cache directory, which is ANSIBLE_HOME (default ~/.ansible). Offline, because
# collections/requirements.yml (the AWX project's) fetches from GitHub.
PRERUN = ("from pathlib import Path; from ansible_compat.runtime import Runtime; "
          "Runtime(project_dir=Path('.'), isolated=False).prepare_environment(install_local=True, offline=True)")


def _with_home(home, isolated):
    """The environment of a step of scripts/test.sh for a user whose home is ``home``: with or without
    the block it sources (scripts/isolate.sh)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") or k == "ANSIBLE_COLLECTIONS_PATH"}
    base.update(HOME=str(home), PATH="%s:%s:%s" % (REPO / ".tools" / "bin", Path(sys.executable).parent, base["PATH"]),
                ANSIBLE_COLLECTIONS_PATH=str(REPO / ".tools" / "collections"))
    if not isolated:
        return base
    out = subprocess.run(["bash", "-c", 'root="$1"; source "$1/scripts/isolate.sh" && env -0', "-", str(REPO)],
                         env=base, capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.split("\0") if "=" in line)


def _ansible_steps(env):
    """ansible-compat's install path, then a task on localhost (which uses Ansible's temporary folders)."""
    prerun = subprocess.run([sys.executable, "-c", PRERUN], cwd=REPO, env=env, capture_output=True, text=True)
    assert prerun.returncode == 0, prerun.stderr[-2000:]
    ping = subprocess.run(["ansible", "localhost", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
                           "-m", "ansible.builtin.ping"], cwd=REPO, env=env, capture_output=True, text=True)
    assert ping.returncode == 0, ping.stdout + ping.stderr


def test_make_test_leaves_the_users_ansible_home_alone(tmp_path):
    # Without the isolation a user's ~/.ansible gets a built copy of meshops.istio, which then shadows the real
    # collection (ansible-galaxy collection install says "Nothing to do"): the steps really write there.
    exposed = tmp_path / "exposed-home"
    exposed.mkdir()
    _ansible_steps(_with_home(exposed, isolated=False))
    assert (exposed / ".ansible" / "collections" / "ansible_collections" / "meshops" / "istio" / "MANIFEST.json").is_file()

    home = tmp_path / "home"
    home.mkdir()
    env = _with_home(home, isolated=True)
    assert env["ANSIBLE_HOME"] == str(REPO / ".tools" / "ansible-home")
    _ansible_steps(env)
    assert list(home.iterdir()) == [], "nothing is written to the user's home"
    assert (REPO / ".tools" / "ansible-home" / "collections" / "ansible_collections" / "meshops" / "istio" /
            "MANIFEST.json").is_file()
    # make test runs its steps with that block.
    assert 'source "$root/scripts/isolate.sh"' in (REPO / "scripts" / "test.sh").read_text()
