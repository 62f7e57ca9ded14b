# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Prometheus HTTP API client and the PromQL of Istio's standard metrics.

Results are typed (floats, with None for NaN/Inf and for "no sample"), because the one mistake a
canary gate must never make is to read "no traffic" as "0 errors": an empty result stays empty.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import http.client
import json
import math
import os
import re
import string
import time as _time
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode

from ansible_collections.meshops.istio.plugins.module_utils.kube import RETRY_STATUSES, Backoff
from ansible_collections.meshops.istio.plugins.module_utils.validation import url_problem

REQUESTS_TOTAL = "istio_requests_total"
DURATION_BUCKET = "istio_request_duration_milliseconds_bucket"
_DURATION_RE = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
_DURATION_UNITS = dict(ms=0.001, s=1, m=60, h=3600, d=86400, w=604800, y=31536000)
_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class PrometheusError(Exception):
    """A failed query; ``reason`` is unreachable, auth, bad_query, bad_tls (client TLS settings that cannot
    work, found before any request), http or bad_response; ``status`` the HTTP status, or for unreachable:
    timeout, dropped or refused."""

    def __init__(self, message, reason, status=None, retry_after=None):
        super(PrometheusError, self).__init__(message)
        self.message = message
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


# -- durations and times ------------------------------------------------------------------------

def seconds(value, what="duration"):
    """Seconds from an int/float or a Prometheus duration (15s, 1m, 500ms)."""
    if isinstance(value, bool):
        raise ValueError("%s is %r, not a duration: write e.g. 30s or 1m." % (what, value))
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("%s is %r; it cannot be negative." % (what, value))
        return float(value)
    text = str(value).strip()
    if re.match(r"^\d+(\.\d+)?$", text):
        return float(text)
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+)(ms|s|m|h|d|w|y)", text):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError("%s is %r, not a duration: write a number of seconds or e.g. 30s, 1m, 1m30s." % (what, value))
    return total


