"""fortio load Jobs as meshsim sees them: a client of the mesh at a fixed rate for a fixed time.

A Job whose container runs ``fortio load`` (Istio's load client; ``-qps R -t D -c N ... URL``) sends
R requests a second to the Service of URL, from the Job's workload (Istio names a Job's pods'
workload after the Job), from the Job's creation until D has passed (``-t 0``: until the Job is
deleted) or ``-n`` requests were sent. kubesim completes Job pods at once, so the run time comes
from fortio's flags, not from the pod's status - as fortio's process would decide it.
"""
import datetime
from urllib.parse import urlsplit

# fortio flags that take a value (the others, such as -allow-initial-errors, are switches).
VALUE_FLAGS = {"qps", "t", "c", "n", "H", "loglevel", "timeout", "payload", "payload-size", "content-type", "p",
               "r", "json", "labels", "http-port", "grpc-port"}


def _seconds(text):
    """fortio's -t: a Go duration (30s, 1m30s, 1h) or 0."""
    text = text.strip()
    if text in ("0", ""):
        return 0.0
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not number:
            raise ValueError("not a duration: %r" % text)
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    if number:
        raise ValueError("a duration needs a unit: %r" % text)
    return total


def fortio_load(args):
    """{qps, t, n, c, url} from ``fortio load ...`` arguments, or None when they are not a load."""
    if "load" not in args:
        return None
    args = args[args.index("load") + 1:]
    flags, positional = {}, []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and len(arg) > 1:
            name = arg.lstrip("-")
            if "=" in name:
                name, value = name.split("=", 1)
                flags[name] = value
            elif name in VALUE_FLAGS and i + 1 < len(args):
                flags[name] = args[i + 1]
                i += 1
            else:
                flags[name] = True
        else:
            positional.append(arg)
        i += 1
    if not positional:
        return None
    return dict(qps=float(flags.get("qps", 8)), t=_seconds(str(flags.get("t", "5s"))),
                n=int(flags.get("n", 0)), c=int(flags.get("c", 4)), url=positional[-1])


def _timestamp(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Load:
    def __init__(self, name, namespace, service, qps, started, duration, limit, connections, url):
        self.name = name
        self.namespace = namespace
        self.service = service
        self.qps = qps
        self.started = started
        self.duration = duration
        self.limit = limit
        self.connections = connections
        self.url = url
        self.sent = 0
        self.owed = 0.0

    def running(self, wall):
        if wall < self.started:
            return False
        if self.limit and self.sent >= self.limit:
            return False
        return not self.duration or wall < self.started + self.duration

    def owe(self, elapsed, wall):
        """Requests to send now for ``elapsed`` seconds of running."""
        if not self.running(wall):
            return 0
        self.owed += self.qps * elapsed
        count = int(self.owed)
        self.owed -= count
        if self.limit:
            count = min(count, self.limit - self.sent)
        self.sent += count
        return count

    def state(self):
        return dict(service="%s/%s" % (self.service[1], self.service[0]), qps=self.qps, duration=self.duration,
                    connections=self.connections, url=self.url, sent=self.sent)


def parse(job):
    """A Load for a Job running ``fortio load`` against a cluster Service, else None."""
    meta = job.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return None
    containers = (((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    for container in containers:
        load = fortio_load(list(container.get("command") or []) + list(container.get("args") or []))
        if load is None or load["qps"] <= 0:
            continue
        host = urlsplit(load["url"] if "://" in load["url"] else "http://" + load["url"]).hostname or ""
        parts = host.split(".")
        service = (parts[0], parts[1] if len(parts) > 1 else meta.get("namespace"))
        return Load(meta.get("name"), meta.get("namespace"), service, load["qps"],
                    _timestamp(meta["creationTimestamp"]), load["t"], load["n"], load["c"], load["url"])
    return None
