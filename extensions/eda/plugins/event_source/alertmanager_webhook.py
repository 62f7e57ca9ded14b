# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE).
"""Event source: receive Alertmanager's webhook notifications and emit one event per alert.

Alertmanager groups alerts into one notification; a rule acts on one alert (one release, one
service), so the group is split here and each event carries the alert with the group's context.
"""

DOCUMENTATION = r"""
---
short_description: Receive Alertmanager webhook notifications, one event per alert.
description:
  - An HTTP server for Alertmanager's C(webhook_configs) receiver (payload version 4).
  - Each alert of a notification becomes an event C({alert: {status, labels, annotations, startsAt, endsAt,
    fingerprint, generatorURL}, alertmanager: {receiver, status, groupLabels, commonLabels, externalURL, groupKey}}).
  - A body that is not Alertmanager's JSON is answered with HTTP 400 and emits nothing; with O(token) set, a request
    without C(Authorization: Bearer <token>) is answered with HTTP 401.
options:
  host:
    description: Address to listen on.
    type: str
    default: 127.0.0.1
  port:
    description: Port to listen on.
    type: int
    required: true
  path:
    description: URL path of the receiver (Alertmanager's C(webhook_configs[].url) ends with it).
    type: str
    default: /alerts
  token:
    description:
      - Bearer token the sender must present (Alertmanager's C(http_config.authorization.credentials)).
        Never logged nor put in events.
    type: str
  statuses:
    description: Which alert statuses become events.
    type: list
    elements: str
    default: [firing, resolved]
"""

EXAMPLES = r"""
- name: Roll back a release whose canary fails
  hosts: all
  sources:
    - meshops.istio.alertmanager_webhook:
        port: 5001
  rules:
    - name: Release error rate alert
      condition: >-
        event.alert.status == "firing" and event.alert.labels.alertname == "MeshopsReleaseErrorRate"
      action:
        debug:
          msg: "{{ event.alert.annotations.summary }}"
"""

import asyncio
import hmac
import logging
from typing import Any

from aiohttp import web

logger = logging.getLogger(__name__)

ALERT_KEYS = ("status", "labels", "annotations", "startsAt", "endsAt", "fingerprint", "generatorURL")
GROUP_KEYS = ("receiver", "status", "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "groupKey")


class PayloadError(ValueError):
    """A body that is not an Alertmanager notification."""


def events(payload: Any, statuses=("firing", "resolved")) -> list[dict[str, Any]]:
    """The events of one notification, in the order of its alerts."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise PayloadError("expected Alertmanager's webhook JSON: an object with an 'alerts' list")
    group = {k: payload.get(k) for k in GROUP_KEYS if k in payload}
    out = []
    for index, alert in enumerate(payload["alerts"]):
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            raise PayloadError("alert %d has no 'labels' object" % index)
        if alert.get("status") not in statuses:
            continue
        body = {k: alert.get(k) for k in ALERT_KEYS}
        body["annotations"] = body["annotations"] or {}
        out.append({"alert": body, "alertmanager": group})
    return out


def settings(args: dict[str, Any]) -> dict[str, Any]:
    try:
        port = int(args["port"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("meshops.istio.alertmanager_webhook needs port: the port number Alertmanager's webhook URL "
                         "names (got %r)." % args.get("port")) from None
    path = str(args.get("path", "/alerts"))
    if not path.startswith("/"):
        raise ValueError("path %r must start with /." % path)
    statuses = list(args.get("statuses") or ("firing", "resolved"))
    wrong = [s for s in statuses if s not in ("firing", "resolved")]
    if wrong:
        raise ValueError("statuses %s: Alertmanager sends only firing and resolved." % wrong)
    return {"host": str(args.get("host", "127.0.0.1")), "port": port, "path": path,
            "token": args.get("token") or None, "statuses": tuple(statuses)}


def app(queue: asyncio.Queue, cfg: dict[str, Any]) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        if cfg["token"]:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), ("Bearer %s" % cfg["token"]).encode()):
                return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        try:
            payload = await request.json()
            found = events(payload, cfg["statuses"])
        except ValueError as e:  # JSONDecodeError and PayloadError
            logger.warning("meshops.istio.alertmanager_webhook: refused a request from %s: %s", request.remote, e)
            return web.json_response({"error": str(e)}, status=400)
        for item in found:
            await queue.put(item)
        return web.json_response({"events": len(found)})

    application = web.Application()
    application.router.add_post(cfg["path"], receive)
    return application


async def main(queue: asyncio.Queue, args: dict[str, Any]) -> None:
    cfg = settings(args)
    runner = web.AppRunner(app(queue, cfg))
    await runner.setup()
    site = web.TCPSite(runner, cfg["host"], cfg["port"])
    await site.start()
    logger.info("meshops.istio.alertmanager_webhook: listening on http://%s:%d%s", cfg["host"], cfg["port"],
                cfg["path"])
    try:
        await asyncio.Future()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    # python alertmanager_webhook.py PORT: print the events (for trying an Alertmanager route by hand).
    import sys

    class _Print:
        async def put(self, item):
            print(item, flush=True)

    asyncio.run(main(_Print(), {"port": sys.argv[1]}))
