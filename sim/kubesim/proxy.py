"""The service proxy subresource: /api/v1/namespaces/<ns>/services/[<scheme>:]<name>[:<port>]/proxy/<path>.

A real API server forwards to a ready endpoint of the Service; kubesim has no pods that listen, so a
test registers the address that stands for the Service's port (for example the real Prometheus the
tests start) with ``sim.service_proxy.register(...)``. As on a real server:

- the caller must be authenticated (done before routing) and allowed: ``forbid(...)`` makes the proxy
  answer 403 with the real RBAC message (the verb follows the HTTP method: GET is ``get``, POST is
  ``create``);
- a Service that does not exist is 404, a port the Service does not have or a Service with nothing
  registered is 503 ("no endpoints available");
- the caller's Authorization header is not passed on (the API server authenticates itself to pods).
"""
import re
import threading
import urllib.error
import urllib.parse
import urllib.request

from . import errors

_PATH_RE = re.compile(r"^/api/v1/namespaces/([^/]+)/services/([^/]+)/proxy(/.*)?$")
_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
# Hop-by-hop and credential headers a proxy does not forward.
_DROPPED = {"authorization", "connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host",
            "content-length", "proxy-authorization"}


def match(path):
    """(namespace, service part, rest of path) of a service proxy path, or None."""
    m = _PATH_RE.match(path)
    if not m:
        return None
    return urllib.parse.unquote(m.group(1)), urllib.parse.unquote(m.group(2)), m.group(3) or "/"


def parse_service(part):
    """(scheme, name, port) of ``[scheme:]name[:port]`` (scheme and port may be empty)."""
    pieces = part.split(":")
    if len(pieces) == 3:
        return pieces[0], pieces[1], pieces[2]
    if len(pieces) == 2:
        if pieces[0] in ("http", "https"):
            return pieces[0], pieces[1], ""
        return "", pieces[0], pieces[1]
    return "", part, ""


class ServiceProxy:
    def __init__(self, sim):
        self.sim = sim
        self._lock = threading.Lock()
        self._targets = {}
        self._forbidden = []
        self.forwarded = []

    # test API --------------------------------------------------------------------------------
    def register(self, namespace, name, port, url):
        """Requests to Service namespace/name on ``port`` (number or name) go to ``url`` (http://host:port)."""
        with self._lock:
            self._targets[(namespace, name, str(port))] = url.rstrip("/")

    def unregister(self, namespace, name, port):
        with self._lock:
            self._targets.pop((namespace, name, str(port)), None)

    def forbid(self, namespace=None, user=None):
        """Refuse the proxy (403) in ``namespace`` (every one when None) to ``user`` (everyone when None)."""
        with self._lock:
            self._forbidden.append((namespace, user))

    def allow_all(self):
        with self._lock:
            self._forbidden = []

    # serving ---------------------------------------------------------------------------------
    def serve(self, handler, namespace, service_part, rest, body):
        """Answer one proxied request on ``handler`` (the server's request handler)."""
        method = handler.command
        user = handler._record.user
        scheme, name, port = parse_service(service_part)
        verb = _VERBS.get(method, method.lower())
        with self._lock:
            refused = any((ns is None or ns == namespace) and (u is None or u == user) for ns, u in self._forbidden)
            targets = dict(self._targets)
        if refused:
            raise errors.ApiError(403, f'services "{name}" is forbidden: User "{user}" cannot {verb} resource '
                                       f'"services/proxy" in API group "" in the namespace "{namespace}"',
                                  details={"name": name, "kind": "services"})
        service = self.sim.get_object("v1", "Service", name, namespace)
        if service is None:
            raise errors.ApiError(404, f'services "{name}" not found', details={"name": name, "kind": "services"})
        ports = (service.get("spec") or {}).get("ports") or []
        chosen = None
        for p in ports:
            if not port or str(p.get("port")) == port or p.get("name") == port:
                chosen = p
                break
        if chosen is None:
            raise errors.ApiError(503, f'no service port "{port}" found for service "{name}"')
        target = targets.get((namespace, name, str(chosen.get("port")))) or (
            chosen.get("name") and targets.get((namespace, name, chosen["name"])))
        if not target:
            raise errors.ApiError(503, f'no endpoints available for service "{service_part}"')
        query = urllib.parse.urlsplit(handler.path).query
        url = target + rest + ("?" + query if query else "")
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _DROPPED}
        self.forwarded.append(dict(method=method, namespace=namespace, service=name, path=rest, query=query,
                                   user=user, authorization="authorization" in {k.lower() for k in handler.headers}))
        request = urllib.request.Request(url, data=body or None, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, payload, answer_headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as e:
            status, payload, answer_headers = e.code, e.read(), e.headers
        except OSError as e:
            # What a real API server answers when the endpoint does not accept the connection.
            raise errors.ApiError(503, f"error trying to reach service: {e}") from None
        # The body goes back as it came (gzip included when the client asked for it).
        for name in ("Content-Encoding", "Retry-After"):
            if answer_headers.get(name):
                handler._headers[name] = answer_headers[name]
        handler._send(status, payload, answer_headers.get("Content-Type") or "application/octet-stream")
