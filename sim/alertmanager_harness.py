"""A real Alertmanager (the Debian package's /usr/bin/prometheus-alertmanager) for tests.

    am = AlertmanagerServer(config_dict).start()     # http://127.0.0.1:PORT, no cluster gossip
    prometheus = PrometheusServer([...], extra_config={"alerting": am.prometheus_alerting(), "rule_files": [...]})
    am.alerts()                                       # the alerts it holds now (API v2)
    am.stop()
"""
import json
import shutil
import urllib.request

import yaml

from sim.daemon import Daemon

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or "/usr/bin/prometheus-alertmanager"


class AlertmanagerServer(Daemon):
    name = "alertmanager"

    def __init__(self, config, port=None):
        super().__init__(port)
        self.config = config

    def prometheus_alerting(self):
        """Prometheus's ``alerting`` section that sends to this Alertmanager."""
        return {"alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:%d" % self.port]}]}]}

    def write_config(self, directory):
        (directory / "alertmanager.yml").write_text(yaml.safe_dump(self.config))
        # --cluster.listen-address= turns gossip off: one instance, no port 9094 shared between tests.
        return [BINARY, "--config.file=%s" % (directory / "alertmanager.yml"), "--storage.path=%s" % (directory / "data"),
                "--web.listen-address=127.0.0.1:%d" % self.port, "--cluster.listen-address=", "--log.level=warn"]

    def alerts(self):
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=5) as r:
            return json.loads(r.read())
