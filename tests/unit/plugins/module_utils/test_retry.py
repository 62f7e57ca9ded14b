"""The retry policy of every API and Prometheus call (kube.Backoff) and what counts as safe to retry."""
import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError, SSLError

from ansible_collections.meshops.istio.plugins.module_utils import kube


def api_error(status, headers=None):
    e = ApiException(status=status, reason="injected")
    e.headers = headers or {}
    return e


def test_backoff_doubles_up_to_its_cap_with_a_little_jitter():
    backoff = kube.Backoff(attempts=6, base=0.5, cap=3.0)
    delays = [backoff.delay(n) for n in range(1, 6)]
    for delay, base in zip(delays, [0.5, 1.0, 2.0, 3.0, 3.0]):
        assert base <= delay <= base * 1.1
    assert kube.Backoff().attempts == 5


def test_retry_after_of_a_429_is_honoured_and_bounded():
    error = api_error(429, {"Retry-After": "3"})
    assert kube.retry_after(error) == 3.0
    assert kube.Backoff().delay(1, kube.retry_after(error)) == 3.0
    assert kube.Backoff().delay(1, 3600) == kube.RETRY_AFTER_LIMIT
    assert kube.retry_after(api_error(429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) is None
    assert kube.retry_after(api_error(500)) is None


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_overload_and_server_errors_are_retried(status):
    assert kube.transient(api_error(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_answers_that_a_retry_would_repeat_are_not(status):
    assert not kube.transient(api_error(status))


def test_a_dropped_connection_or_timeout_is_retried_but_a_refused_one_is_not():
    assert kube.transient(ProtocolError("Connection aborted.", ConnectionResetError()))
    assert kube.transient(ReadTimeoutError(None, "/api", "Read timed out."))
    refused = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    assert not kube.transient(refused)
    assert not kube.transient(MaxRetryError(None, "/api", refused))
    assert not kube.transient(ConnectionRefusedError())


def test_tls_failures_and_local_errors_are_not_retried():
    assert not kube.transient(SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"))
    assert not kube.transient(MaxRetryError(None, "/api", SSLError("CERTIFICATE_VERIFY_FAILED")))
    assert not kube.transient(FileNotFoundError("ca.crt"))


def test_only_a_429_or_a_connection_never_made_proves_a_write_did_not_happen():
    assert not kube.may_have_reached(api_error(429))
    assert not kube.may_have_reached(NewConnectionError(None, "refused"))
    for error in (api_error(500), api_error(504), ProtocolError("dropped"), ReadTimeoutError(None, "/", "timed out")):
        assert kube.may_have_reached(error)


def test_merge_patch_holds_when_every_field_it_sets_is_live_and_every_null_is_gone():
    live = {"metadata": {"annotations": {"a": "1"}, "labels": {"x": "y"}}, "spec": {"http": [{"route": [1]}]}}
    assert kube.merge_patch_holds({"metadata": {"annotations": {"a": "1"}}}, live)
    assert kube.merge_patch_holds({"metadata": {"labels": {"gone": None}}}, live)
    assert kube.merge_patch_holds({"spec": {"http": [{"route": [1]}]}}, live)
    assert not kube.merge_patch_holds({"metadata": {"labels": {"x": None}}}, live)
    assert not kube.merge_patch_holds({"metadata": {"annotations": {"a": "2"}}}, live)
    assert not kube.merge_patch_holds({"spec": {"http": [{"route": [2]}]}}, live)


def test_request_timeout_is_an_option_of_every_module_and_no_auth_option():
    assert "request_timeout" in kube.API_ARG_SPEC
    assert "request_timeout" not in kube.AUTH_OPTION_NAMES
    assert kube.API_ARG_SPEC["request_timeout"]["default"] == kube.DEFAULT_REQUEST_TIMEOUT == 30.0
