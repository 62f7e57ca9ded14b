# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE).
"""Event source: poll a PromQL query and emit an event when its value crosses a threshold.

The rulebook side of the codelab's istiowatcher: the decision to act is an event, the action a
playbook. Hysteresis as in the istiowatcher and meshops.istio.istio_burst: the side becomes
``high`` when the value rises above ``high`` and ``low`` when it drops below ``low``; nothing is
emitted in between, so a load hovering around one value cannot start a playbook on every poll.
"""

DOCUMENTATION = r"""
---
short_description: Poll a Prometheus query and emit an event when its value crosses a threshold.
description:
  - Every O(interval) seconds, evaluate O(query) with Prometheus's instant query API.
  - Emit one event with direction V(up) when the value rises above O(high), and one with direction V(down) when
    it falls below O(low); nothing while it stays on the same side or between the two.
  - An empty result (no series, or NaN) counts as V(0) (no traffic), never as "still high".
  - A failed poll (Prometheus unreachable, a bad query) is logged without credentials and emits nothing.
options:
  url:
    description: Base URL of Prometheus, for example V(http://prometheus.istio-system:9090).
    type: str
    required: true
  query:
    description: PromQL whose first sample is compared (sum it to one series).
    type: str
    required: true
  high:
    description: Value above which the direction becomes V(up).
    type: float
    required: true
  low:
    description: Value below which the direction becomes V(down). Must be below O(high).
    type: float
    required: true
  interval:
    description: Seconds between two polls.
    type: float
    default: 5
  initial:
    description:
      - The side assumed before the first poll. V(unknown) emits the side of the first value that is above
        O(high) or below O(low), so a restarted rulebook catches up with the load; V(low) or V(high) emit only a
        crossing away from that side (the istiowatcher starts as V(low)).
    type: str
    choices: [unknown, low, high]
    default: unknown
  name:
    description: A name for the query, copied into each event (to tell several sources apart in conditions).
    type: str
    default: load
  bearer_token:
    description: Bearer token for a Prometheus behind an authenticating proxy. Never logged nor put in events.
    type: str
  username:
    description: User for basic authentication (instead of O(bearer_token)).
    type: str
  password:
    description: Password for basic authentication. Never logged nor put in events.
    type: str
  ca_path:
    description: CA certificate (PEM file) of Prometheus's TLS certificate; empty uses the system's.
    type: str
  validate_certs:
    description: Verify Prometheus's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for one query.
    type: float
    default: 10
"""

EXAMPLES = r"""
- name: Burst worker traffic under load
  hosts: all
  sources:
    - meshops.istio.prometheus_threshold:
        url: http://prometheus.istio-system:9090
        query: >-
          sum(rate(istio_requests_total{reporter="destination",
          destination_service="worker-service.default.svc.cluster.local",
          source_workload="frontend-deployment"}[15s]))
        high: 15
        low: 10
        interval: 1
  rules:
    - name: Load above 15 req/s
      condition: event.prometheus.direction == "up"
      action:
        debug:
          msg: "{{ event.prometheus.value }} req/s"
"""

import asyncio
import base64
import datetime
import logging
import math
import ssl
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

SIDES = ("unknown", "low", "high")


class ArgumentError(ValueError):
    """Source arguments that cannot work; the message says which and how to fix them."""


def settings(args: dict[str, Any]) -> dict[str, Any]:
    """Checked and typed arguments (a rulebook gives YAML values, maybe strings from variables)."""
    missing = [k for k in ("url", "query", "high", "low") if args.get(k) in (None, "")]
    if missing:
        raise ArgumentError("meshops.istio.prometheus_threshold needs %s." % ", ".join(missing))
    url = str(args["url"]).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ArgumentError("url %r is not an http:// or https:// URL; give the Prometheus base URL, for example "
                            "http://prometheus.istio-system:9090." % url)
    try:
        out = {"high": float(args["high"]), "low": float(args["low"]), "interval": float(args.get("interval", 5)),
               "timeout": float(args.get("timeout", 10))}
    except (TypeError, ValueError) as e:
        raise ArgumentError("high, low, interval and timeout must be numbers (%s)." % e) from None
    if not all(math.isfinite(v) for v in out.values()):
        raise ArgumentError("high, low, interval and timeout must be finite numbers (got %s)." % out)
    if out["high"] <= out["low"]:
        raise ArgumentError("high (%s) must be above low (%s): the gap between them keeps a load that hovers around "
                            "one value from emitting an event on every poll." % (out["high"], out["low"]))
    if args.get("bearer_token") and args.get("username"):
        raise ArgumentError("give bearer_token or username/password, not both: Prometheus gets one Authorization header.")
    if out["interval"] <= 0 or out["timeout"] <= 0:
        raise ArgumentError("interval (%s) and timeout (%s) must be more than 0 seconds."
                            % (out["interval"], out["timeout"]))
    initial = str(args.get("initial", "unknown"))
    if initial not in SIDES:
        raise ArgumentError("initial %r is not one of %s." % (initial, ", ".join(SIDES)))
    out.update(url=url, query=str(args["query"]), initial=initial, name=str(args.get("name", "load")),
               bearer_token=args.get("bearer_token") or None, username=args.get("username") or None,
               password=args.get("password") or "", ca_path=args.get("ca_path") or None,
               validate_certs=bool(args.get("validate_certs", True)))
    return out


