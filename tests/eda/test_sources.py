"""The event sources without ansible-rulebook: their asyncio ``main(queue, args)`` against small HTTP peers."""
import asyncio
import base64
import json
import logging

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.eda.sources import threshold, webhook
from sim.daemon import free_port
from sim.kubesim.tls import ClusterPKI

TOKEN = "s3cr3t-token-value"


def vector(value):
    result = [] if value is None else [{"metric": {}, "value": [1.0, str(value)]}]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


# -- PromQL threshold -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    ({"query": "up", "high": 15, "low": 10}, "needs url"),
    ({"url": "prometheus:9090", "query": "up", "high": 15, "low": 10}, "not an http:// or https:// URL"),
    ({"url": "http://p:9090", "query": "up", "high": 10, "low": 10}, "high (10.0) must be above low (10.0)"),
    ({"url": "http://p:9090", "query": "up", "high": "x", "low": 10}, "must be numbers"),
    ({"url": "http://p:9090", "query": "up", "high": 15, "low": 10, "interval": 0}, "interval (0.0)"),
    ({"url": "http://p:9090", "query": "up", "high": 15, "low": 10, "initial": "up"}, "initial 'up' is not one of"),
    ({"url": "http://p:9090", "query": "up", "high": 15, "low": 10, "bearer_token": "t", "username": "u"},
     "bearer_token or username/password, not both"),
])
def test_threshold_refuses_bad_arguments(args, message):
    with pytest.raises(threshold.ArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        threshold.settings(args)


def test_threshold_hysteresis_from_each_initial_side():
    def run(initial, values):
        side, out = initial, []
        for v in values:
            new = threshold.crossing(side, v, 15, 10)
            if new:
                out.append((v, new))
                side = new
        return out

    load = [12, 16, 14, 12, 15, 9, 11, 14, 20, 5]
    # unknown: 12 is between the thresholds (no event); up at 16, nothing until below 10, up again at 20.
    assert run("unknown", load) == [(16, "high"), (9, "low"), (20, "high"), (5, "low")]
    assert run("low", [5] + load) == [(16, "high"), (9, "low"), (20, "high"), (5, "low")]
    # unknown emits the first side it sees, so a restarted rulebook catches up with a load already low.
    assert run("unknown", [3, 2]) == [(3, "low")]
    assert run("high", [18, 12, 8]) == [(8, "low")]


def test_threshold_sample_parsing():
    assert threshold.sample(vector(18.5)) == 18.5
    assert threshold.sample(vector(None)) is None
    assert threshold.sample(vector("NaN")) is None
    assert threshold.sample({"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}}) == 3.0
    with pytest.raises(ValueError, match="bad_data: parse error"):
        threshold.sample({"status": "error", "errorType": "bad_data", "error": "parse error"})


class FakePrometheus:
    """Answers the instant query API with the next value of a script; records each request's query and auth."""

    def __init__(self, values, status=200, tls=None):
        self.values, self.status, self.seen, self.tls = list(values), status, [], tls

    async def handle(self, request):
        form = await request.post()
        self.seen.append((form.get("query"), request.headers.get("Authorization")))
        if self.status != 200:
            return web.Response(status=self.status, text="denied")
        value = self.values.pop(0) if len(self.values) > 1 else self.values[0]
        return web.json_response(vector(value))

    async def __aenter__(self):
        app = web.Application()
        app.router.add_post("/api/v1/query", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        self.port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, ssl_context=self.tls).start()
        self.url = "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()


async def collect(source, args, until, timeout=10):
    """Run a source until ``until(events)`` holds; returns the events."""
    queue, events = asyncio.Queue(), []
    task = asyncio.create_task(source.main(queue, args))
    try:
        async with asyncio.timeout(timeout):
            while not until(events):
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if task in done:
                    getter.cancel()
                    task.result()  # raises what the source raised
                    raise AssertionError("the source stopped")
                events.append(getter.result())
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return events


def test_threshold_source_emits_crossings_with_token(caplog):
    async def scenario():
        # 5, 12 (between), 18 -> up, 16, 12 (between), 8 -> down, no data (0) stays down, 22 -> up.
        async with FakePrometheus([5, 12, 18, 16, 12, 8, None, 22]) as prom:
            args = {"url": prom.url, "query": "sum(rate(x[15s]))", "high": "15", "low": 10, "interval": 0.02,
                    "initial": "low", "name": "worker-load", "bearer_token": TOKEN}
            events = await collect(threshold, args, lambda ev: len(ev) == 3)
            return events, prom.seen

    with caplog.at_level(logging.DEBUG):
        events, seen = asyncio.run(scenario())
    got = [(e["prometheus"]["direction"], e["prometheus"]["value"], e["prometheus"]["previous"]) for e in events]
    assert got == [("up", 18.0, "low"), ("down", 8.0, "high"), ("up", 22.0, "low")]
    first = events[0]["prometheus"]
    assert {k: first[k] for k in ("name", "query", "high", "low", "no_data")} == {
        "name": "worker-load", "query": "sum(rate(x[15s]))", "high": 15.0, "low": 10.0, "no_data": False}
    assert seen[0] == ("sum(rate(x[15s]))", "Bearer " + TOKEN)
    assert TOKEN not in json.dumps(events) and TOKEN not in caplog.text


def test_threshold_source_no_data_counts_as_zero_with_basic_auth(caplog):
    async def scenario():
        async with FakePrometheus([None]) as prom:
            events = await collect(threshold, {"url": prom.url, "query": "q", "high": 15, "low": 10, "interval": 0.02,
                                               "username": "eda", "password": TOKEN}, lambda ev: len(ev) == 1)
            return events, prom.seen

    with caplog.at_level(logging.DEBUG):
        (event,), seen = asyncio.run(scenario())
    assert seen[0] == ("q", "Basic " + base64.b64encode(("eda:" + TOKEN).encode()).decode())
    assert TOKEN not in json.dumps(event) and TOKEN not in caplog.text
    assert event["prometheus"]["direction"] == "down" and event["prometheus"]["value"] == 0.0
    assert event["prometheus"]["no_data"] is True


def test_threshold_source_logs_refusal_without_token_and_emits_nothing(caplog):
    async def scenario():
        async with FakePrometheus([0], status=403) as prom:
            args = {"url": prom.url, "query": "q", "high": 15, "low": 10, "interval": 0.02, "bearer_token": TOKEN}
            task = asyncio.create_task(threshold.main(asyncio.Queue(), args))
            while len(prom.seen) < 3:
                await asyncio.sleep(0.02)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return prom.url

    with caplog.at_level(logging.WARNING):
        url = asyncio.run(scenario())
    assert "query to %s failed: HTTP 403: Prometheus refused the credentials" % url in caplog.text
    assert TOKEN not in caplog.text


def test_threshold_source_over_tls_trusts_the_given_ca(tmp_path, caplog):
    pki = ClusterPKI("prometheus")
    ca = tmp_path / "ca.pem"
    ca.write_text(pki.ca_pem)

    async def scenario():
        async with FakePrometheus([20], tls=pki.server_context()) as prom:
            base = {"url": prom.url, "query": "q", "high": 15, "low": 10, "interval": 0.02}
            trusted = await collect(threshold, dict(base, ca_path=str(ca)), lambda ev: len(ev) == 1)
            unchecked = await collect(threshold, dict(base, validate_certs=False), lambda ev: len(ev) == 1)
            # The system's CAs do not know this one: every poll fails, nothing is emitted.
            task = asyncio.create_task(threshold.main(asyncio.Queue(), base))
            polled = len(prom.seen)
            await asyncio.sleep(0.3)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return trusted, unchecked, len(prom.seen) - polled

    with caplog.at_level(logging.WARNING):
        trusted, unchecked, answered = asyncio.run(scenario())
    assert trusted[0]["prometheus"]["direction"] == unchecked[0]["prometheus"]["direction"] == "up"
    assert answered == 0 and "certificate verify failed" in caplog.text


# -- Alertmanager webhook -------------------------------------------------------------------------------------------

def notification(*alerts, status="firing"):
    """Alertmanager's webhook body (version 4), as it posts it."""
    return {"version": "4", "groupKey": '{}:{alertname="MeshopsReleaseErrorRate"}', "truncatedAlerts": 0,
            "status": status, "receiver": "meshops-eda", "groupLabels": {"alertname": "MeshopsReleaseErrorRate"},
            "commonLabels": {"alertname": "MeshopsReleaseErrorRate"}, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093", "alerts": list(alerts)}


def alert(status, version, annotations=None):
    return {"status": status, "labels": {"alertname": "MeshopsReleaseErrorRate", "destination_service_name": "reviews",
                                         "destination_service_namespace": "shop", "destination_version": version},
            "annotations": annotations, "startsAt": "2026-11-29T20:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": "f%s" % version}


def test_webhook_events_split_the_group():
    body = notification(alert("firing", "v2", {"summary": "v2 fails"}), alert("resolved", "v3"))
    events = webhook.events(body)
    assert [(e["alert"]["status"], e["alert"]["labels"]["destination_version"]) for e in events] == [
        ("firing", "v2"), ("resolved", "v3")]
    assert events[0]["alert"]["annotations"] == {"summary": "v2 fails"} and events[1]["alert"]["annotations"] == {}
    assert events[0]["alertmanager"]["receiver"] == "meshops-eda"
    assert [e["alert"]["status"] for e in webhook.events(body, ("firing",))] == ["firing"]
    for bad, message in [([], "an object with an 'alerts' list"), ({"alerts": [{"status": "firing"}]},
                                                                      "alert 0 has no 'labels' object")]:
        with pytest.raises(webhook.PayloadError, match=message):
            webhook.events(bad)


@pytest.mark.parametrize("args, message", [
    ({}, "needs port"), ({"port": 5001, "path": "alerts"}, "must start with /"),
    ({"port": 5001, "statuses": ["pending"]}, "only firing and resolved"),
])
def test_webhook_refuses_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        webhook.settings(args)


def test_webhook_server_answers_and_queues(caplog):
    port = free_port()

    async def scenario():
        queue = asyncio.Queue()
        task = asyncio.create_task(webhook.main(queue, {"port": str(port), "token": TOKEN, "statuses": ["firing"]}))
        url = "http://127.0.0.1:%d/alerts" % port
        answers = []
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # until the server listens
                try:
                    async with http.post(url, data="{") as r:
                        answers.append(r.status)
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            auth = {"Authorization": "Bearer " + TOKEN}
            async with http.post(url, data="not json", headers=auth) as r:
                answers.append(r.status)
            async with http.post(url, json={"no": "alerts"}, headers=auth) as r:
                answers.append(r.status)
            async with http.post(url, json=notification(alert("firing", "v2")),
                                 headers={"Authorization": "Bearer wrong"}) as r:
                answers.append(r.status)
            async with http.post(url, json=notification(alert("firing", "v2"), alert("resolved", "v3")),
                                 headers=auth) as r:
                answers.append((r.status, await r.json()))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return answers, [queue.get_nowait() for _ in range(queue.qsize())]

    with caplog.at_level(logging.DEBUG):
        answers, events = asyncio.run(scenario())
    # No token -> 401 before the body is read; bad JSON and a non-Alertmanager body -> 400; wrong token -> 401.
    assert answers == [401, 400, 400, 401, (200, {"events": 1})]
    assert [e["alert"]["labels"]["destination_version"] for e in events] == ["v2"]
    assert TOKEN not in caplog.text


def test_shipped_files_parse_and_name_the_sources():
    from tests.eda.sources import PROMETHEUS_FILES, RULEBOOKS

    burst = yaml.safe_load((RULEBOOKS / "burst.yml").read_text())
    rollback = yaml.safe_load((RULEBOOKS / "release_rollback.yml").read_text())
    assert "meshops.istio.prometheus_threshold" in burst[0]["sources"][0]
    assert "meshops.istio.alertmanager_webhook" in rollback[0]["sources"][0]
    assert [r["action"]["run_playbook"]["name"] for r in burst[0]["rules"]] == ["meshops.istio.burst"] * 2
    assert rollback[0]["rules"][0]["action"]["run_playbook"]["name"] == "meshops.istio.rollback"
    rules = yaml.safe_load((PROMETHEUS_FILES / "alerts.yml").read_text())
    names = [r["alert"] for g in rules["groups"] for r in g["rules"]]
    assert names == ["MeshopsReleaseErrorRate", "MeshopsBurstLoadHigh"]
    # The rollback rulebook's condition names the alert the rules raise.
    assert "MeshopsReleaseErrorRate" in rollback[0]["rules"][0]["condition"]
