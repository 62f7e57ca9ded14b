"""meshsim: simulated mesh traffic that follows the routing stored in a (simulated) cluster.

    mesh = MeshSim(KubeReader(kubeconfig, context), cluster="primary").start()
    mesh.add_service("reviews", "bookinfo", rate=50, versions=["v1", "v2", "v3"],
                     source_workload="productpage-v1", headers=[({"end-user": "jason"}, 0.1)])
    mesh.set_version("reviews", "v3", error_rate=0.3, latency_ms=40)
    mesh.url + "/metrics"      # Istio's standard metrics, for Prometheus to scrape

With ``follow_jobs=True``, Jobs running ``fortio load`` (as istio_release's load generation creates them) are
clients too: see loadjobs.py.

Requests are generated in real time (``rate`` per second), so counters grow like a live mesh's
and Prometheus's rate() over a 10s window means what it means in production.
"""
import json
import math
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import loadjobs, routing
from .metrics import IstioMetrics

TICK = 0.05


class KubeReader:
    """Reads VirtualServices and DestinationRules, and mesh HTTPRoutes in their form, through the Kubernetes API."""

    def __init__(self, kubeconfig, context=None, api_version="v1"):
        from kubernetes import client, config
        api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
        self.api = client.CustomObjectsApi(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.no_gateway_api = False
        self.version = api_version

    def jobs(self, namespace):
        """The namespace's Jobs (load generators among them), as dicts like the API serves them."""
        return self.batch.api_client.sanitize_for_serialization(self.batch.list_namespaced_job(namespace))["items"]

    def __call__(self, namespace):
        def items(plural):
            return self.api.list_namespaced_custom_object("networking.istio.io", self.version, namespace,
                                                          plural)["items"]
        vss, drs = items("virtualservices"), items("destinationrules")
        routes = self.http_routes(namespace)
        if routes:
            services = self.core.list_namespaced_service(namespace).to_dict()["items"]
            services = [{"metadata": {"name": s["metadata"]["name"]}, "spec": {"selector": s["spec"].get("selector")}}
                        for s in services]
            route_vss, route_drs = routing.from_http_routes(routes, services, namespace)
            vss, drs = route_vss + vss, route_drs + drs
        return vss, drs

    def http_routes(self, namespace):
        """Gateway API HTTPRoutes of the namespace; none where the cluster does not serve them.

        A cluster found without them is not asked again (tests install the CRDs when they start the
        cluster), so tests that count API requests see no more polling than before."""
        from kubernetes.client.exceptions import ApiException
        if self.no_gateway_api:
            return []
        try:
            return self.api.list_namespaced_custom_object("gateway.networking.k8s.io", "v1", namespace,
                                                          "httproutes")["items"]
        except ApiException as e:
            if e.status == 404:
                self.no_gateway_api = True
                return []
            raise


class Version:
    def __init__(self, name, workload, error_rate=0.0, error_code=503, latency_ms=20.0, latency_spread=0.25,
                 labels=None, cluster=None):
        self.name = name
        self.workload = workload
        # Pod labels a DestinationRule subset may select on (the codelab's worker subsets use
        # cluster-type, not version); ``version`` is the version's name unless given.
        self.labels = dict(labels or {})
        self.labels.setdefault("version", name)
        # The cluster these pods run in (destination_cluster), when not the service's.
        self.cluster = cluster
        self.error_rate = error_rate
        self.error_code = error_code
        self.latency_ms = latency_ms
        self.latency_spread = latency_spread

    def serve(self, rng):
        """(response code, duration in ms) of one request."""
        code = self.error_code if rng.random() < self.error_rate else 200
        # Log-normal around latency_ms: a realistic tail, so P99 sits above the median.
        duration = self.latency_ms * math.exp(rng.gauss(0, self.latency_spread)) if self.latency_spread else self.latency_ms
        return code, duration


class Service:
    def __init__(self, name, namespace, rate, versions, source_workload, source_namespace, headers, domain, cluster):
        self.name = name
        self.namespace = namespace
        self.rate = float(rate)
        self.versions = versions
        self.source_workload = source_workload
        self.source_namespace = source_namespace or namespace
        self.headers = list(headers or [])
        self.fqdn = "%s.%s.svc.%s" % (name, namespace, domain)
        self.cluster = cluster
        self.owed = 0.0
        self.virtual_services = []
        self.destination_rules = []
        self.config_error = None


class MeshSim:
    def __init__(self, reader=None, cluster="Kubernetes", refresh=1.0, seed=None, domain="cluster.local",
                 follow_jobs=False):
        self.reader = reader
        # Reading Jobs is one more list per namespace and refresh in the API server's request log, which tests that
        # count the requests of a module would see: only simulations that run load Jobs ask for it.
        self.follow_jobs = follow_jobs
        self.cluster = cluster
        self.refresh = refresh
        self.domain = domain
        self.rng = random.Random(seed)
        self.metrics = IstioMetrics()
        self.services = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._threads = []
        self._server = None
        self.refreshes = 0
        # fortio load Jobs found in the cluster: {(namespace, name): loadjobs.Load}
        self.loads = {}
        # (source workload, namespace) of the requests being sent for a load Job; None for the service's own clients.
        self._source = None

    # -- configuration (Python API; the HTTP control endpoint calls the same) -------------------
    def add_service(self, name, namespace, rate=20, versions=("v1",), source_workload="client",
                    source_namespace=None, headers=None, cluster=None, workload_format="{service}-{version}"):
        """Simulate clients calling ``name`` ``rate`` times a second.

        ``versions``: names, or {name: {error_rate, latency_ms, ...}}; each is a workload
        ``<service>-<version>`` whose pods carry ``version: <name>``. ``headers``: list of
        ({header: value}, share) - that share of requests carries those headers."""
        specs = versions if isinstance(versions, dict) else dict((v, {}) for v in versions)
        built = {}
        for version, spec in specs.items():
            spec = dict(spec or {})
            workload = spec.pop("workload", workload_format.format(service=name, version=version))
            built[version] = Version(version, workload, **spec)
        svc = Service(name, namespace, rate, built, source_workload, source_namespace, headers, self.domain,
                      cluster or self.cluster)
        with self._lock:
            self.services[(namespace, name)] = svc
            for version in built.values():
                self._touch(svc, version)
        self._load(svc)
        return self

    def remove_service(self, service):
        with self._lock:
            svc = self.service(service)
            del self.services[(svc.namespace, svc.name)]

    def service(self, service):
        """A simulated service by ``name`` (when only one has it) or ``namespace/name``."""
        if "/" in service:
            namespace, name = service.split("/", 1)
            return self.services[(namespace, name)]
        found = [s for (ns, name), s in self.services.items() if name == service]
        if len(found) != 1:
            raise KeyError("%d simulated services are called %s; name it namespace/name" % (len(found), service))
        return found[0]

    def set_version(self, service, version, **settings):
        with self._lock:
            svc = self.service(service)
            if version not in svc.versions:
                svc.versions[version] = Version(version, "%s-%s" % (service, version))
            for key, value in settings.items():
                if not hasattr(svc.versions[version], key):
                    raise ValueError("unknown version setting %r" % key)
                setattr(svc.versions[version], key, value)
            self._touch(svc, svc.versions[version])

    def set_rate(self, service, rate):
        with self._lock:
            self.service(service).rate = float(rate)

    def set_headers(self, service, headers):
        with self._lock:
            self.service(service).headers = list(headers)

    def configure(self, change):
        """Apply one control message: {service, rate?, headers?, version?, <version settings>...}."""
        change = dict(change)
        service = change.pop("service")
        if "rate" in change:
            self.set_rate(service, change.pop("rate"))
        if "headers" in change:
            self.set_headers(service, [(h, s) for h, s in change.pop("headers")])
        version = change.pop("version", None)
        if version:
            self.set_version(service, version, **change)
        elif change:
            raise ValueError("settings %s need a version" % sorted(change))

    # -- running --------------------------------------------------------------------------------
    def start(self, port=0):
        handler = _handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._threads = [threading.Thread(target=self._server.serve_forever, daemon=True),
                         threading.Thread(target=self._generate, daemon=True),
                         threading.Thread(target=self._watch, daemon=True)]
        for t in self._threads:
            t.start()
        return self

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        self._stop.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        for t in self._threads:
            t.join(timeout=5)

    def reload(self):
        """Read the routing now (tests call this instead of waiting for the next refresh)."""
        for svc in list(self.services.values()):
            self._load(svc)
        self._load_jobs()

    def _load_jobs(self):
        """fortio load Jobs in the namespaces of the simulated services: each is a client of its own."""
        if not self.follow_jobs or self.reader is None or not hasattr(self.reader, "jobs"):
            return
        found = {}
        for namespace in sorted(set(s.namespace for s in list(self.services.values()))):
            try:
                jobs = self.reader.jobs(namespace)
            except Exception:  # a cluster that is down: the pods it ran go on as they were
                return
            for job in jobs:
                load = loadjobs.parse(job)
                if load is not None:
                    found[(load.namespace, load.name)] = load
        with self._lock:
            for key, load in found.items():
                # A Job seen before keeps what it owes, so a refresh does not add or drop requests.
                found[key] = self.loads.get(key, load)
            self.loads = found

    def _load(self, svc):
        if self.reader is None:
            return
        try:
            vss, drs = self.reader(svc.namespace)
        except Exception as e:  # a cluster that is down keeps the last routing, as Envoy does
            svc.config_error = str(e)
            return
        vss = sorted(vss, key=lambda o: (o["metadata"].get("creationTimestamp") or "", o["metadata"]["name"]))
        with self._lock:
            svc.virtual_services, svc.destination_rules, svc.config_error = vss, drs, None
        self.refreshes += 1

    def _watch(self):
        while not self._stop.wait(self.refresh):
            self.reload()

    def _generate(self):
        last = time.monotonic()
        while not self._stop.wait(TICK):
            now = time.monotonic()
            elapsed, last = now - last, now
            with self._lock:
                for svc in self.services.values():
                    svc.owed += svc.rate * elapsed
                    count = int(svc.owed)
                    svc.owed -= count
                    for _ in range(count):
                        self.send(svc)
                self._send_load(elapsed)

    def _send_load(self, elapsed):
        """The requests of the running load Jobs, from their workloads (called with the lock held)."""
        wall = time.time()
        for load in self.loads.values():
            count = load.owe(elapsed, wall)
            target = self._load_target(load) if count else None
            if target is None:
                continue
            self._source = (load.name, load.namespace)
            try:
                for _ in range(count):
                    self.send(target, headers={})
            finally:
                self._source = None

    def _load_target(self, load):
        name, namespace = load.service
        return self.services.get((namespace, name))

    # -- one request ----------------------------------------------------------------------------
    def _pick_headers(self, svc):
        point = self.rng.random()
        upto = 0.0
        for headers, share in svc.headers:
            upto += share
            if point < upto:
                return dict(headers)
        return {}

    def send(self, svc, headers=None):
        """Route and serve one request to ``svc``; returns (version or None, code, duration)."""
        headers = self._pick_headers(svc) if headers is None else headers
        route = routing.route_for(svc.virtual_services, svc.name, svc.namespace, headers)
        if route is None:
            # No VirtualService: kube-proxy style, every version's pods share the traffic.
            version = self.rng.choice(sorted(svc.versions))
            return self._serve(svc, svc.versions[version], route=None)
        dest = routing.pick_destination(route, self.rng)
        target = self._resolve(svc, dest)
        if target is None:
            self._report_failure(svc, 503, "NR")
            return None, 503, 0.0
        result = self._serve(target[0], target[1], route)
        mirror = route.get("mirror")
        if mirror and self.rng.random() * 100 < float((route.get("mirrorPercentage") or {}).get("value", 100)):
            shadow = self._resolve(svc, mirror)
            if shadow is not None:
                code, duration = shadow[1].serve(self.rng)
                # The copy's answer is thrown away; only the receiving sidecar reports it.
                self._record(shadow[0], shadow[1], code, duration, reporters=("destination",))
        return result

    def _resolve(self, svc, dest):
        """(service, version) a destination points at, or None when the subset does not exist."""
        host = (dest or {}).get("host") or svc.name
        target = svc
        if not routing.same_host(host, svc.name, svc.namespace):
            target = next((s for s in self.services.values() if routing.same_host(host, s.name, s.namespace)
                           or host == s.fqdn), None)
            if target is None:
                return None
        subset = dest.get("subset")
        if not subset:
            return target, target.versions[self.rng.choice(sorted(target.versions))]
        labels = routing.subset_labels(target.destination_rules or svc.destination_rules, target.name,
                                       target.namespace, subset)
        if labels is None:
            return None
        # A subset matches the versions whose pods carry its labels (labels a version does not declare are
        # not compared, so plain version-only simulations keep working).
        matching = [v for v in target.versions.values()
                    if all(v.labels[k] == val for k, val in labels.items() if k in v.labels)]
        if not matching:
            return None
        return target, self.rng.choice(matching)

    def _serve(self, svc, version, route):
        timeout = routing.duration_ms((route or {}).get("timeout"))
        retries = (route or {}).get("retries") or {}
        attempts = 1 + int(retries.get("attempts") or 0)
        per_try = routing.duration_ms(retries.get("perTryTimeout"))
        spent = 0.0
        code = 503
        for _ in range(attempts):
            code, duration = version.serve(self.rng)
            if per_try is not None and duration > per_try:
                code, duration = 504, per_try
            self._record(svc, version, code, duration, reporters=("destination",))
            spent += duration
            if code < 500:
                break
        if timeout is not None and spent > timeout:
            code, spent = 504, timeout
        self._record(svc, version, code, spent, reporters=("source",))
        return version.name, code, spent

    def _labels(self, svc, version, code, reporter):
        source_workload, source_namespace = self._source or (svc.source_workload, svc.source_namespace)
        return dict(reporter=reporter, source_workload=source_workload,
                    source_workload_namespace=source_namespace, source_cluster=self.cluster,
                    destination_service=svc.fqdn, destination_service_name=svc.name,
                    destination_service_namespace=svc.namespace,
                    destination_workload=version.workload if version else "unknown",
                    destination_workload_namespace=svc.namespace if version else "unknown",
                    destination_version=version.name if version else "unknown",
                    destination_cluster=(version.cluster or svc.cluster) if version else "unknown",
                    request_protocol="http", response_code=str(code), response_flags="-")

    def _record(self, svc, version, code, duration, reporters):
        for reporter in reporters:
            self.metrics.record(self._labels(svc, version, code, reporter), duration)

    def _report_failure(self, svc, code, flags):
        labels = self._labels(svc, None, code, "source")
        labels["response_flags"] = flags
        self.metrics.record(labels, 0.0)

    def _touch(self, svc, version):
        codes = {200} | ({version.error_code} if version.error_rate else set())
        for code in codes:
            for reporter in ("source", "destination"):
                self.metrics.touch(self._labels(svc, version, code, reporter))

    # -- inspection -----------------------------------------------------------------------------
    def count(self, service, version=None, reporter="destination", code=None):
        svc = self.service(service)
        where = dict(destination_service_name=svc.name, destination_service_namespace=svc.namespace, reporter=reporter)
        if version:
            where["destination_version"] = version
        if code is not None:
            where["response_code"] = str(code)
        return self.metrics.totals(**where)

    def state(self):
        with self._lock:
            services = {}
            for s in self.services.values():
                key = "%s/%s" % (s.namespace, s.name)
                versions = dict((v.name, dict(workload=v.workload, error_rate=v.error_rate, error_code=v.error_code,
                                              latency_ms=v.latency_ms)) for v in s.versions.values())
                services[key] = dict(namespace=s.namespace, rate=s.rate, headers=s.headers,
                                     config_error=s.config_error, versions=versions,
                                     requests=dict((v, self.count(key, v)) for v in s.versions))
            loads = dict(("%s/%s" % key, load.state()) for key, load in self.loads.items())
            return dict(cluster=self.cluster, refreshes=self.refreshes, services=services, loads=loads)


def _handler(mesh):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, status, body, content_type="application/json"):
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/metrics":
                return self._send(200, mesh.metrics.exposition(), "text/plain; version=0.0.4")
            if self.path == "/state":
                return self._send(200, mesh.state())
            return self._send(404, {"error": "GET /metrics, GET /state or POST /control"})

        def do_POST(self):
            if self.path != "/control":
                return self._send(404, {"error": "POST /control"})
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                for change in body if isinstance(body, list) else [body]:
                    mesh.configure(change)
            except (ValueError, KeyError, TypeError) as e:
                return self._send(400, {"error": str(e)})
            return self._send(200, mesh.state())

    return Handler
