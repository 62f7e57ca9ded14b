"""The command line: `python -m sim.kubesim` serves until killed and writes a kubeconfig."""
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.standins import istio_crds

REPO = Path(__file__).resolve().parents[2]
CRDS = istio_crds()


def test_cli_serves_kubectl_until_terminated(tmp_path):
    kubeconfig = tmp_path / "cli.kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "sim.kubesim", "--port", "0", "--kubeconfig",
                             str(kubeconfig), "--name", "cli", "--crds", str(CRDS)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"serving https://127\.0\.0\.1:(\d+) \(port (\d+)\)", line)
        assert match, line + proc.stderr.read() if proc.poll() is not None else line
        port = int(match.group(2))
        assert port > 0
        config = json.loads(subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "config", "view", "--raw",
                                            "-o", "json"], capture_output=True, text=True, check=True).stdout)
        assert config["current-context"] == "cli"
        assert config["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{port}"
        out = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "get", "crd",
                              "virtualservices.networking.istio.io", "-o", "name"],
                             capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "customresourcedefinition.apiextensions.k8s.io/virtualservices.networking.istio.io"
        applied = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "apply", "-f", "-"],
                                 input="apiVersion: v1\nkind: Namespace\nmetadata: {name: from-cli}\n",
                                 capture_output=True, text=True, timeout=60)
        assert applied.stdout.strip() == "namespace/from-cli created"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


def test_cli_refuses_a_port_in_use(kubesim, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sim.kubesim", "--port", str(kubesim.port), "--kubeconfig",
                           str(tmp_path / "x.kubeconfig")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith("kubesim: cannot start:")
    assert not (tmp_path / "x.kubeconfig").exists()


def test_cli_reports_a_missing_crd_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sim.kubesim", "--port", "0", "--kubeconfig",
                           str(tmp_path / "x.kubeconfig"), "--crds", str(tmp_path / "nope.yaml")],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "nope.yaml" in proc.stderr and "Traceback" not in proc.stderr
