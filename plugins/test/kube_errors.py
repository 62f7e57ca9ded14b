# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Tests on the results of tasks that run tools which talk to the Kubernetes API themselves (helm)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# What client-go (helm, kubectl) prints for a failure a later try may not meet: the API server's
# messages for 429, 500, 503 and 504, and a connection that dropped or timed out. The same set the
# modules retry (kube.RETRY_STATUSES and dropped connections); a refused connection is not in it,
# as there: nothing listens, and saying so at once helps more than saying it after the retries.
_TRANSIENT = re.compile("|".join([
    r"the server has received too many requests",
    r"[Tt]oo many requests",
    r"Internal error occurred",
    r"an error on the server .* has prevented the request from succeeding",
    r"the server is currently unable to handle the request",
    r"the server was unable to return a response in the time allotted",
    r"Timeout: request did not complete",
    r"\": (unexpected )?EOF",
    r"connection reset by peer",
    r"broken pipe",
    r"http2: client connection lost",
    r"use of closed network connection",
    r"i/o timeout",
    r"TLS handshake timeout",
    r"Client\.Timeout exceeded",
]))


def transient_api_error(result):
    """True when a failed task's result says the API server failed in a way worth trying again."""
    if not isinstance(result, dict) or not result.get("failed"):
        return False
    text = "\n".join(str(result.get(key) or "") for key in ("msg", "stderr", "stdout"))
    return bool(_TRANSIENT.search(text))


class TestModule(object):
    def tests(self):
        return {"transient_api_error": transient_api_error}
