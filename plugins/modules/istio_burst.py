#!/usr/bin/python
# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this code is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: istio_burst
short_description: Send worker traffic to a burst cluster while the load is high, and back when it drops
version_added: 0.1.0
author: meshops.istio developers (@meshops)
description:
  - The codelab's C(istiowatcher) as a module. It asks Prometheus how many requests per second the
    frontend sends to the worker (the codelab's query, or O(query)), and sets the weights of the
    worker VirtualService between the V(primary) and V(burst) subsets.
  - With hysteresis - above O(high) all worker traffic goes to the burst subset, below O(low) it all
    comes back, in between nothing changes - a load hovering around one threshold does not make
    traffic flap between the clusters.
  - With O(proportional=true) the burst share follows the load between O(low) (0%) and O(high) (100%)
    in steps of O(step) percent, and only moves when the load calls for more than one step of change.
  - O(mode=once) checks one time (for an AWX schedule every minute); O(mode=watch) checks every
    O(interval) seconds until O(max_checks) checks or O(duration) seconds have passed.
  - The state (in burst or not, since when, the burst share) is kept in the annotation
    C(meshops.istio/burst) of the VirtualService, so the next run continues from it. Weights changed
    by hand win over the annotation.
  - Every check is returned in RV(decisions) with the rate that caused it.
  - The weights are changed through the collection's routing code (the same as M(meshops.istio.istio_traffic));
    only the default route's weights move, and both subsets must exist in the DestinationRule.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - meshops.istio.api_options
  - meshops.istio.prometheus
  - meshops.istio.routing
attributes:
  check_mode:
    support: full
    description:
      - Queries Prometheus and decides, and sends the VirtualService change as a server-side dry run.
  diff_mode:
    support: full
    description:
      - The weights and the state annotation before and after.
options:
  service:
    description:
      - The worker service, as routed by the VirtualService - a Service name or its cluster name
        (V(worker-service.default.svc.cluster.local)).
      - Formerly C(host). O(host) is the API server URL of the auth options, never the service.
    type: str
    default: worker-service
  namespace:
    description: Namespace of the worker, its VirtualService and DestinationRule.
    type: str
    default: default
  virtual_service:
    description: Name of the worker VirtualService.
    type: str
    default: worker-virtual-service
  destination_rule:
    description: Name of the DestinationRule that defines the subsets.
    type: str
    default: worker-destination-rule
  primary_subset:
    description: Subset of the workers on the primary cluster.
    type: str
    default: primary
  burst_subset:
    description: Subset of the workers on the burst cluster.
    type: str
    default: burst
  prometheus:
    description:
      - Where the metrics are.
      - Without O(prometheus.url) (the default) Prometheus is queried through the Kubernetes API server's
        service proxy, with the credentials of this task; see O(prometheus.service).
    type: dict
    default: {}
  query:
    description:
      - PromQL that answers one number, the load in requests per second.
      - Defaults to the codelab's query - the per-second rate over O(window) of C(istio_requests_total) with
        C(reporter="destination"), C(destination_service="<service>.<namespace>.svc.cluster.local") and
        C(source_workload="<source_workload>"), summed - which RV(query) returns.
    type: str
  source_workload:
    description: The workload whose requests count (the default query only).
    type: str
    default: frontend-deployment
  window:
    description: Rate window of the default query; Prometheus must scrape at least twice within it.
    type: str
    default: 15s
  rate:
    description:
      - The load in requests per second as measured by the caller, used instead of asking Prometheus (which is then
        not contacted). The event-driven rulebook C(meshops.istio.burst) passes the value of the event that
        crossed a threshold, so the decision follows that event; the same thresholds and state apply.
      - Only with O(mode=once).
    type: float
  high:
    description: Requests per second above which the burst cluster takes the traffic.
    type: float
    default: 15
  low:
    description: Requests per second below which the traffic comes back to the primary. Must be below O(high).
    type: float
    default: 10
  proportional:
    description: Let the burst share follow the load between O(low) and O(high) instead of all or nothing.
    type: bool
    default: false
  step:
    description: Granularity of the burst share in percent (proportional mode), and its dead band.
    type: int
    default: 10
  mode:
    description:
      - V(once) checks one time.
      - V(watch) checks every O(interval) seconds until O(max_checks) checks were made or O(duration) seconds passed.
      - A watch stops after the check under way when the job that started it is gone (ansible-playbook killed)
        or when it receives SIGTERM or SIGINT; the task then fails saying so, the weights as the last check left them.
    type: str
    choices: [once, watch]
    default: once
  interval:
    description: Seconds between two checks in V(watch) mode.
    type: float
    default: 5
  max_checks:
    description: Number of checks in V(watch) mode.
    type: int
    default: 12
  duration:
    description: Upper bound in seconds of V(watch) mode (whichever of this and O(max_checks) comes first).
    type: float
notes:
  - A check that changes nothing reads the VirtualService and the DestinationRule once (before the first check) and
    sends one query; a change costs one write.
seealso:
  - module: meshops.istio.istio_traffic
  - module: meshops.istio.prometheus_query
  - name: The codelab's istiowatcher
    description: Istio multicloud burst codelab, section 17.
    link: https://codelabs.developers.google.com/codelabs/istio-multicloud-burst
"""

EXAMPLES = r"""
# test needs: worker
# test expects: VirtualService default/worker-virtual-service: spec.http[0].route[*].destination.subset == [burst]
# test expects: result: in_burst == true
- name: Check the worker load once (an AWX schedule every minute), Prometheus through the API server
  meshops.istio.istio_burst:

# test needs: worker
# test runs with: interval=1, max_checks=2
# test expects: result: length(decisions) == 2
- name: Watch for ten minutes, checking every 15 seconds, with proportional weights
  meshops.istio.istio_burst:
    mode: watch
    interval: 15
    duration: 600
    max_checks: 40
    proportional: true
    prometheus:
      url: https://prometheus.example.com
      bearer_token: "{{ prometheus_token }}"

# test needs: checkout
# test expects: VirtualService shop/checkout: spec.http[0].route[*].destination.subset == [onprem]
- name: Another app and query
  meshops.istio.istio_burst:
    service: checkout
    namespace: shop
    virtual_service: checkout
    destination_rule: checkout
    primary_subset: onprem
    burst_subset: cloud
    query: sum(rate(istio_requests_total{reporter="destination",destination_service_name="checkout"}[1m]))
    high: 200
    low: 120
    # Through the API server's service proxy to another Prometheus Service (needs get on services/proxy there).
    prometheus:
      service:
        namespace: monitoring
        name: prometheus-operated
        port: web
"""

RETURN = r"""
in_burst:
  description: Whether the burst subset gets traffic after the last check.
  returned: always
  type: bool
  sample: true
weights:
  description: Weights of the two subsets after the last check.
  returned: always
  type: dict
  sample: {primary: 0, burst: 100}
rate:
  description: Load seen at the last check, in requests per second (null when Prometheus had no sample).
  returned: always
  type: float
  sample: 18.9
since:
  description: When the current state (in burst or not) began, if known.
  returned: always
  type: str
  sample: "2026-01-31T17:04:05Z"
decisions:
  description: Every check, in order.
  returned: always
  type: list
  elements: dict
  sample:
    - {at: "2026-01-31T17:04:05Z", rate: 18.9, action: enter, burst_weight: 100, in_burst: true,
       since: "2026-01-31T17:04:05Z", reason: "18.90 req/s is above high (15.0)", applied: true}
  contains:
    at:
      description: Time of the check (UTC).
      type: str
    rate:
      description: The load seen.
      type: float
    action:
      description: C(enter), C(leave), C(adjust) (proportional mode) or C(stay).
      type: str
    burst_weight:
      description: Percent of the traffic for the burst subset after the check.
      type: int
    reason:
      description: The values that led to the action.
      type: str
    applied:
      description: Whether the VirtualService was changed (or would be, in check mode).
      type: bool
log:
  description: RV(decisions) as lines for people.
  returned: always
  type: list
  elements: str
query:
  description: The PromQL that was asked.
  returned: always
  type: str
diff:
  description: Weights and state before and after, when run with C(--diff).
  returned: when diff mode is on and the weights changed
  type: dict
"""

from ansible_collections.meshops.istio.plugins.module_utils import burst_run
from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom
from ansible_collections.meshops.istio.plugins.module_utils import routing_args
from ansible_collections.meshops.istio.plugins.module_utils.module_run import run_module


def argspec():
    return dict(
        **routing_args.routing_spec(gateway_api=False, service="worker-service", namespace="default",
                                    virtual_service="worker-virtual-service",
                                    destination_rule="worker-destination-rule"),
        primary_subset=dict(type="str", default="primary"),
        burst_subset=dict(type="str", default="burst"),
        prometheus=prom.prometheus_option(default={}),
        query=dict(type="str"),
        source_workload=dict(type="str", default="frontend-deployment"),
        window=dict(type="str", default="15s"),
        high=dict(type="float", default=15.0),
        low=dict(type="float", default=10.0),
        proportional=dict(type="bool", default=False),
        step=dict(type="int", default=10),
        mode=dict(type="str", choices=["once", "watch"], default="once"),
        interval=dict(type="float", default=5.0),
        max_checks=dict(type="int", default=12),
        duration=dict(type="float"),
        rate=dict(type="float"),
    )


def main():
    run_module(argspec(), burst_run.run)


if __name__ == "__main__":
    main()
