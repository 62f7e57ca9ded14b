# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this code is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.
"""prometheus_query's work: one PromQL query (given, or one of the built-in Istio metrics), at a
time or over a range, sent to Prometheus directly or through the API server's service proxy."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom
from ansible_collections.meshops.istio.plugins.module_utils import validation as val
from ansible_collections.meshops.istio.plugins.module_utils.kube import Cluster

BUILT_IN = dict(
    success_rate=prom.success_rate_query,
    latency_p99=prom.latency_query,
    request_rate=prom.request_rate_query,
    request_count=prom.request_count_query,
)


# The Prometheus client's options under the names this module gives them: its top-level username,
# password and validate_certs are kubernetes.core's (the API server's), and service is the metric's.
CLIENT_NAMES = dict(username="url_username", password="url_password", validate_certs="url_validate_certs",
                    service="prometheus_service")


def build_query(params):
    if params["query"]:
        return params["query"]
    labels = prom.destination_labels(params["service"], params["namespace"], params["version"], params["workload"])
    return BUILT_IN[params["metric"]](labels, params["window"])


def client_params(params):
    """The Prometheus client's options (CLIENT_ARG_SPEC names) from this module's."""
    return dict((k, params[CLIENT_NAMES.get(k, k)]) for k in prom.CLIENT_ARG_SPEC)


def _checked(params, client_options):
    """(query, times) from the options: times (at,) or (start, end, step); InputError for bad input."""
    try:
        if params["url"] and (params["username"] or params["password"]) and not (
                params["url_username"] or params["url_password"]):
            raise ValueError("username and password are the Kubernetes API server's credentials (kubernetes.core's "
                             "auth options); for basic authentication to Prometheus at url give url_username and "
                             "url_password.")
        problem = prom.options_problem(client_options, "", dict((k, v) for k, v in CLIENT_NAMES.items()
                                                                if k != "service"))
        if problem:
            raise ValueError(problem)
        query = build_query(params)
        if params["start"]:
            start = prom.timestamp(params["start"])
            end = prom.timestamp(params["end"] or "now")
            step = prom.seconds(params["step"], "step")
            if step <= 0:
                raise ValueError("step must be more than 0, for example 15s.")
            return query, (start, end, step)
        return query, (prom.timestamp(params["time"]),)
    except ValueError as e:
        raise val.InputError(str(e)) from None


def run(module):
    """prometheus_query's result."""
    params = module.params
    client_options = client_params(params)
    query, times = _checked(params, client_options)
    # The API server is only contacted when Prometheus is reached through it.
    dynamic = Cluster(module).dynamic if prom.uses_proxy(client_options) else None
    try:
        client = prom.client_from(client_options, dynamic, dict(service="prometheus_service", url="url",
                                                                timeout="timeout"))
        if params["start"]:
            kind, result = client.query_range(query, *times)
        else:
            kind, result = client.query(query, *times)
    except prom.PrometheusError as e:
        module.fail_json(msg=e.message, reason=e.reason, status=e.status, query=query)
    return dict(changed=False, query=query, result_type=kind, result=result, empty=prom.is_empty(kind, result),
                value=prom.single_value(kind, result))
