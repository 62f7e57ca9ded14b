"""What the fault tests share: driving module code directly against kubesim, a fault proxy in front of the real
Prometheus, the invariants checked after every fault, and the counts written to tests/output and docs/.

Module code is driven in-process (``DirectModule`` stands for the AnsibleK8SModule a module builds) where what is
tested is the code's answer to a fault, not ansible-playbook; the process-kill cases run real ansible-playbook.
"""
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.meshops.istio.plugins.module_utils import routing as rt
from ansible_collections.meshops.istio.plugins.module_utils.kube import Backoff

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "tests" / "output"
REPORT = REPO / "docs" / "reliability.md"
API = "networking.istio.io/v1"
# Short enough to keep the suite fast, long enough for kubesim on a busy 2-core machine.
TIMEOUT = 1.0
FAST = Backoff(attempts=5, base=0.01, cap=0.05)


class ModuleFailed(Exception):
    def __init__(self, result):
        super().__init__(result.get("msg"))
        self.result = result


class DirectModule:
    """The parts of an AnsibleK8SModule that Cluster, kubernetes.core's get_api_client and our modules' workers use."""

    def __init__(self, sim, check_mode=False, **params):
        self.params = dict.fromkeys(AUTH_ARG_SPEC)
        self.params.update(kubeconfig=sim.kubeconfig_path, context=sim.name, request_timeout=TIMEOUT)
        self.params.update(params)
        self.check_mode = check_mode
        self.server_side_dry_run = check_mode
        self._diff = False

    def requires(self, *args, **kwargs):
        return None

    def fail_json(self, **result):
        raise ModuleFailed(result)

    def warn(self, *args):
        return None


def prometheus_params(url, timeout=2):
    return dict(url=url, timeout=timeout, bearer_token=None, username=None, password=None, ca_path=None,
                validate_certs=True)


# -- Prometheus faults ---------------------------------------------------------------------------

class PrometheusFaults:
    """An HTTP proxy in front of the real Prometheus that injects what the kubesim fault API does for the
    Kubernetes API: ``mode`` None forwards; "down" answers 503; "throttled" 429 with Retry-After: 0.2;
    "slow" holds each query ``latency`` s then forwards; "nan" and "empty" answer every query with one NaN
    sample, or no sample. ``times``: how many
    queries the fault hits (None: all of them)."""

    def __init__(self, target):
        self.target = target.rstrip("/")
        self.mode, self.latency, self.times, self.hits, self.queries, self.skip = None, 0.0, None, 0, 0, 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return None

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = proxy._take()
                if mode == "slow":
                    time.sleep(proxy.latency)
                if mode == "down":
                    return self._send(503, b'{"status":"error","error":"injected: unavailable"}')
                if mode == "throttled":
                    return self._send(429, b'{"status":"error","error":"injected: too many requests"}',
                                      {"Retry-After": "0.2"})
                if mode in ("nan", "empty"):
                    result = [] if mode == "empty" else [{"metric": {}, "value": [time.time(), "NaN"]}]
                    return self._send(200, json.dumps({"status": "success", "data": {
                        "resultType": "vector", "result": result}}).encode())
                request = urllib.request.Request(proxy.target + self.path, data=body, method="POST",
                                                 headers={"Content-Type": self.headers.get("Content-Type")})
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        return self._send(answer.status, answer.read())
                except urllib.error.HTTPError as e:
                    return self._send(e.code, e.read())
                except OSError:
                    return None

            def _send(self, status, payload, headers=None):
                try:
                    self.send_response(status)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up (timeout)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def _take(self):
        with self.lock:
            self.queries += 1
            if self.skip > 0:
                self.skip -= 1
                return None
            if self.mode is None or (self.times is not None and self.times <= 0):
                return None
            if self.times is not None:
                self.times -= 1
            self.hits += 1
            return self.mode

    def inject(self, mode, times=None, latency=0.0, skip=0):
        """``skip``: queries answered normally before the fault starts."""
        with self.lock:
            self.mode, self.times, self.latency, self.skip = mode, times, latency, skip

    def clear(self):
        self.inject(None)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# -- invariants -----------------------------------------------------------------------------------

def violations(sim, namespace):
    """What is wrong with the routing of ``namespace``: a route whose weights do not sum to 100, or that names a
    subset its DestinationRule lacks."""
    found = []
    subsets = {}
    for dr in sim.list_objects(API, "DestinationRule", namespace):
        host = rt.service_of(dr["spec"]["host"], namespace)
        subsets[host] = set(rt.dr_subsets(dr))
    for vs in sim.list_objects(API, "VirtualService", namespace):
        name = vs["metadata"]["name"]
        for i, route in enumerate((vs.get("spec") or {}).get("http") or []):
            destinations = route.get("route") or []
            weights = [d.get("weight", 100 if len(destinations) == 1 else 0) for d in destinations]
            if destinations and sum(weights) != 100:
                found.append("%s/%s http[%d]: weights %s sum to %d" % (namespace, name, i, weights, sum(weights)))
            for d in destinations + ([route["mirror"]] if route.get("mirror") else []):
                dest = d.get("destination", d)
                subset = dest.get("subset")
                host = rt.service_of(dest.get("host", ""), namespace)
                if subset and subset not in subsets.get(host, set()):
                    found.append("%s/%s http[%d]: subset %s is not in the DestinationRule of %s"
                                 % (namespace, name, i, subset, dest.get("host")))
    return found