def promql_duration(value):
    """A PromQL range from seconds or a duration (at least 1s; whole seconds)."""
    secs = int(round(seconds(value)))
    if secs < 1:
        raise ValueError("A query window must be at least 1s; got %r." % (value,))
    for unit, size in (("h", 3600), ("m", 60)):
        if secs % size == 0:
            return "%d%s" % (secs // size, unit)
    return "%ds" % secs


def timestamp(value, now=None):
    """Unix seconds from a number, an RFC 3339 string, ``now`` or ``now-<duration>``."""
    now = now if now is not None else _now()
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if text == "now":
        return now
    m = re.match(r"^now\s*-\s*(.+)$", text)
    if m:
        return now - seconds(m.group(1))
    if re.match(r"^\d+(\.\d+)?$", text):
        return float(text)
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("%r is not a time: use a Unix timestamp, an RFC 3339 time (2026-01-02T15:04:05Z), "
                         "now or now-<duration> (now-10m)." % (value,)) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def _now():
    return _time.time()


# -- PromQL -------------------------------------------------------------------------------------

def _escape(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def selector(labels):
    """``{a="x",b=~"y"}`` from {a: x, b: ("=~", y)}; labels in the order given."""
    parts = []
    for name, value in labels.items():
        if not _LABEL_NAME_RE.match(name):
            raise ValueError("%r is not a Prometheus label name." % name)
        op = "="
        if isinstance(value, (tuple, list)):
            op, value = value
            if op not in ("=", "!=", "=~", "!~"):
                raise ValueError("%r is not a label matcher (use =, !=, =~ or !~)." % op)
        parts.append('%s%s"%s"' % (name, op, _escape(value)))
    return "{%s}" % ",".join(parts)


def destination_labels(service, namespace, version=None, workload=None, reporter="destination", cluster=None):
    """Label matchers for the requests received by one service (optionally one version/workload).

    The destination reporter counts what the server side saw, which is what a canary gate must
    judge (a client-side count also includes requests that never reached the canary)."""
    labels = {"reporter": reporter,
              "destination_service_name": service,
              "destination_workload_namespace": namespace}
    if version:
        labels["destination_version"] = version
    if workload:
        labels["destination_workload"] = workload
    if cluster:
        labels["destination_cluster"] = cluster
    return labels


def _without(labels, name):
    return dict((k, v) for k, v in labels.items() if k != name)


def request_count_query(labels, window):
    """Requests in the window (increase of the counter), summed over every series."""
    return "sum(increase(%s%s[%s]))" % (REQUESTS_TOTAL, selector(labels), promql_duration(window))


def request_rate_query(labels, window):
    """Requests per second over the window."""
    return "sum(rate(%s%s[%s]))" % (REQUESTS_TOTAL, selector(labels), promql_duration(window))


def success_rate_query(labels, window):
    """Percent of requests that did not end in a 5xx over the window (NaN when there were none)."""
    ok = dict(_without(labels, "response_code"), response_code=("!~", "5.."))
    window = promql_duration(window)
    return ("sum(rate(%s%s[%s])) / sum(rate(%s%s[%s])) * 100"
            % (REQUESTS_TOTAL, selector(ok), window, REQUESTS_TOTAL, selector(labels), window))


def latency_query(labels, window, quantile=0.99):
    """The ``quantile`` of request duration in milliseconds over the window (P99 by default)."""
    if not 0 < float(quantile) < 1:
        raise ValueError("quantile must be between 0 and 1 (0.99 for P99); got %r." % (quantile,))
    return ("histogram_quantile(%s, sum by (le) (rate(%s%s[%s])))"
            % (_float_text(quantile), DURATION_BUCKET, selector(labels), promql_duration(window)))


def _float_text(value):
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def render_query(template, variables):
    """A custom check's PromQL with ``$name``/``${name}`` placeholders filled in (unknown ones kept)."""
    return string.Template(template).safe_substitute(dict((k, str(v)) for k, v in variables.items()))


# -- results ------------------------------------------------------------------------------------

def sample_value(raw):
    """A Prometheus sample string as a float; NaN and infinities become None (no usable number)."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    return value


def parse_data(data):
    """(result_type, typed result) from the ``data`` of a query or query_range answer."""
    kind = data.get("resultType")
    raw = data.get("result")
    if kind == "vector":
        return kind, [dict(metric=s.get("metric", {}), timestamp=float(s["value"][0]),
                           value=sample_value(s["value"][1]), raw=s["value"][1]) for s in raw or []]
    if kind == "matrix":
        return kind, [dict(metric=s.get("metric", {}),
                           values=[dict(timestamp=float(t), value=sample_value(v), raw=v) for t, v in s["values"]])
                      for s in raw or []]
    if kind == "scalar":
        return kind, dict(timestamp=float(raw[0]), value=sample_value(raw[1]), raw=raw[1])
    if kind == "string":
        return kind, dict(timestamp=float(raw[0]), value=raw[1], raw=raw[1])
    raise PrometheusError("Prometheus answered with an unknown result type %r." % kind, "bad_response")


def is_empty(result_type, result):
    if result_type in ("vector", "matrix"):
        return not result
    return False


def single_value(result_type, result):
    """The one number an instant query answered, or None when there is none (empty, NaN, several series)."""
    if result_type == "scalar":
        return result["value"]
    if result_type == "vector" and len(result) == 1:
        return result[0]["value"]
    return None


# -- client -------------------------------------------------------------------------------------

class Client:
    """Prometheus HTTP API (``/api/v1/query`` and ``/api/v1/query_range``) over ansible's open_url."""

    def __init__(self, url, bearer_token=None, username=None, password=None, ca_path=None,
                 validate_certs=True, timeout=10, headers=None, backoff=None):
        if not url or not re.match(r"^https?://", url):
            raise PrometheusError("Prometheus URL %r must start with http:// or https:// (for example "
                                  "http://prometheus.istio-system:9090)." % (url,), "bad_query")
        problem = tls_problem(url, ca_path)
        if problem:
            raise PrometheusError(problem, "bad_tls")
        self.url = url.rstrip("/")
        self.bearer_token = bearer_token
        self.username = username
        self.password = password
        self.ca_path = ca_path
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.requests = 0
        # Queries only read, so every transient failure may be tried again (same policy as the API).
        self.backoff = backoff or Backoff()

    def query(self, promql, time=None):
        params = {"query": promql}
        if time is not None:
            params["time"] = "%.3f" % time
        return self._call("/api/v1/query", params, promql)

    def query_range(self, promql, start, end, step):
        if end < start:
            raise PrometheusError("The range ends (%s) before it starts (%s)." % (end, start), "bad_query")
        params = {"query": promql, "start": "%.3f" % start, "end": "%.3f" % end, "step": "%.3f" % step}
        return self._call("/api/v1/query_range", params, promql)

    def value(self, promql, time=None):
        """The single number of an instant query, or None when there is no usable sample."""
        kind, result = self.query(promql, time)
        return single_value(kind, result)

    def _call(self, path, params, promql):
        failures = 0
        while True:
            try:
                return self._call_once(path, params, promql)
            except PrometheusError as e:
                failures += 1
                # Nothing listening, a name that does not resolve or an untrusted certificate will not
                # change in a few seconds; a dropped connection or a timeout may.
                transient = (e.reason == "unreachable" and e.status in ("timeout", "dropped")) or (
                    e.reason == "http" and e.status in RETRY_STATUSES)
                if not transient or failures >= self.backoff.attempts:
                    if transient:
                        e.message += " (tried %d times)" % failures
                        e.args = (e.message,)
                    raise
                self.backoff.wait(failures, e.retry_after)

    def _call_once(self, path, params, promql):
        where = self.url + path
        self.requests += 1
        body = self._send(path, params, promql)
        try:
            answer = json.loads(body)
        except ValueError:
            raise PrometheusError("%s did not answer with JSON: is this the Prometheus HTTP API (and not, for "
                                  "example, a login page)? First bytes: %r" % (where, body[:80]),
                                  "bad_response") from None
        if answer.get("status") != "success":
            raise PrometheusError("Prometheus refused the query %s: %s" % (promql, answer.get("error")), "bad_query")
        return parse_data(answer.get("data") or {})

    def _send(self, path, params, promql):
        """The body of Prometheus's answer to ``path`` with ``params``; a PrometheusError otherwise."""
        headers = dict(self.headers)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["Accept"] = "application/json"
        if self.bearer_token:
            headers["Authorization"] = "Bearer %s" % self.bearer_token
        where = self.url + path
        # Imported here: ansible's urls (with cryptography) is a large part of a module's start, and istio_release's
        # actions without analysis (status, promote, abort, ...) never query.
        from ansible.module_utils.urls import open_url

        try:
            # POST keeps long queries out of URLs (and out of proxy logs).
            response = open_url(where, data=urlencode(params), headers=headers, method="POST",
                                timeout=self.timeout, validate_certs=self.validate_certs, ca_path=self.ca_path,
                                url_username=self.username, url_password=self.password,
                                force_basic_auth=bool(self.username), use_netrc=False)
            return response.read()
        except HTTPError as e:
            try:
                body = e.read()
            except Exception:
                body = b""
            raise self._http_error(e.code, e.reason, body, e.headers, promql) from None
        except (URLError, OSError, http.client.HTTPException) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, TimeoutError) or "timed out" in str(reason):
                raise PrometheusError("Prometheus at %s did not answer within %ss (prometheus.timeout)."
                                      % (self.url, self.timeout), "unreachable", "timeout") from None
            hint = ""
            if "CERTIFICATE_VERIFY_FAILED" in str(reason) or "certificate" in str(reason).lower():
                hint = " The server certificate is not trusted: give ca_path, or validate_certs=false for a test setup."
            dropped = isinstance(reason, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
                                          http.client.HTTPException)) and not hint
            raise PrometheusError("Cannot reach Prometheus at %s (%s). Check the URL and that Prometheus is "
                                  "running and reachable from the Ansible controller (a port-forward or the "
                                  "in-cluster service name).%s" % (self.url, reason, hint), "unreachable",
                                  "dropped" if dropped else "refused") from None

    def _http_error(self, code, reason, body, headers, promql):
        """The PrometheusError of an HTTP error answer of Prometheus (status, reason phrase, body, headers)."""
        try:
            detail = json.loads(body).get("error") or ""
        except Exception:
            detail = ""
        if code in (401, 403):
            return PrometheusError("Prometheus at %s refused the credentials (%d %s): check bearer_token or "
                                   "username/password." % (self.url, code, reason), "auth", code)
        if code in (400, 422):
            return PrometheusError("Prometheus refused the query %s (%d): %s. Fix the PromQL."
                                   % (promql, code, detail or reason), "bad_query", code)
        if code == 404:
            return PrometheusError("%s has no Prometheus API (404): the URL should be the Prometheus base URL, "
                                   "for example http://prometheus:9090 (without /api/v1)." % self.url, "http", code)
        suffix = (": " + detail) if detail else ""
        return PrometheusError("Prometheus at %s answered %d %s%s." % (self.url, code, reason, suffix), "http",
                               code, retry_after=_retry_after(headers))


