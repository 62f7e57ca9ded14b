"""The HTTPS front: routing, authentication, content negotiation, watches, request log, faults."""
import json
import queue
import re
import socket
import ssl
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

from . import discovery, errors, protobuf, proxy, table
from .api import Request
from .selectors import match_fields, match_labels, parse_field_selector, parse_label_selector

_ANONYMOUS_PATHS = {"/version", "/healthz", "/livez", "/readyz"}
_JSON = "application/json"
_MAX_WATCH_SECONDS = 1800


class RequestRecord:
    """One entry of KubeSim.request_log."""

    __slots__ = ("method", "path", "query", "status", "time", "duration", "dry_run", "user_agent", "user",
                 "content_type", "fault")

    def __init__(self, method, path, query, user_agent, content_type):
        self.method, self.path, self.query = method, path, query
        self.user_agent, self.content_type = user_agent, content_type
        self.status, self.time, self.duration, self.user, self.fault = 0, time.time(), 0.0, None, False
        self.dry_run = query.get("dryRun") == "All"

    def __repr__(self):
        q = "&".join(f"{k}={v}" for k, v in self.query.items())
        return f"<{self.method} {self.path}{'?' + q if q else ''} -> {self.status}>"


class Fault:
    def __init__(self, method, path, status, latency, drop, times, dry_run_only, message, retry_after=None):
        self.method = method.upper() if method else None
        self.path = re.compile(path) if path else None
        self.status, self.latency, self.drop = status, latency, drop
        self.remaining, self.dry_run_only, self.message = times, dry_run_only, message
        self.retry_after = retry_after
        self.hits = 0

    def matches(self, method, path, dry_run):
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method and self.method != method:
            return False
        if self.path and not self.path.search(path):
            return False
        return dry_run or not self.dry_run_only


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler, sim, ssl_context):
        self.sim = sim
        self.ssl_context = ssl_context
        self.connections = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        # The TLS handshake happens in the connection's own thread, never in the accept loop.
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with self.connections_lock:
            self.connections.add(tls)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            with self.connections_lock:
                self.connections.discard(tls)
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass

    def close_connections(self):
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _DropConnection(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubesim"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - the stdlib signature
        pass

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # plumbing -------------------------------------------------------------------------------
    @property
    def sim(self):
        return self.server.sim

    def _dispatch(self):
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path.rstrip("/") or "/"
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
        record = RequestRecord(self.command, path, query, self.headers.get("User-Agent", ""),
                               self.headers.get("Content-Type", ""))
        self._record = record
        self._warnings = []
        self._headers = {}
        started = time.monotonic()
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = self._read_chunked()
            # Logged before it is served: a test that reads the log right after its client returned
            # must see the request even if this thread has not finished its bookkeeping.
            self.sim._log(record)
            fault = self.sim._take_fault(self.command, path, record.dry_run)
            if fault is not None:
                record.fault = True
                if fault.latency:
                    time.sleep(fault.latency)
                if fault.drop:
                    raise _DropConnection()
                if fault.status:
                    if fault.retry_after is not None:
                        self._headers = {"Retry-After": str(fault.retry_after)}
                    raise errors.ApiError(fault.status, fault.message or _fault_message(fault.status))
            user = self._authenticate(path)
            record.user = user
            self._route(path, query, body)
        except _DropConnection:
            record.status = 0
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        except errors.ApiError as exc:
            self._send_json(exc.code, exc.status())
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        except Exception as exc:  # a kubesim bug must answer 500, not hang the client
            traceback.print_exc()
            self._send_json(500, errors.ApiError(500, f"kubesim internal error: {exc!r}").status())
        finally:
            record.duration = time.monotonic() - started

    def _read_chunked(self):
        data = b""
        while True:
            size = int(self.rfile.readline().strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return data
            data += self.rfile.read(size)
            self.rfile.readline()

    def _authenticate(self, path):
        auth = self.headers.get("Authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        subject = self.sim.token_subject(token) if token else None
        if subject is None and path not in _ANONYMOUS_PATHS:
            raise errors.UNAUTHORIZED
        return subject or "system:anonymous"

    def _send(self, code, payload, content_type=_JSON):
        self._record.status = code
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", str(uuid.uuid4()))
        for warning in self._warnings:
            self.send_header("Warning", f'299 - "{warning}"')
        for name, value in self._headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_json(self, code, obj, content_type=_JSON):
        self._send(code, json.dumps(obj, separators=(",", ":")).encode(), content_type)

    def _accept(self):
        return self.headers.get("Accept", "") or ""

    # routing --------------------------------------------------------------------------------
    def _route(self, path, query, body):
        sim = self.sim
        registry = sim.registry
        if path in ("/healthz", "/livez", "/readyz"):
            return self._send(200, b"ok", "text/plain; charset=utf-8")
        if path == "/version":
            return self._send_json(200, discovery.VERSION_INFO)
        if self.command == "GET" and path in ("/api", "/apis"):
            accept = self._accept()
            aggregated = None
            for part in accept.split(","):
                if "as=APIGroupDiscoveryList" in part and "g=apidiscovery.k8s.io" in part:
                    if "v=v2beta1" in part and aggregated is None:
                        aggregated = "v2beta1"
                    elif "v=v2" in part and "v=v2beta1" not in part:
                        aggregated = "v2"
                        break
            if aggregated:
                with sim.store.lock:
                    doc = discovery.aggregated(registry, path == "/api", f"apidiscovery.k8s.io/{aggregated}")
                ctype = discovery.AGGREGATED_V2 if aggregated == "v2" else discovery.AGGREGATED_V2BETA1
                return self._send_json(200, doc, ctype)
            if path == "/api":
                return self._send_json(200, discovery.api_versions(f"127.0.0.1:{sim.port}"))
            return self._send_json(200, discovery.api_group_list(registry))
        if path == "/openapi/v2":
            return self._send_json(200, discovery.openapi_v2(registry))
        if path == "/openapi/v3":
            return self._send_json(200, discovery.openapi_v3_root(registry))
        if path.startswith("/openapi/v3/"):
            gv = path[len("/openapi/v3/"):]
            parts = gv.split("/")
            group, version = ("", parts[1]) if parts[0] == "api" and len(parts) == 2 else (
                (parts[1], parts[2]) if parts[0] == "apis" and len(parts) == 3 else (None, None))
            doc = discovery.openapi_v3_group_version(registry, group, version) if version else None
            if doc is None:
                raise errors.unknown_path()
            return self._send_json(200, doc)
        proxied = proxy.match(path)
        if proxied is not None:
            return sim.service_proxy.serve(self, *proxied, body)
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 2:
            if len(parts) == 2:
                doc = discovery.api_group(registry, parts[1])
                if doc is None:
                    raise errors.unknown_path()
                return self._send_json(200, doc)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise errors.unknown_path()
        if not rest:
            doc = discovery.api_resource_list(registry, group, version)
            if doc is None:
                raise errors.unknown_path()
            return self._send_json(200, doc)
        watch_path = False
        if rest[0] == "watch":
            watch_path, rest = True, rest[1:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and registry.by_path(group, version, rest[2]) is not None:
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise errors.unknown_path()
        rtype = registry.by_path(group, version, rest[0])
        if rtype is None:
            raise errors.unknown_path()
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        if subresource and subresource not in rtype.subresources:
            raise errors.unknown_path()
        if rtype.namespaced and name is not None and namespace is None:
            raise errors.unknown_path()
        if not rtype.namespaced and namespace is not None:
            raise errors.unknown_path()
        req = Request(self.command.lower(), rtype, namespace, name, subresource, query, None,
                      self.headers.get("Content-Type", _JSON), self.headers.get("User-Agent", ""),
                      self._record.user)
        req.warnings = self._warnings
        req.body = self._decode_body(body, req) if body else None
        self._serve(req, watch_path)

    def _decode_body(self, body, req):
        ctype = (req.content_type or _JSON).split(";")[0].strip().lower()
        if ctype == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode(body)
            except protobuf.ProtobufError as exc:
                raise errors.bad_request(f"unable to decode protobuf body: {exc}") from None
        if self.command == "PATCH":
            return body  # decoded by the patch type
        try:
            return json.loads(body)
        except ValueError as exc:
            if ctype in ("application/yaml", "application/apply-patch+yaml"):
                try:
                    return yaml.safe_load(body)
                except yaml.YAMLError:
                    pass
            raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from None

    def _serve(self, req, watch_path):
        api = self.sim.api
        method = self.command
        rtype = req.rtype
        if method == "GET":
            if watch_path or req.query.get("watch") in ("true", "1", "True"):
                if "watch" not in rtype.verbs:
                    raise errors.method_not_allowed()
                return self._watch(req)
            if req.name is None:
                if "list" not in rtype.verbs:
                    raise errors.method_not_allowed()
                return self._answer(200, api.list(req), req, is_list=True)
            if "get" not in rtype.verbs:
                raise errors.method_not_allowed()
            if req.subresource == "log":
                return self._send(200, api.pod_log(req).encode(), "text/plain")
            return self._answer(200, api.get(req), req)
        if method == "POST":
            if req.name is not None and req.subresource is None:
                raise errors.method_not_allowed()
            if "create" not in rtype.verbs:
                raise errors.method_not_allowed()
            code, obj = api.create(req)
            return self._answer(code, obj, req)
        if req.name is None:
            if method == "DELETE":
                code, obj = api.delete_collection(req)
                return self._answer(code, obj, req)
            raise errors.method_not_allowed()
        if method == "PUT":
            if "update" not in rtype.verbs and req.subresource is None:
                raise errors.method_not_allowed()
            code, obj = api.update(req)
            return self._answer(code, obj, req)
        if method == "PATCH":
            if "patch" not in rtype.verbs:
                raise errors.method_not_allowed()
            code, obj = api.patch(req)
            return self._answer(code, obj, req)
        if method == "DELETE":
            if "delete" not in rtype.verbs:
                raise errors.method_not_allowed()
            code, obj = api.delete(req)
            return self._answer(code, obj, req)
        raise errors.method_not_allowed()

    def _table_wanted(self):
        return "as=Table" in self._accept()

    def _answer(self, code, obj, req, is_list=False):
        if self._table_wanted() and obj.get("kind") not in ("Status", "Scale", "TokenRequest"):
            include = req.query.get("includeObject", "Metadata")
            if is_list:
                obj = table.to_table(req.rtype, obj["items"], include, obj.get("metadata"))
            else:
                obj = table.to_table(req.rtype, [obj], include,
                                     {"resourceVersion": obj["metadata"].get("resourceVersion", "")})
        self._send_json(code, obj)

    # watch ----------------------------------------------------------------------------------
    def _watch(self, req):
        sim = self.sim
        rtype = req.rtype
        labels = parse_label_selector(req.query.get("labelSelector", ""))
        fields = parse_field_selector(req.query.get("fieldSelector", ""))
        timeout = float(req.query.get("timeoutSeconds") or _MAX_WATCH_SECONDS)
        rv_param = req.query.get("resourceVersion", "")
        namespace = req.namespace if rtype.namespaced else None
        if req.name:
            fields.append(("metadata.name", "=", req.name))
        initial = []
        with sim.store.lock:
            if rv_param in ("", "0") or req.query.get("sendInitialEvents") == "true":
                watcher, _ = sim.store.subscribe(rtype.key, namespace, None)
                initial = sim.store.list(rtype.key, namespace)
                start_rv = sim.store.resource_version
            else:
                try:
                    since = int(rv_param)
                except ValueError:
                    raise errors.bad_request(f"invalid resource version: {rv_param!r}") from None
                watcher, ok = sim.store.subscribe(rtype.key, namespace, since)
                if not ok:
                    watcher.close()
                    raise errors.gone(f"too old resource version: {since} ({sim.store.oldest_rv()})")
                start_rv = since
        table_wanted = self._table_wanted()
        include = req.query.get("includeObject", "Metadata")

        def matches(obj):
            return obj is not None and match_labels(labels, obj["metadata"].get("labels")) and match_fields(fields, obj)

        def encode(event_type, obj):
            obj = dict(obj)
            obj["apiVersion"] = rtype.api_version
            if table_wanted and event_type != "BOOKMARK":
                obj = table.to_table(rtype, [obj], include,
                                     {"resourceVersion": obj["metadata"].get("resourceVersion", "")})
            return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"

        self._record.status = 200
        self.send_response(200)
        self.send_header("Content-Type", _JSON)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        deadline = time.monotonic() + timeout
        try:
            for obj in initial:
                if matches(obj):
                    self._chunk(encode("ADDED", obj))
            if req.query.get("sendInitialEvents") == "true" and req.query.get("allowWatchBookmarks") == "true":
                self._chunk(encode("BOOKMARK", {"kind": rtype.kind, "apiVersion": rtype.api_version,
                                                "metadata": {"resourceVersion": str(start_rv), "annotations": {
                                                    "k8s.io/initial-events-end": "true"}}}))
            while not sim.stopped:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    event = watcher.queue.get(timeout=min(remaining, 0.5))
                except queue.Empty:
                    continue
                if event is None:
                    break
                now_match, was_match = matches(event.obj), matches(event.old) if event.old is not None else False
                if event.type == "ADDED" and now_match:
                    self._chunk(encode("ADDED", event.obj))
                elif event.type == "DELETED" and (was_match or now_match):
                    self._chunk(encode("DELETED", event.obj))
                elif event.type == "MODIFIED":
                    if now_match and was_match:
                        self._chunk(encode("MODIFIED", event.obj))
                    elif now_match:
                        self._chunk(encode("ADDED", event.obj))
                    elif was_match:
                        self._chunk(encode("DELETED", event.obj))
            self._chunk(b"")
        finally:
            watcher.close()

    def _chunk(self, data):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _fault_message(status):
    if status == 500:
        return "Internal error occurred: kubesim injected fault"
    if status == 503:
        return "the server is currently unable to handle the request"
    if status == 409:
        return "Operation cannot be fulfilled: the object has been modified; please apply your changes to the " \
               "latest version and try again"
    if status == 429:
        return "Too many requests, please try again later."
    return f"kubesim injected fault ({status})"


def make_server(sim, ssl_context, port=0):
    server = _Server(("127.0.0.1", port), Handler, sim, ssl_context)
    return server