def crossing(side: str, value: float, high: float, low: float) -> str | None:
    """The new side when ``value`` crosses a threshold from ``side``, else None."""
    if value > high and side != "high":
        return "high"
    if value < low and side != "low":
        return "low"
    return None


def sample(body: dict[str, Any]) -> float | None:
    """The first value of an instant query answer; None when there is none (or NaN)."""
    if body.get("status") != "success":
        raise ValueError("Prometheus answered %s: %s" % (body.get("errorType", "error"), body.get("error", body)))
    data = body.get("data") or {}
    result = data.get("result")
    if data.get("resultType") == "scalar":
        result = [{"value": result}]
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if math.isnan(value) else value


def auth_headers(cfg: dict[str, Any]) -> dict[str, str]:
    if cfg["bearer_token"]:
        return {"Authorization": "Bearer %s" % cfg["bearer_token"]}
    if cfg["username"]:
        pair = ("%s:%s" % (cfg["username"], cfg["password"])).encode()
        return {"Authorization": "Basic %s" % base64.b64encode(pair).decode()}
    return {}


def _ssl(cfg: dict[str, Any]) -> ssl.SSLContext | bool:
    if not cfg["url"].startswith("https://"):
        return True
    if not cfg["validate_certs"]:
        return False
    return ssl.create_default_context(cafile=cfg["ca_path"])


async def poll(session: aiohttp.ClientSession, cfg: dict[str, Any]) -> float | None:
    async with session.post(cfg["url"] + "/api/v1/query", data={"query": cfg["query"]}, headers=auth_headers(cfg),
                            ssl=_ssl(cfg), timeout=aiohttp.ClientTimeout(total=cfg["timeout"])) as resp:
        if resp.status in (401, 403):
            raise ValueError("HTTP %d: Prometheus refused the credentials (check bearer_token or username/password)"
                             % resp.status)
        body = await resp.json(content_type=None)
        return sample(body)


def event(cfg: dict[str, Any], value: float, no_data: bool, side: str, previous: str) -> dict[str, Any]:
    return {"prometheus": {
        "name": cfg["name"], "query": cfg["query"], "value": round(value, 3), "no_data": no_data,
        "direction": "up" if side == "high" else "down", "previous": previous, "high": cfg["high"], "low": cfg["low"],
        "at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")}}


async def main(queue: asyncio.Queue, args: dict[str, Any]) -> None:
    cfg = settings(args)
    side = cfg["initial"]
    logger.info("meshops.istio.prometheus_threshold: polling %s every %ss for %s (up above %s, down below %s)",
                cfg["url"], cfg["interval"], cfg["name"], cfg["high"], cfg["low"])
    async with aiohttp.ClientSession() as session:
        while True:
            started = asyncio.get_running_loop().time()
            try:
                value = await poll(session, cfg)
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, IndexError, TypeError) as e:
                # The message names the URL and the error, never the headers (the token).
                logger.warning("meshops.istio.prometheus_threshold: query to %s failed: %s", cfg["url"],
                               str(e) or type(e).__name__)
            else:
                seen = 0.0 if value is None else value
                new = crossing(side, seen, cfg["high"], cfg["low"])
                if new:
                    await queue.put(event(cfg, seen, value is None, new, side))
                    side = new
            await asyncio.sleep(max(0.0, cfg["interval"] - (asyncio.get_running_loop().time() - started)))


if __name__ == "__main__":
    # python prometheus_threshold.py URL QUERY HIGH LOW: print the events (for trying a query by hand).
    import sys

    class _Print:
        async def put(self, item):
            print(item, flush=True)

    asyncio.run(main(_Print(), dict(zip(("url", "query", "high", "low"), sys.argv[1:]), interval=1)))
