# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Options every meshops.istio module has for its requests to the Kubernetes API."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  request_timeout:
    description:
      - Seconds to wait for each request to the Kubernetes API (discovery included) before giving up on it.
      - A request that fails for a moment - 429 Too Many Requests (after its Retry-After), 500, 502, 503, 504, a
        dropped connection or this timeout - is tried again, up to 5 tries in all, waiting 0.5s, 1s, 2s, 4s in
        between. Every write this collection sends is safe to send again (server-side apply, merge patches of fixed
        values, release updates guarded by the resourceVersion they were decided on).
      - When the outcome of a write stays unknown after the last try (it timed out, or the connection dropped), the
        object is read back, and the task reports the write as made or as not made from what the read shows.
      - A refused connection (nothing listening) is not tried again.
    type: float
    default: 30
notes:
  - Prometheus queries have their own timeout, C(prometheus.timeout) where a module has it, and are tried again in
    the same way.
"""
