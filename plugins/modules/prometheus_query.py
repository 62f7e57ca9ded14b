#!/usr/bin/python
# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this module is combined with ansible-core, which is
# under the GNU General Public License v3.0+.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: prometheus_query
short_description: Run an instant or range PromQL query against Prometheus
version_added: 0.1.0
author: meshops.istio developers (@meshops)
description:
  - Sends a PromQL query to the Prometheus HTTP API and returns typed results (numbers as floats).
  - An instant query runs at O(time) (default now); giving O(start) makes it a range query from O(start)
    to O(end) every O(step).
  - "An empty answer is reported as empty: RV(empty=true) and RV(value=null), never as V(0). Samples that
    are not numbers (NaN, for example a success rate with no requests, or infinities) have a null C(value)
    and keep their text in C(raw)."
  - The Istio dashboards' queries are available with O(metric) (success rate, P99 latency, request rate
    and count of one service or version), so playbooks do not carry PromQL.
  - Without O(url) (the default), Prometheus is queried through the Kubernetes API server's service proxy
    (C(/api/v1/namespaces/<namespace>/services/<name>:<port>/proxy)) of the Service O(prometheus_service),
    with the Kubernetes credentials of the task (kubernetes.core's auth options, K8S_AUTH_* variables or
    C(module_defaults)), so it works wherever the API server is reachable. The identity needs the RBAC verb
    C(get) on C(services/proxy) in that namespace.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - meshops.istio.api_options
  - meshops.istio.prometheus.service
attributes:
  check_mode:
    support: full
    description: Queries never change anything, so they also run in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
