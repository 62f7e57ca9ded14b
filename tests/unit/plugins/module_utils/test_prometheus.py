"""prometheus.py: PromQL builders, durations, typed results, and the HTTP client's auth/TLS/errors.

The client is exercised against a small local HTTPS server that checks what a Prometheus behind an
authenticating proxy would check; query evaluation itself is tested against a real Prometheus in
tests/fidelity/test_meshsim.py.
"""
import base64
import datetime
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom


# -- PromQL -----------------------------------------------------------------------------------------

def test_success_rate_query_counts_non_5xx_over_all():
    labels = prom.destination_labels("reviews", "bookinfo", version="v2")
    assert prom.success_rate_query(labels, 15) == (
        'sum(rate(istio_requests_total{reporter="destination",destination_service_name="reviews",'
        'destination_workload_namespace="bookinfo",destination_version="v2",response_code!~"5.."}[15s])) / '
        'sum(rate(istio_requests_total{reporter="destination",destination_service_name="reviews",'
        'destination_workload_namespace="bookinfo",destination_version="v2"}[15s])) * 100')


def test_latency_query_is_a_histogram_quantile_by_le():
    labels = prom.destination_labels("reviews", "bookinfo", workload="reviews-v3")
    assert prom.latency_query(labels, "1m") == (
        'histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination",'
        'destination_service_name="reviews",destination_workload_namespace="bookinfo",'
        'destination_workload="reviews-v3"}[1m])))')
    assert prom.latency_query(labels, 90, quantile=0.5).startswith("histogram_quantile(0.5, ")
    with pytest.raises(ValueError, match="quantile must be between 0 and 1"):
        prom.latency_query(labels, 90, quantile=99)


def test_count_and_rate_queries():
    labels = {"reporter": "destination", "destination_service": "worker-service.default.svc.cluster.local",
              "source_workload": "frontend-deployment"}
    assert prom.request_rate_query(labels, 15) == (
        'sum(rate(istio_requests_total{reporter="destination",destination_service="worker-service.default.svc.cluster.local",'
        'source_workload="frontend-deployment"}[15s]))')
    assert prom.request_count_query({"a": "b"}, 3600) == 'sum(increase(istio_requests_total{a="b"}[1h]))'


def test_selector_escapes_values_and_refuses_bad_names():
    assert prom.selector({"a": 'x"y\\z', "b": ("=~", "v1|v2")}) == '{a="x\\"y\\\\z",b=~"v1|v2"}'
    with pytest.raises(ValueError, match="not a Prometheus label name"):
        prom.selector({"bad-name": "x"})
    with pytest.raises(ValueError, match="not a label matcher"):
        prom.selector({"a": ("~", "x")})


def test_render_query_fills_placeholders_and_keeps_unknown_ones():
    text = prom.render_query('rate(x{ns="$namespace",v="${canary}"}[$interval]) > $unknown',
                             {"namespace": "bookinfo", "canary": "v2", "interval": "15s"})
    assert text == 'rate(x{ns="bookinfo",v="v2"}[15s]) > $unknown'


@pytest.mark.parametrize("value,secs", [(15, 15.0), ("15", 15.0), ("15s", 15.0), ("1m", 60.0), ("1m30s", 90.0),
                                        ("500ms", 0.5), (0, 0.0), ("2h", 7200.0)])
def test_seconds(value, secs):
    assert prom.seconds(value) == secs


@pytest.mark.parametrize("value", ["fifteen", "15x", "-5", -5, True, ""])
def test_seconds_refuses_non_durations(value):
    with pytest.raises(ValueError):
        prom.seconds(value, "interval")


@pytest.mark.parametrize("value,text", [(15, "15s"), (60, "1m"), (90, "90s"), ("2h", "2h"), (120, "2m"), (3600, "1h")])
def test_promql_duration(value, text):
    assert prom.promql_duration(value) == text


def test_timestamp_formats():
    now = 1_800_000_000.0
    assert prom.timestamp("now", now) == now
    assert prom.timestamp("now-10m", now) == now - 600
    assert prom.timestamp("1700000000", now) == 1700000000.0
    assert prom.timestamp("2026-01-02T03:04:05Z", now) == datetime.datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc).timestamp()
    with pytest.raises(ValueError, match="is not a time"):
        prom.timestamp("yesterday", now)


# -- typed results ----------------------------------------------------------------------------------

def test_parse_vector_with_nan_and_empty():
    kind, result = prom.parse_data({"resultType": "vector", "result": [
        {"metric": {"destination_version": "v1"}, "value": [1700000000.5, "99.5"]},
        {"metric": {"destination_version": "v2"}, "value": [1700000000.5, "NaN"]},
        {"metric": {"destination_version": "v3"}, "value": [1700000000.5, "+Inf"]}]})
    assert kind == "vector"
    assert [r["value"] for r in result] == [99.5, None, None]
    assert result[1]["raw"] == "NaN"
    assert prom.single_value(kind, result) is None, "several series are not one number"
    assert prom.single_value(*prom.parse_data({"resultType": "vector", "result": []})) is None
    assert prom.is_empty(*prom.parse_data({"resultType": "vector", "result": []}))
    assert prom.single_value("vector", result[:1]) == 99.5


def test_parse_matrix_and_scalar():
    kind, result = prom.parse_data({"resultType": "matrix", "result": [
        {"metric": {}, "values": [[1, "1"], [2, "2.5"], [3, "NaN"]]}]})
    assert [v["value"] for v in result[0]["values"]] == [1.0, 2.5, None]
    kind, result = prom.parse_data({"resultType": "scalar", "result": [1, "0"]})
    assert prom.single_value(kind, result) == 0.0 and not prom.is_empty(kind, result)