# -- through the API server's service proxy -------------------------------------------------------

DEFAULT_SERVICE = dict(namespace="istio-system", name="prometheus", port="9090", scheme="http")
# A DNS-1123 label; port names follow the same characters (at most 15 of them).
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def proxy_target(service=None):
    """The Service (namespace, name, port, scheme) of the ``service`` options, defaults filled in and
    checked: the parts end up in a URL path, so anything but a DNS label or a port is refused."""
    target = dict(DEFAULT_SERVICE)
    target.update(dict((k, str(v)) for k, v in (service or {}).items() if v not in (None, "")))
    for key in ("namespace", "name"):
        if len(target[key]) > 63 or not _DNS_LABEL_RE.match(target[key]):
            raise ValueError("prometheus service %s %r is not a Kubernetes name (lower case letters, digits and "
                             "'-', at most 63 characters)." % (key, target[key]))
    port = target["port"]
    if port.isdigit():
        if not 0 < int(port) < 65536:
            raise ValueError("prometheus service port %s is not a port number (1-65535)." % port)
    elif len(port) > 15 or not _DNS_LABEL_RE.match(port):
        raise ValueError("prometheus service port %r is neither a port number nor a port name (such as http-web)."
                         % port)
    if target["scheme"] not in ("http", "https"):
        raise ValueError("prometheus service scheme %r must be http or https." % target["scheme"])
    return target


