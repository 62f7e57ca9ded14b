"""KubeSim: one simulated cluster (API server + controllers) on a loopback HTTPS port."""
import base64
import ipaddress
import json
import os
import random
import secrets
import threading
import time
import uuid
from pathlib import Path

import yaml

from . import errors
from .api import Api, Request
from .controllers import NODE_IP, NODE_NAME, Controllers
from .proxy import ServiceProxy
from .resources import Registry
from .server import Fault, make_server
from .store import Store, clone
from .tls import ClusterPKI

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_yaml_cache = {}
_yaml_cache_lock = threading.Lock()


def load_yaml_documents(text):
    return [d for d in yaml.load_all(text, Loader=_Loader) if d]


def _load_file(path):
    """Parsed documents of a file, parsed once per process (the Istio CRDs are ~1 MB of YAML)."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _yaml_cache_lock:
        docs = _yaml_cache.get(key)
        if docs is None:
            docs = load_yaml_documents(path.read_text())
            _yaml_cache[key] = docs
    return docs


class KubeSim:
    """An in-memory Kubernetes API server that kubectl, client-go, helm and the Python client accept."""

    def __init__(self, name="kubesim", crd_files=(), available_delay=0.0, port=0, openshift=False):
        self.name = name
        self.available_delay = float(available_delay)
        self.crd_files = [str(f) for f in crd_files]
        self._requested_port = port
        self.store = Store()
        self.registry = Registry()
        self.stopped = False
        self.request_log = []
        self._log_lock = threading.Lock()
        self._faults = []
        self._faults_lock = threading.Lock()
        self._timers = set()
        self._timers_lock = threading.Lock()
        self._tokens = {}
        self._revoked = set()
        self._ips = {"service": int(ipaddress.ip_address("10.96.0.10")), "pod": int(ipaddress.ip_address("10.244.0.10"))}
        self._pod_ips = {}
        self._random = random.Random()
        self.admin_token = secrets.token_hex(24)
        self.pki = ClusterPKI(name)
        self.ca_pem = self.pki.ca_pem
        self.api = Api(self)
        self.controllers = Controllers(self)
        self.service_proxy = ServiceProxy(self)
        self._server = None
        self._thread = None
        self.port = None
        self._bootstrap()
        self.openshift = bool(openshift)
        if self.openshift:
            # Route, SecurityContextConstraints and Multus' NetworkAttachmentDefinition (openshift.py).
            from .openshift import install
            install(self)
        for path in self.crd_files:
            self.create_objects(clone(_load_file(path)))

    # lifecycle ------------------------------------------------------------------------------
    def start(self):
        self._server = make_server(self, self.pki.server_context(), self._requested_port)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"kubesim-{self.name}", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def stop(self):
        if self.stopped:
            return
        self.stopped = True
        with self._timers_lock:
            for timer in list(self._timers):
                timer.cancel()
            self._timers.clear()
        self.store.close_all_watchers()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def schedule(self, delay, fn):
        def run():
            with self._timers_lock:
                self._timers.discard(timer)
            if not self.stopped:
                fn()
        timer = threading.Timer(max(delay, 0.0), run)
        timer.daemon = True
        with self._timers_lock:
            if self.stopped:
                return
            self._timers.add(timer)
        timer.start()

    # kubeconfig -----------------------------------------------------------------------------
    def kubeconfig(self, context=None):
        context = context or self.name
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": context,
            "clusters": [{"name": context, "cluster": {
                "server": self.url,
                "certificate-authority-data": base64.b64encode(self.ca_pem.encode()).decode()}}],
            "users": [{"name": f"{context}-admin", "user": {"token": self.admin_token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-admin",
                                                       "namespace": "default"}}],
        }

    def write_kubeconfig(self, path, context=None):
        """Write a kubeconfig (mode 0600) atomically: whoever waits for the file sees it whole."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(self.kubeconfig(context), fh, sort_keys=False)
        os.replace(partial, path)
        return str(path)

    # tokens ---------------------------------------------------------------------------------
    def issue_token(self, subject, seconds, uid, secret=None):
        """A JWT-shaped bearer token (clients never verify it; kubesim looks it up)."""
        parts = subject.split(":")
        namespace, sa_name = (parts[2], parts[3]) if len(parts) == 4 else ("", subject)
        claims = {"iss": "kubernetes/serviceaccount", "sub": subject, "jti": str(uuid.uuid4()),
                  "kubernetes.io/serviceaccount/namespace": namespace,
                  "kubernetes.io/serviceaccount/service-account.name": sa_name,
                  "kubernetes.io/serviceaccount/service-account.uid": uid}
        if seconds:
            claims["exp"] = int(time.time()) + int(seconds)

        def b64(data):
            return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()

        token = f"{b64({'alg': 'RS256', 'kid': self.name})}.{b64(claims)}.{secrets.token_urlsafe(32)}"
        self._tokens[token] = {"subject": subject, "expires": time.time() + seconds if seconds else None,
                               "secret": secret}
        return token

    def token_subject(self, token):
        """Who a bearer token authenticates as, or None."""
        if not token or token in self._revoked:
            return None
        if token == self.admin_token:
            return "kubernetes-admin"
        entry = self._tokens.get(token)
        if entry is None:
            return None
        if entry["expires"] is not None and time.time() > entry["expires"]:
            return None
        if entry["secret"] is not None:
            ns, name = entry["secret"]
            secret = self.store.peek(("", "secrets"), ns, name)
            if secret is None:
                return None
            stored = (secret.get("data") or {}).get("token")
            if not stored or base64.b64decode(stored).decode() != token:
                return None
        return entry["subject"]

    def revoke_token(self, token):
        """Make a token (admin or issued) fail authentication from now on, as an expired one would."""
        self._revoked.add(token)

    def expire_token(self, token):
        self.revoke_token(token)

    # allocation -----------------------------------------------------------------------------
    def new_uid(self):
        return str(uuid.uuid4())

    def random_suffix(self, length=5):
        return "".join(self._random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(length))

    def allocate_cluster_ip(self):
        self._ips["service"] += 1
        return str(ipaddress.ip_address(self._ips["service"]))

    def allocate_pod_ip(self, uid):
        if uid not in self._pod_ips:
            self._ips["pod"] += 1
            self._pod_ips[uid] = str(ipaddress.ip_address(self._ips["pod"]))
        return self._pod_ips[uid]

    # request log and faults -----------------------------------------------------------------
    def _log(self, record):
        with self._log_lock:
            self.request_log.append(record)

    def clear_request_log(self):
        with self._log_lock:
            self.request_log.clear()

    def writes(self):
        """Requests that could change state: non-dry-run POST/PUT/PATCH/DELETE."""
        with self._log_lock:
            return [r for r in self.request_log
                    if r.method in ("POST", "PUT", "PATCH", "DELETE") and not r.dry_run
                    and not r.path.endswith(("/selfsubjectaccessreviews", "/subjectaccessreviews",
                                             "/tokenreviews"))]

    def inject_fault(self, method=None, path=r".*", status=500, latency=0.0, drop=False, times=1,
                     dry_run_only=False, message=None, retry_after=None):
        """Make the next `times` matching requests fail (times=None: every one until cleared).

        status=None with latency>0 delays the request and then serves it normally. retry_after (seconds)
        sends a Retry-After header with the failure, as kube-apiserver does with 429 (and 503 from its
        priority-and-fairness layer).
        """
        fault = Fault(method, path, status, latency, drop, times, dry_run_only, message, retry_after)
        with self._faults_lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self):
        with self._faults_lock:
            self._faults.clear()

    def _take_fault(self, method, path, dry_run):
        with self._faults_lock:
            for fault in self._faults:
                if fault.matches(method, path, dry_run):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    fault.hits += 1
                    return fault
        return None

    # direct state access --------------------------------------------------------------------
    def _rtype(self, api_version, kind):
        rtype = self.registry.by_api_version_kind(api_version, kind)
        if rtype is None:
            raise KeyError(f"kubesim {self.name} serves no {kind} in {api_version}")
        return rtype

    def get_object(self, api_version, kind, name, namespace=None):
        rtype = self._rtype(api_version, kind)
        with self.store.lock:
            obj = self.store.get(rtype.key, namespace if rtype.namespaced else None, name)
        if obj is not None:
            obj["apiVersion"] = rtype.api_version
        return obj

    def list_objects(self, api_version, kind, namespace=None):
        rtype = self._rtype(api_version, kind)
        with self.store.lock:
            objs = self.store.list(rtype.key, namespace if rtype.namespaced else None)
        for obj in objs:
            obj["apiVersion"] = rtype.api_version
        return objs

    def create_objects(self, objects):
        """Create objects directly (validated and admitted as an API create would be); returns them."""
        if isinstance(objects, str):
            objects = load_yaml_documents(objects)
        elif isinstance(objects, dict):
            objects = [objects]
        created = []
        for obj in objects:
            if obj.get("kind", "").endswith("List") and isinstance(obj.get("items"), list):
                created.extend(self.create_objects(obj["items"]))
                continue
            rtype = self._rtype(obj.get("apiVersion", ""), obj.get("kind", ""))
            namespace = None
            if rtype.namespaced:
                namespace = (obj.get("metadata") or {}).get("namespace") or "default"
            req = Request("create", rtype, namespace, None, None, {"fieldManager": "kubesim-seed"}, obj,
                          user_agent="kubesim")
            _, result = self.api.create(req)
            created.append(result)
        return created

    # bootstrap ------------------------------------------------------------------------------
    def _bootstrap(self):
        """What a fresh kubeadm-like cluster already holds."""
        with self.store.lock:
            for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
                self.create_objects([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}])
            self.create_objects([{
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                                               "targetPort": 6443}]}}])
            self.create_objects([{
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": NODE_NAME, "labels": {
                    "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                    "node-role.kubernetes.io/control-plane": "", "topology.kubernetes.io/region": "kubesim",
                    "topology.kubernetes.io/zone": "kubesim-a"}},
                "spec": {"podCIDR": "10.244.0.0/24"}}])
            node = self.store.get(("", "nodes"), None, NODE_NAME)
            node["status"] = {
                "addresses": [{"type": "InternalIP", "address": NODE_IP}, {"type": "Hostname", "address": NODE_NAME}],
                "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "250"},
                "capacity": {"cpu": "8", "memory": "32Gi", "pods": "250"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "kubelet is posting ready status",
                                "lastHeartbeatTime": node["metadata"]["creationTimestamp"],
                                "lastTransitionTime": node["metadata"]["creationTimestamp"]}],
                "nodeInfo": {"kubeletVersion": "v1.32.4", "containerRuntimeVersion": "containerd://1.7.24",
                             "operatingSystem": "linux", "architecture": "amd64", "osImage": "kubesim",
                             "kernelVersion": "6.1.0", "kubeProxyVersion": "v1.32.4", "machineID": "",
                             "systemUUID": "", "bootID": ""}}
            self.store.put(("", "nodes"), node)
            self.controllers.drain()


__all__ = ["KubeSim", "errors"]
