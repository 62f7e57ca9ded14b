"""A real Alertmanager (the Debian package's /usr/bin/prometheus-alertmanager) for tests.

    am = AlertmanagerServer(config_dict).start()     # http://127.0.0.1:PORT, no cluster gossip
    prometheus = PrometheusServer([...], extra_config={"alerting": am.prometheus_alerting(), "rule_files": [...]})
    am.alerts()                                       # the alerts it holds now (API v2)
    am.stop()
"""
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from sim.prometheus_harness import free_port

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or "/usr/bin/prometheus-alertmanager"


class AlertmanagerServer:
    def __init__(self, config, port=None):
        self.config = config
        self.port = port or free_port()
        self.dir = None
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def prometheus_alerting(self):
        """Prometheus's ``alerting`` section that sends to this Alertmanager."""
        return {"alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:%d" % self.port]}]}]}

    def start(self, timeout=30):
        self.dir = Path(tempfile.mkdtemp(prefix="alertmanager-"))
        (self.dir / "alertmanager.yml").write_text(yaml.safe_dump(self.config))
        self.log = open(self.dir / "alertmanager.log", "w")  # noqa: SIM115  (lives as long as the server)
        # --cluster.listen-address= turns gossip off: one instance, no port 9094 shared between tests.
        self.proc = subprocess.Popen(
            [BINARY, "--config.file=%s" % (self.dir / "alertmanager.yml"), "--storage.path=%s" % (self.dir / "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--cluster.listen-address=", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("alertmanager exited: %s" % (self.dir / "alertmanager.log").read_text()[-2000:])
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("alertmanager did not become ready in %ss" % timeout)

    def alerts(self):
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=5) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.dir:
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