def service_proxy_path(target):
    """The API server path that proxies to the Service: /api/v1/namespaces/<ns>/services/[https:]<name>:<port>/proxy.

    The scheme is written only for https (the API server's default is http)."""
    scheme = "https:" if target["scheme"] == "https" else ""
    return "/api/v1/namespaces/%s/services/%s%s:%s/proxy" % (target["namespace"], scheme, target["name"],
                                                             target["port"])


def _kube_status(body):
    """The Kubernetes Status object of an answer the API server wrote itself, or None when the body is
    Prometheus's (the proxy passes the service's own answers on unchanged)."""
    try:
        answer = json.loads(body)
    except (TypeError, ValueError):
        return None
    return answer if isinstance(answer, dict) and answer.get("kind") == "Status" else None


class ProxyClient(Client):
    """Prometheus reached through the Kubernetes API server's service proxy, with the kubernetes client's
    own ApiClient: TLS, token (and its refresh), client certificates and HTTP proxy are exactly what
    kubernetes.core configured for the module, and no credential of ours is added.

    Queries are sent as GET: the API server maps the HTTP method to the RBAC verb, and ``get`` on
    ``services/proxy`` is the least a read needs (a POST would need ``create``)."""

    def __init__(self, dynamic_client, service=None, timeout=10, backoff=None, options=None):
        """``options``: the names the module gives its service, url and timeout options (for messages)."""
        self.options = dict(service="prometheus.service", url="prometheus.url", timeout="prometheus.timeout")
        self.options.update(options or {})
        self.dynamic = dynamic_client
        self.target = proxy_target(service)
        self.path = service_proxy_path(self.target)
        configuration = getattr(getattr(dynamic_client, "client", None), "configuration", None)
        self.server = getattr(configuration, "host", None) or "the API server"
        self.url = self.server.rstrip("/") + self.path
        self.timeout = timeout
        self.requests = 0
        self.backoff = backoff or Backoff()

    def describe(self):
        return "Service %s/%s port %s" % (self.target["namespace"], self.target["name"], self.target["port"])

    def _send(self, path, params, promql):
        try:
            # DynamicClient.request adds the configured auth (and runs the token refresh hook) like every
            # other request of the module; serialize=False keeps Prometheus's JSON as it came.
            response = self.dynamic.request("GET", self.path + path, query_params=list(params.items()),
                                            header_params={"Accept": "application/json"}, serialize=False,
                                            _request_timeout=self.timeout)
            return response.data
        except Exception as e:
            status = getattr(e, "status", None)
            if isinstance(status, int) and status >= 100:
                raise self._proxy_error(status, getattr(e, "reason", ""), getattr(e, "body", b""),
                                        getattr(e, "headers", None), promql) from None
            text = str(getattr(e, "reason", None) or e)
            if "timed out" in text.lower() or isinstance(e, TimeoutError):
                raise PrometheusError("No answer from Prometheus (%s) through the API server at %s within %ss "
                                      "(%s)." % (self.describe(), self.server, self.timeout, self.options["timeout"]),
                                      "unreachable", "timeout") from None
            dropped = any(word in text.lower() for word in ("reset", "aborted", "remote end closed", "protocol"))
            hint = ""
            if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower():
                hint = (" The API server's certificate is not trusted: set ca_cert (or the kubeconfig's "
                        "certificate-authority) as for any other task.")
            raise PrometheusError("Cannot reach the Kubernetes API server at %s to query Prometheus through its "
                                  "service proxy (%s): %s. Check kubeconfig/context (or host) as for any other "
                                  "task, or give %s to query Prometheus directly.%s"
                                  % (self.server, self.describe(), text, self.options["url"], hint), "unreachable",
                                  "dropped" if dropped and not hint else "refused") from None

    def _proxy_error(self, code, reason, body, headers, promql):
        status = _kube_status(body)
        if status is None:
            # Prometheus's own answer, passed on by the proxy: the errors of a direct URL.
            return self._http_error(code, reason, body, headers, promql)
        ns, name, port = self.target["namespace"], self.target["name"], self.target["port"]
        message = status.get("message") or reason or ""
        if code == 401:
            return PrometheusError("The Kubernetes API server at %s rejected the credentials (401) while querying "
                                   "Prometheus through its service proxy: the token or client certificate is invalid "
                                   "or has expired. Refresh the kubeconfig (or api_key)." % self.server, "auth", code)
        if code == 403:
            return PrometheusError(
                "Not allowed to query Prometheus through the API server's service proxy (403 Forbidden: %s). The "
                "identity of this kubeconfig (or api_key) needs the RBAC verb get on services/proxy in namespace %s, "
                "for example: kubectl create role prometheus-query -n %s --verb=get --resource=services/proxy "
                "--resource-name=%s, then kubectl create rolebinding prometheus-query -n %s --role=prometheus-query "
                "--user=<user> (or --serviceaccount=<namespace>:<name>). Or give %s to query Prometheus directly."
                % (message, ns, ns, name, ns, self.options["url"]), "auth", code)
        if code == 404:
            return PrometheusError(
                "There is no Service %s/%s to reach Prometheus through the API server's service proxy (404: %s). "
                "Install the Prometheus addon (playbooks/addons.yml), name the Service where it runs "
                "(%s: namespace, name, port), or give %s."
                % (ns, name, message, self.options["service"], self.options["url"]), "http", code)
        if code == 503:
            # Retried as any 503: Prometheus restarting has no ready endpoint for a moment.
            return PrometheusError(
                "The API server cannot reach Prometheus behind Service %s/%s port %s (503: %s): no ready pod "
                "serves it, or the Service has no such port. Check that Prometheus runs (kubectl -n %s get "
                "endpoints %s) and the port in %s." % (ns, name, port, message, ns, name, self.options["service"]),
                "http", code, retry_after=_retry_after(headers))
        return PrometheusError("The API server's service proxy to Prometheus (%s) answered %d: %s."
                               % (self.describe(), code, message), "http", code,
                               retry_after=_retry_after(headers))