# -- the HTTP client --------------------------------------------------------------------------------

def _certificate(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "prometheus-test-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


class _Api(BaseHTTPRequestHandler):
    """Answers like Prometheus behind a proxy that wants a token or basic auth."""
    token = "s3cret-token"
    basic = base64.b64encode(b"admin:pa55").decode()
    seen = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        self.seen.append((self.path, form, dict(self.headers)))
        auth = self.headers.get("Authorization", "")
        if auth not in ("Bearer " + self.token, "Basic " + self.basic):
            return self._send(401, {"status": "error", "error": "unauthorized"})
        query = form.get("query", [""])[0]
        if self.path not in ("/api/v1/query", "/api/v1/query_range"):
            return self._send(404, {"status": "error"})
        if query == "bad(":
            return self._send(400, {"status": "error", "errorType": "bad_data",
                                    "error": "1:5: parse error: unclosed left parenthesis"})
        if query == "empty":
            return self._send(200, {"status": "success", "data": {"resultType": "vector", "result": []}})
        if self.path.endswith("query_range"):
            return self._send(200, {"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {"q": query}, "values": [[float(form["start"][0]), "1"], [float(form["end"][0]), "2"]]}]}})
        return self._send(200, {"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"q": query}, "value": [float(form.get("time", ["0"])[0]), "42"]}]}})

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    cert, key = _certificate(tmp_path_factory.mktemp("tls"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield dict(url="https://localhost:%d" % server.server_address[1], ca=cert)
    server.shutdown()


def test_bearer_token_and_ca_path(api):
    client = prom.Client(api["url"], bearer_token=_Api.token, ca_path=api["ca"])
    kind, result = client.query("up", time=1700000000)
    assert kind == "vector" and result[0]["value"] == 42.0 and result[0]["timestamp"] == 1700000000.0
    assert client.value("up") == 42.0
    path, form, headers = _Api.seen[-1]
    assert path == "/api/v1/query" and form["query"] == ["up"]


def test_basic_auth(api):
    client = prom.Client(api["url"], username="admin", password="pa55", ca_path=api["ca"])
    kind, result = client.query_range("up", 100, 160, 15)
    assert kind == "matrix" and [v["timestamp"] for v in result[0]["values"]] == [100.0, 160.0]


def test_wrong_credentials_are_named(api):
    with pytest.raises(prom.PrometheusError) as err:
        prom.Client(api["url"], bearer_token="wrong", ca_path=api["ca"]).query("up")
    assert err.value.reason == "auth" and "refused the credentials (401" in err.value.message
    assert "wrong" not in err.value.message


def test_untrusted_certificate_says_what_to_do(api):
    with pytest.raises(prom.PrometheusError) as err:
        prom.Client(api["url"], bearer_token=_Api.token).query("up")
    assert err.value.reason == "unreachable" and "give ca_path" in err.value.message
    # ... and validate_certs=false is the (test setup) way around it.
    assert prom.Client(api["url"], bearer_token=_Api.token, validate_certs=False).value("up") == 42.0


def test_bad_query_and_empty_result(api):
    client = prom.Client(api["url"], bearer_token=_Api.token, ca_path=api["ca"])
    with pytest.raises(prom.PrometheusError) as err:
        client.query("bad(")
    assert err.value.reason == "bad_query" and "unclosed left parenthesis" in err.value.message
    kind, result = client.query("empty")
    assert prom.is_empty(kind, result) and client.value("empty") is None


def test_unreachable_and_wrong_urls():
    with pytest.raises(prom.PrometheusError) as err:
        prom.Client("http://127.0.0.1:9", timeout=2).query("up")
    assert err.value.reason == "unreachable"
    assert err.value.message.startswith("Cannot reach Prometheus at http://127.0.0.1:9 (")
    with pytest.raises(prom.PrometheusError, match="must start with http:// or https://"):
        prom.Client("prometheus:9090")


def test_range_end_before_start_is_refused():
    with pytest.raises(prom.PrometheusError, match="ends .* before it starts"):
        prom.Client("http://127.0.0.1:9").query_range("up", 200, 100, 15)


@pytest.fixture
def plain_api():
    """The same API over plain http; its requests land in _Api.seen too."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()


def test_missing_ca_path_is_named_before_any_request(api, tmp_path):
    missing = str(tmp_path / "no-such-ca.pem")
    before = len(_Api.seen)
    with pytest.raises(prom.PrometheusError) as err:
        prom.Client(api["url"], bearer_token=_Api.token, ca_path=missing).query("up")
    assert err.value.reason == "bad_tls"
    assert "ca_path %s does not exist" % missing in err.value.message
    assert "Cannot reach" not in err.value.message
    assert len(_Api.seen) == before


def test_ca_path_on_a_plain_http_url_is_refused(api, plain_api, tmp_path):
    before = len(_Api.seen)
    with pytest.raises(prom.PrometheusError) as err:
        prom.Client(plain_api, bearer_token=_Api.token, ca_path=api["ca"]).query("up")
    assert err.value.reason == "bad_tls"
    assert err.value.message.startswith("ca_path is set but the URL %s is plain http://" % plain_api)
    # Both problems at once are both named.
    with pytest.raises(prom.PrometheusError) as err:
        prom.Client(plain_api, ca_path=str(tmp_path / "gone.pem"))
    assert "plain http://" in err.value.message and "gone.pem does not exist" in err.value.message
    assert len(_Api.seen) == before, "nothing was sent"
    # Without ca_path the same plain-http URL is used as before.
    assert prom.Client(plain_api, bearer_token=_Api.token).value("up") == 42.0
    assert len(_Api.seen) == before + 1