options:
  url:
    description:
      - Base URL of Prometheus, for example V(http://prometheus.istio-system:9090), queried directly from where
        the task runs.
      - Without it, Prometheus is queried through the API server's service proxy (see O(prometheus_service)).
    type: str
  query:
    description: The PromQL expression. Required unless O(metric) is given.
    type: str
  metric:
    description:
      - A built-in Istio query instead of O(query), computed over O(window) from the destination side.
      - V(success_rate) - percent of requests that were not 5xx. V(latency_p99) - P99 of request duration in
        milliseconds. V(request_rate) - requests per second. V(request_count) - requests in the window.
    type: str
    choices: [success_rate, latency_p99, request_rate, request_count]
  service:
    description: Service name (C(destination_service_name)) for O(metric).
    type: str
  namespace:
    description: Namespace of the service's workloads (C(destination_workload_namespace)) for O(metric).
    type: str
  version:
    description: Only this version of the service (C(destination_version)), for O(metric).
    type: str
  workload:
    description: Only this workload (C(destination_workload)), for O(metric).
    type: str
  window:
    description: Time window of O(metric), seconds or a duration such as V(1m).
    type: str
    default: 1m
  time:
    description: Evaluation time of an instant query - Unix seconds, RFC 3339, V(now) or V(now-5m).
    type: str
  start:
    description: Start of a range query, in the formats of O(time). Makes the query a range query.
    type: str
  end:
    description: End of a range query (default now).
    type: str
  step:
    description: Resolution of a range query, seconds or a duration.
    type: str
    default: 15s
  bearer_token:
    description: Token sent as C(Authorization - Bearer), for Prometheus behind an authenticating proxy. Direct O(url) only.
    type: str
  url_username:
    description:
      - User name for HTTP basic authentication to Prometheus. Direct O(url) only.
      - O(username) and O(password) are the API server's (kubernetes.core's auth options).
    type: str
  url_password:
    description: Password for HTTP basic authentication to Prometheus. Direct O(url) only.
    type: str
  ca_path:
    description:
      - PEM file of the certificate authority that signed Prometheus's certificate. Direct O(url) only.
      - A missing file, or a plain V(http://) O(url), is refused before any request is sent.
    type: path
  url_validate_certs:
    description:
      - Verify the TLS certificate of Prometheus at O(url). Only turn off for test setups.
      - Through the service proxy, the API server's certificate is checked as O(validate_certs) says.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for an answer.
    type: int
    default: 10
seealso:
  - module: meshops.istio.istio_release
  - name: Prometheus HTTP API
    description: The API this module calls.
    link: https://prometheus.io/docs/prometheus/latest/querying/api/
"""

EXAMPLES = r"""
# test needs: reviews traffic
# test expects: result: empty == false
# Without url: through the API server's service proxy to Service istio-system/prometheus port 9090.
- name: Read the success rate of reviews v2 over the last minute
  meshops.istio.prometheus_query:
    metric: success_rate
    service: reviews
    namespace: bookinfo
    version: v2
    window: 1m
  register: __v2_success

# test expects: result: skipped == true
- name: Stop when v2 had traffic and served less than 99% of it
  ansible.builtin.fail:
    msg: "reviews v2 success rate is {{ __v2_success.value }}%"
  when: not __v2_success.empty and __v2_success.value is not none and __v2_success.value < 99

# test cannot run: needs a Prometheus served over HTTPS with its CA in /etc/pki/prometheus-ca.pem; the simulated one is plain HTTP
- name: Requests per second to the worker service over the last 15 seconds
  meshops.istio.prometheus_query:
    url: https://prometheus.example.com
    bearer_token: "{{ prometheus_token }}"
    ca_path: /etc/pki/prometheus-ca.pem
    query: >-
      sum(rate(istio_requests_total{reporter="destination",
      destination_service="worker-service.default.svc.cluster.local"}[15s]))

# test needs: reviews traffic
# test expects: result: result_type == matrix
- name: Request rate of the last ten minutes, one point a minute
  meshops.istio.prometheus_query:
    url: http://localhost:9090
    query: sum by (destination_version) (rate(istio_requests_total{destination_service_name="reviews"}[1m]))
    start: now-10m
    step: 1m
"""

RETURN = r"""
query:
  description: The PromQL that was sent.
  returned: always
  type: str
  sample: sum(rate(istio_requests_total{reporter="destination"}[1m]))
result_type:
  description: Type of the result - C(vector) or C(scalar) for instant queries, C(matrix) for range queries.
  returned: always
  type: str
  sample: vector
result:
  description:
    - The series. Vector - a list of C(metric), C(value), C(raw), C(timestamp). Matrix - a list of C(metric) and
      C(values) (each C(timestamp), C(value), C(raw)). Scalar - one C(timestamp), C(value), C(raw).
    - C(value) is a float, or null when the sample is not a number (NaN, infinity).
  returned: always
  type: raw
  sample: [{metric: {destination_version: v2}, value: 99.5, raw: "99.5", timestamp: 1767225600.0}]
empty:
  description: True when no series matched (no data, for example no traffic). Never reported as 0.
  returned: always
  type: bool
  sample: false
value:
  description:
    - The number of an instant query that answered exactly one series (or a scalar); null when the result is
      empty, has several series or is not a number.
  returned: always
  type: float
  sample: 99.5
"""

from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom
from ansible_collections.meshops.istio.plugins.module_utils import prometheus_query as pq
from ansible_collections.meshops.istio.plugins.module_utils.module_run import run_module


def argspec():
    spec = {}
    for key, option in prom.CLIENT_ARG_SPEC.items():
        if key in pq.CLIENT_NAMES:
            # The old aliases (url_username, url_password) are the names now.
            key, option = pq.CLIENT_NAMES[key], dict((k, v) for k, v in option.items() if k != "aliases")
        spec[key] = option
    spec.update(
        query=dict(type="str"),
        metric=dict(type="str", choices=list(pq.BUILT_IN)),
        service=dict(type="str"),
        namespace=dict(type="str"),
        version=dict(type="str"),
        workload=dict(type="str"),
        window=dict(type="str", default="1m"),
        time=dict(type="str"),
        start=dict(type="str"),
        end=dict(type="str"),
        step=dict(type="str", default="15s"),
    )
    return spec


def main():
    run_module(
        argspec(),
        pq.run,
        required_one_of=[("query", "metric")],
        mutually_exclusive=[("query", "metric"), ("time", "start")],
        required_if=[("metric", "success_rate", ("service", "namespace")),
                     ("metric", "latency_p99", ("service", "namespace")),
                     ("metric", "request_rate", ("service", "namespace")),
                     ("metric", "request_count", ("service", "namespace"))],
        required_by=dict(end=("start",)),
    )


if __name__ == "__main__":
    main()
