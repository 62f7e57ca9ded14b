"""A real Prometheus server (the Debian package's /usr/bin/prometheus) for tests.

    prom = PrometheusServer(targets=[mesh.url]).start()   # scrapes <target>/metrics every second
    prom.wait_for("istio_requests_total")                 # until a first scrape landed
    prom.url                                              # http://127.0.0.1:PORT
    prom.stop()

The pytest fixture ``prometheus_factory`` (registered as a plugin in tests/conftest.py) starts as
many as a test asks for and stops them afterwards.
"""
import json
import shutil
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from sim.daemon import Daemon

BINARY = shutil.which("prometheus") or "/usr/bin/prometheus"


class PrometheusServer(Daemon):
    name = "prometheus"

    def __init__(self, targets=(), scrape_interval="1s", job="meshsim", port=None, extra_config=None):
        # extra_config: more top-level configuration, e.g. rule_files and alerting (tests/eda).
        self.extra_config = dict(extra_config or {})
        self.targets = [urllib.parse.urlparse(t).netloc or t for t in targets]
        self.scrape_interval = scrape_interval
        self.job = job
        super().__init__(port)

    def write_config(self, directory):
        config = {"global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.scrape_interval,
                             "scrape_timeout": self.scrape_interval},
                  "scrape_configs": [{"job_name": self.job, "static_configs": [{"targets": self.targets}]}]}
        config.update(self.extra_config)
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
        return [BINARY, "--config.file=%s" % (directory / "prometheus.yml"), "--storage.tsdb.path=%s" % (directory / "data"),
                "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn",
                "--storage.tsdb.retention.time=1h", "--web.enable-lifecycle"]

    def query(self, promql):
        data = urllib.parse.urlencode({"query": promql}).encode()
        with urllib.request.urlopen(self.url + "/api/v1/query", data=data, timeout=5) as r:
            return json.loads(r.read())["data"]["result"]

    def wait_for(self, promql, timeout=20, check=bool):
        """Wait until ``promql`` answers a result for which ``check(result)`` is true; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if check(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError("%s did not satisfy the check within %ss: %s" % (promql, timeout, result))
            time.sleep(0.25)

    def wait_scraped(self, seconds, timeout=30):
        """Wait until every target has been scraped for ``seconds`` (Prometheus only starts scraping
        ~5s after it is ready, and rate() over a window that data does not cover reads low)."""
        want = int(seconds)
        self.wait_for('min(count_over_time(up{job="%s"}[%ds])) >= %d' % (self.job, want + 1, want),
                      timeout=timeout + want)


def expose_in(sim, server, namespace="istio-system", name="prometheus", port=9090, port_name="http"):
    """Make ``server`` the Prometheus behind Service namespace/name:port of kubesim ``sim`` (created
    when missing, as the addons role would), so that the API server's service proxy reaches it."""
    if sim.get_object("v1", "Namespace", namespace) is None:
        sim.create_objects({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    if sim.get_object("v1", "Service", name, namespace) is None:
        sim.create_objects({"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": name, "namespace": namespace, "labels": {"app": "prometheus"}},
                            "spec": {"selector": {"app": "prometheus"},
                                     "ports": [{"name": port_name, "port": port, "targetPort": 9090}]}})
    sim.service_proxy.register(namespace, name, port, server.url)
    return server


@pytest.fixture
def prometheus_factory():
    """prometheus_factory(targets=[url, ...], scrape_interval="1s") -> a started PrometheusServer."""
    started = []

    def make(targets=(), **kwargs):
        server = PrometheusServer(targets, **kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def wait_until(predicate, timeout=20, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % message)
        time.sleep(interval)



def main():
    """python -m sim.prometheus_harness --target 127.0.0.1:PORT [--port 9090]: run until SIGTERM."""
    import argparse
    import signal
    import threading

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--target", action="append", default=[], help="host:port serving /metrics (repeatable)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--scrape-interval", default="1s")
    args = parser.parse_args()
    server = PrometheusServer(args.target, scrape_interval=args.scrape_interval, port=args.port or None).start()
    print("prometheus on %s scraping %s" % (server.url, ", ".join(server.targets)), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    done.wait()
    server.stop()


if __name__ == "__main__":
    main()