def _retry_after(headers):
    """Seconds of a Retry-After header, or None."""
    try:
        return float((headers or {}).get("Retry-After"))
    except (TypeError, ValueError, AttributeError):
        return None


def tls_problem(url, ca_path):
    """What is wrong with ``ca_path`` for ``url``, or None. Checked before any request: a missing file would
    otherwise surface as "cannot reach Prometheus", and a CA for a plain-http URL verifies nothing."""
    if not ca_path:
        return None
    problems = []
    if not url.lower().startswith("https://"):
        problems.append("ca_path is set but the URL %s is plain http://, so no certificate would be checked with it "
                        "(and credentials would travel unencrypted): use the https:// URL of Prometheus, or drop "
                        "ca_path." % url)
    if not os.path.isfile(ca_path):
        problems.append("ca_path %s does not exist or is not a file: give the PEM file of the certificate authority "
                        "that signed the certificate of Prometheus (on the host the task runs on)." % ca_path)
    elif not os.access(ca_path, os.R_OK):
        problems.append("ca_path %s cannot be read by this user: fix its permissions." % ca_path)
    return " ".join(problems) or None


SERVICE_ARG_SPEC = dict(
    namespace=dict(type="str", default=DEFAULT_SERVICE["namespace"]),
    name=dict(type="str", default=DEFAULT_SERVICE["name"]),
    port=dict(type="str", default=DEFAULT_SERVICE["port"]),
    scheme=dict(type="str", choices=["http", "https"], default=DEFAULT_SERVICE["scheme"]),
)