def orphans(pattern=r"AnsiballZ_istio_release|AnsiballZ_istio_burst"):
    """Processes still running a long-running module (by their command line)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path("/proc/%s/cmdline" % entry).read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path("/proc/%s/stat" % entry).read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and re.search(pattern, cmdline):
            found.append((int(entry), cmdline[:200]))
    return found


def wait_served(sim, latency):
    """Wait until requests that kubesim held ``latency`` seconds have been answered: the client gave up on them,
    but the server still serves them afterwards (and may still write)."""
    held = [r.time for r in list(sim.request_log) if r.fault]
    if held and latency:
        time.sleep(max(0.0, max(held) + latency + 0.3 - time.time()))


def request_kinds(item, collection=None, kinds=("GET", "PATCH", "dry-run PATCH")):
    """Where a fault lands for each kind of request a path sends about one object: a GET, PATCH or dry-run PATCH of
    the object (path regex ``item``), a LIST of its collection (``collection``)."""
    where = {"GET": dict(method="GET", path=item), "LIST": dict(method="GET", path=collection),
             "PATCH": dict(method="PATCH", path=item), "dry-run PATCH": dict(method="PATCH", path=item, dry_run_only=True)}
    return dict((kind, where[kind]) for kind in kinds)


_COLLECTION = re.compile(r"^/api/v1/(namespaces/[^/]+/)?[a-z]+$|^/apis/[^/]+/[^/]+/(namespaces/[^/]+/)?[a-z]+$")


def lists(records):
    """The LIST requests among ``records`` (a GET of a collection, not of one object, not discovery)."""
    return [r for r in records if r.method == "GET" and _COLLECTION.match(r.path)]


def faulted(sim, where, settings, action):
    """``action()`` with the fault ``settings`` on the requests ``where`` matches; returns (the fault, what
    ``action`` returned). When it returns, the fault is cleared and the requests it held have been served."""
    injected = sim.inject_fault(**dict(where, **settings))
    try:
        result = action()
    finally:
        sim.clear_faults()
    wait_served(sim, settings.get("latency", 0))
    return injected, result


# -- counts ---------------------------------------------------------------------------------------

class Tally:
    """Counts of one test module, merged into tests/output/faults.json and the "## Faults" section of
    docs/reliability.md when the module ends."""

    def __init__(self, name):
        self.name = name
        self.rows = []

    def add(self, path, fault, request, step, outcome, injected, violations_found, orphans_found=0, requests=None):
        self.rows.append(dict(path=path, fault=fault, request=request, step=step, outcome=outcome,
                              injected=injected, violations=list(violations_found), orphans=orphans_found,
                              requests=requests))

    @staticmethod
    def count(rows):
        return dict(scenarios=len(rows), faults_injected=sum(r["injected"] for r in rows),
                    invariant_violations=sum(len(r["violations"]) for r in rows),
                    orphans=sum(r["orphans"] for r in rows))

    def totals(self):
        return self.count(self.rows)

    def save(self):
        """Merge this run's rows over the saved ones (a run of some tests only updates theirs)."""
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / "faults.json"
        data = json.loads(path.read_text()) if path.exists() else {}

        def key(row):
            return (row["path"], row["fault"], row["request"], row["step"])
        rows = dict((key(r), r) for r in data.get(self.name, {}).get("rows", []))
        rows.update((key(r), r) for r in self.rows)
        merged = [rows[k] for k in sorted(rows, key=str)]
        data[self.name] = dict(self.count(merged), rows=merged)
        path.write_text(json.dumps(data, indent=1, sort_keys=True))
        write_report(data)
        return data


def write_report(data):
    """The "## Faults" section of docs/reliability.md (other sections are left as they are)."""
    totals = dict(scenarios=0, faults_injected=0, invariant_violations=0, orphans=0)
    lines = ["## Faults", "",
             "Generated by `tests/reliability/` (kubesim fault injection, a fault proxy in front of the real "
             "Prometheus, real ansible-playbook for the killed-process cases). After every fault: each "
             "VirtualService's weights sum to 100, no route names a subset its DestinationRule lacks, no module "
             "process is left running, and a re-run reaches the intended end state.", "",
             "| suite | scenarios | faults injected | invariant violations | orphan processes |",
             "|---|---|---|---|---|"]
    for name in sorted(data):
        t = data[name]
        lines.append("| %s | %d | %d | %d | %d |" % (name, t["scenarios"], t["faults_injected"],
                                                     t["invariant_violations"], t["orphans"]))
        for key in totals:
            totals[key] += t[key]
    lines.append("| **total** | %d | %d | %d | %d |" % (totals["scenarios"], totals["faults_injected"],
                                                        totals["invariant_violations"], totals["orphans"]))
    outcomes = {}
    for name in data:
        for row in data[name]["rows"]:
            seen = outcomes.setdefault((row["path"], row["fault"]), dict(requests=set(), outcomes=set(), runs=0))
            seen["requests"].add(row["request"])
            seen["outcomes"].add(row["outcome"])
            seen["runs"] += 1
    lines += ["", "| path | fault | on requests | runs | outcomes |", "|---|---|---|---|---|"]
    for (path, fault), seen in sorted(outcomes.items()):
        lines.append("| %s | %s | %s | %d | %s |" % (path, fault, ", ".join(sorted(seen["requests"])), seen["runs"],
                                                     ", ".join(sorted(seen["outcomes"]))))
    lines += ["", "Invariant violations and orphan processes must be 0: the suite fails otherwise.", ""]
    section = "\n".join(lines)
    text = REPORT.read_text() if REPORT.exists() else "# Reliability\n\n"
    pattern = re.compile(r"^## Faults\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    REPORT.write_text(text.rstrip("\n") + "\n")
