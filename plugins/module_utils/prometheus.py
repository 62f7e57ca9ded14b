# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Prometheus HTTP API client and the PromQL of Istio's standard metrics.

Results are typed (floats, with None for NaN/Inf and for "no sample"), because the one mistake a
canary gate must never make is to read "no traffic" as "0 errors": an empty result stays empty.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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

from ansible.module_utils.urls import open_url
from ansible_collections.meshops.istio.plugins.module_utils.kube import RETRY_STATUSES, Backoff

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
        headers = dict(self.headers)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["Accept"] = "application/json"
        if self.bearer_token:
            headers["Authorization"] = "Bearer %s" % self.bearer_token
        where = self.url + path
        self.requests += 1
        try:
            # POST keeps long queries out of URLs (and out of proxy logs).
            response = open_url(where, data=urlencode(params), headers=headers, method="POST",
                                timeout=self.timeout, validate_certs=self.validate_certs, ca_path=self.ca_path,
                                url_username=self.username, url_password=self.password,
                                force_basic_auth=bool(self.username), use_netrc=False)
            body = response.read()
        except HTTPError as e:
            raise self._http_error(e, promql) from None
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
        try:
            answer = json.loads(body)
        except ValueError:
            raise PrometheusError("%s did not answer with JSON: is this the Prometheus HTTP API (and not, for "
                                  "example, a login page)? First bytes: %r" % (where, body[:80]),
                                  "bad_response") from None
        if answer.get("status") != "success":
            raise PrometheusError("Prometheus refused the query %s: %s" % (promql, answer.get("error")), "bad_query")
        return parse_data(answer.get("data") or {})

    def _http_error(self, e, promql):
        try:
            detail = json.loads(e.read()).get("error") or ""
        except Exception:
            detail = ""
        if e.code in (401, 403):
            return PrometheusError("Prometheus at %s refused the credentials (%d %s): check bearer_token or "
                                   "username/password." % (self.url, e.code, e.reason), "auth", e.code)
        if e.code in (400, 422):
            return PrometheusError("Prometheus refused the query %s (%d): %s. Fix the PromQL."
                                   % (promql, e.code, detail or e.reason), "bad_query", e.code)
        if e.code == 404:
            return PrometheusError("%s has no Prometheus API (404): the URL should be the Prometheus base URL, "
                                   "for example http://prometheus:9090 (without /api/v1)." % self.url, "http", e.code)
        suffix = (": " + detail) if detail else ""
        try:
            wait = float(e.headers.get("Retry-After"))
        except (TypeError, ValueError, AttributeError):
            wait = None
        return PrometheusError("Prometheus at %s answered %d %s%s." % (self.url, e.code, e.reason, suffix), "http",
                               e.code, retry_after=wait)


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


CLIENT_ARG_SPEC = dict(
    url=dict(type="str", required=True),
    bearer_token=dict(type="str", no_log=True),
    username=dict(type="str", aliases=["url_username"]),
    password=dict(type="str", no_log=True, aliases=["url_password"]),
    ca_path=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="int", default=10),
)


def client_from(params):
    """A Client from the CLIENT_ARG_SPEC options of a module (a dict of them)."""
    return Client(params["url"], bearer_token=params.get("bearer_token"), username=params.get("username"),
                  password=params.get("password"), ca_path=params.get("ca_path"),
                  validate_certs=params.get("validate_certs", True), timeout=params.get("timeout") or 10)