# The Prometheus client's options. username and password have no url_ aliases: inside the ``prometheus`` option
# (istio_release, istio_burst) nothing clashes with them, and prometheus_query, where kubernetes.core's auth
# options own username, password and validate_certs at the top level, gives them names of its own.
CLIENT_ARG_SPEC = dict(
    url=dict(type="str"),
    service=dict(type="dict", options=SERVICE_ARG_SPEC),
    bearer_token=dict(type="str", no_log=True),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    ca_path=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="int", default=10),
)


def prometheus_option(**extra):
    """The argspec of the ``prometheus`` option, as the doc fragment meshops.istio.prometheus documents it;
    ``extra``: more keys of the option (istio_burst's default)."""
    return dict(type="dict", options=copy.deepcopy(CLIENT_ARG_SPEC), **extra)


# Options that only mean something for a direct URL: through the service proxy the API server's
# credentials and TLS settings (kubernetes.core's) are used, and these would be silently ignored.
_DIRECT_ONLY = ("bearer_token", "username", "password", "ca_path")


def uses_proxy(params):
    return not (params or {}).get("url")


def proxy_problem(params, prefix="prometheus.", names=None):
    """Why the CLIENT_ARG_SPEC options ``params`` cannot go through the service proxy, or None.
    ``names``: how the module calls an option, where that is not its CLIENT_ARG_SPEC name."""
    params = params or {}
    names = names or {}
    given = [prefix + names.get(k, k) for k in _DIRECT_ONLY if params.get(k)]
    if params.get("validate_certs") is False:
        given.append(prefix + names.get("validate_certs", "validate_certs") + "=false")
    if not given:
        return None
    return ("%s only %s to a direct %surl: without one Prometheus is queried through the Kubernetes API "
            "server's service proxy, with the kubernetes credentials and TLS settings of the task (kubeconfig, "
            "api_key, ca_cert, validate_certs). Give %surl, or drop %s."
            % (", ".join(given), "applies" if len(given) == 1 else "apply", prefix, prefix, ", ".join(given)))


def options_problem(params, prefix="prometheus.", names=None):
    """Why the CLIENT_ARG_SPEC options ``params`` cannot work, or None; checked before any request."""
    params = params or {}
    if not uses_proxy(params):
        return url_problem(params["url"], prefix + "url")
    try:
        proxy_target(params.get("service"))
    except ValueError as e:
        return str(e)
    return proxy_problem(params, prefix, names)


def client_from(params, dynamic_client=None, options=None):
    """A Client from the CLIENT_ARG_SPEC options of a module (a dict of them): the direct URL when one is
    given, else the service proxy through ``dynamic_client`` (the kubernetes DynamicClient of the module's
    cluster, Cluster.dynamic). ``options``: see ProxyClient."""
    params = params or {}
    if uses_proxy(params):
        problem = proxy_problem(params)
        if problem:
            raise PrometheusError(problem, "bad_query")
        try:
            return ProxyClient(dynamic_client, params.get("service"), timeout=params.get("timeout") or 10,
                               options=options)
        except ValueError as e:
            raise PrometheusError(str(e), "bad_query") from None
    return Client(params["url"], bearer_token=params.get("bearer_token"), username=params.get("username"),
                  password=params.get("password"), ca_path=params.get("ca_path"),
                  validate_certs=params.get("validate_certs", True), timeout=params.get("timeout") or 10)
