#!/usr/bin/python
# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this module is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: istio_release
short_description: Run a weighted canary release of one service, gated by Istio metrics
version_added: 0.1.0
author: meshops.istio developers (@meshops)
description:
  - Moves the traffic of one service from a stable subset to a canary subset in steps (for example 10%, 25%, 50%,
    100%), and between steps judges the canary from Istio's standard metrics in Prometheus - success rate
    (non-5xx of all requests), P99 latency, custom PromQL checks, and a minimum number of requests, so that
    no traffic never counts as healthy.
  - After the last step passes, the canary is promoted - 100% of the traffic goes to it and it is the stable
    version from then on. When more analyses fail than O(analysis.threshold) tolerates, the release rolls
    back to 100% stable and the task fails, naming the check, its value and its bound.
  - The release state (plan, step, weights, analyses passed and failed, history with timestamps) is kept in
    the C(meshops.istio/release) annotation of the VirtualService, written together with the weights. Another
    job, or the same job run again after a crash, continues where the last one stopped.
  - With O(routing_api=gateway-api) the weights of the default rule (the one without matches) of the HTTPRoute
    move between the per-version Services C(<service>-<stable>) and C(<service>-<canary>), the release state is
    kept in the same annotation on the HTTPRoute, and the canary's C(version) label (for its metrics) is read from
    the selector of its Service. Declare the routing first with M(meshops.istio.istio_traffic) and the same
    O(routing_api).
  - Only the weights of the service's default route change; match routes, mirrors and everything else of the
    VirtualService stay as they are. Declare the routing first with M(meshops.istio.istio_traffic).
  - Silence is not failure. When the canary has too few requests in the window to be judged, the step holds in
    phase C(waiting-for-traffic) - weights unchanged, no failed analysis counted, one entry in the history - and
    looks again, until traffic comes (then the step is judged as usual) or O(analysis.traffic_wait) has passed (then
    the release fails with that reason and rolls back to 100% stable). O(load) lets the release bring its own
    traffic, a fortio load Job per analysed period.
  - When Prometheus cannot be reached during an analysis, the release is paused with its weights unchanged
    and the task fails, with C(analysis.status=error) and the reason; O(action=resume) continues it.
  - O(action=run) and O(action=step) stop at the next step boundary when the job that started them is gone
    (ansible-playbook killed, even with C(kill -9) of its process group) or when they receive SIGTERM or SIGINT;
    the state annotation is then as the last step wrote it, and running the task again continues the release.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - meshops.istio.api_options
  - meshops.istio.prometheus
  - meshops.istio.routing
  - meshops.istio.routing.gateway_api
attributes:
  check_mode:
    support: full
    description:
      - The next decision is made (Prometheus is queried) and sent as a server-side dry run; nothing is stored,
        nothing waits, and O(action=run) stops after that one decision.
  diff_mode:
    support: full
    description: Shows the weights and the release state before and after.
options:
  # service, namespace, virtual_service, destination_rule, api_version, routing_api, http_route: meshops.istio.routing
  service:
    required: true
  namespace:
    required: true
  action:
    description:
      - V(start) sets the first step's weights. V(step) waits until the current weights have run for
        O(analysis.interval), analyses, and advances one step (or holds, or rolls back).
      - V(run) starts when needed and steps until the release is promoted, rolled back or paused.
      - V(pause) and V(resume) stop and continue a release without changing weights.
      - V(promote) sends 100% to the canary at once; V(abort) sends 100% back to the stable subset at once.
      - V(status) changes nothing and reports the release.
    type: str
    choices: [start, step, run, pause, resume, promote, abort, status]
    default: status
  name:
    description:
      - Name of the release. Defaults to C(<service>-<canary>), or to the release on the VirtualService.
      - Only the release that holds the VirtualService can act on it until it is finished.
    type: str
  stable:
    description:
      - The subset that serves today. Defaults to the one subset the default route sends traffic to.
    type: str
  canary:
    description: The subset being released. Required with V(start) and V(run).
    type: str
  steps:
    description: Canary weights of the steps, increasing, from 1 to 100, for example V([10, 25, 50, 100]).
    type: list
    elements: raw
  step_weight:
    description: Instead of O(steps), increase the canary by this much each step, up to O(max_weight).
    type: int
  max_weight:
    description: The last step with O(step_weight); after it passes, the canary is promoted.
    type: int
    default: 100
  analysis:
    description:
      - How each step is judged. The settings are kept in the release state when it starts; settings given
        to a later task (for example a relaxed O(analysis.threshold)) replace the kept ones from then on.
    type: dict
    default: {}
    suboptions:
      interval:
        description:
          - How long each weight runs before it is analysed (seconds or a duration such as V(1m)); 60s when
            the release starts without it.
          - V(0) analyses at once (for tests and dry runs).
        type: raw
      window:
        description:
          - Range of the metric queries. Defaults to O(analysis.interval) (60s when the interval is 0).
        type: raw
      success_rate:
        description: Minimum success rate of the canary in percent (non-5xx responses of all requests).
        type: float
      latency_p99:
        description: Maximum P99 request duration of the canary in milliseconds.
        type: float
      min_requests:
        description:
          - Requests the canary must have received in the window for the analysis to count; fewer fails
            the analysis as "no traffic", which holds the step (see O(analysis.traffic_wait)). 10 when the
            release starts without it.
        type: int
      traffic_wait:
        description:
          - How long a step waits for traffic when an analysis finds too few requests (fewer than
            O(analysis.min_requests), or no data at all) - seconds or a duration such as V(30m); V(10m) when the
            release starts without it.
          - While it waits, the release is in phase C(waiting-for-traffic) with its weights unchanged and no failed
            analysis counted, and looks again every O(analysis.interval) (at least every 2s). Enough requests end
            the wait and the step is judged as usual. When the wait is longer than this, the release fails and rolls
            back to 100% stable, and the message names the limit and the requests seen.
          - V(0) fails the release at the first analysis that finds too few requests.
        type: raw
      threshold:
        description:
          - Failed analyses tolerated during the release (0 to 100); one more rolls it back. 1 when the
            release starts without it.
        type: int
      checks:
        description:
          - Custom checks, each judged on the one number its query answers.
          - A check without a number - the query answers no series, several series, or NaN (nothing counted,
            as in C(0/0)) - fails, like the built-in checks, so no traffic is never healthy. Where "no series"
            means "none happened", say so in the query, for example C(sum(rate(...{response_code=~"5.."}[$window]))
            or vector(0)).
        type: list
        elements: dict
        suboptions:
          name:
            description:
              - Name of the check in the analysis, the summary and the report; unique in the release. Required.
            type: str
          query:
            description:
              - PromQL answering one number. Required.
              - "C($namespace), C($service), C($canary), C($stable), C($canary_version), C($window) and
                C($interval) are filled in."
            type: str
          min:
            description: The lowest value that passes. At least one of O(analysis.checks[].min) and O(analysis.checks[].max).
            type: float
          max:
            description: The highest value that passes.
            type: float
      compare:
        description:
          - Compare the canary with the stable version over the same window, from the same queries with the stable
            version's labels (the C(version) label of the stable subset, or O(stable_metrics_labels)). Catches a
            canary that is worse than what runs today while still inside the fixed bounds, and does not blame a
            canary for a problem the stable version has too.
          - Both versions' values are in the check (C(value) for the canary, C(stable) for the stable version).
          - A step where the stable version gets no traffic (canary at 100%) is not compared.
        type: dict
        suboptions:
          success_rate_drop:
            description:
              - Percentage points the canary's success rate may be below the stable's, for example V(1) - with the
                stable at 99.5%, a canary under 98.5% fails.
            type: float
          latency_p99_ratio:
            description: How many times the stable's P99 the canary's P99 may be, for example V(1.2).
            type: float
      judge:
        description:
          - A statistical judge, as Kayenta's - per-interval samples of both versions over the window (one every
            O(analysis.judge.sample_interval)) and a one-sided Mann-Whitney U test per metric. The check fails only
            when the canary is worse than the stable version with O(analysis.judge.confidence).
          - The check names both versions' medians, the test, U (of the canary) and the p-value. Fewer samples
            than O(analysis.judge.min_samples) for either version is "not enough samples" (analysis status
            C(no_traffic)), never a verdict on the canary.
          - The window must hold at least O(analysis.judge.min_samples) samples. A step where the stable version
            gets no traffic (canary at 100%) is not judged.
        type: dict
        suboptions:
          test:
            description: The statistical test.
            type: str
            choices: [mann-whitney]
            default: mann-whitney
          confidence:
            description:
              - How sure the judge must be that the canary is worse before the check fails, above 0.5 and below 1;
                0.95 when not given (the canary fails when the p-value is below 0.05).
            type: float
          sample_interval:
            description:
              - Length of each sample (seconds or a duration); 30s when not given. At least twice the Prometheus
                scrape interval, or samples come back empty.
            type: raw
          min_samples:
            description: Samples each version needs for a verdict, 3 to 1000; 5 when not given.
            type: int
          metrics:
            description: The metrics judged; both when not given.
            type: list
            elements: str
            choices: [success_rate, latency_p99]
  load:
    description:
      - Load generation during the analysis, for services too quiet to judge a canary on.
      - For every analysed period of a step, the release runs a Job in O(namespace) with Istio's fortio load client,
        C(fortio load -qps <rate> -t <duration> -c <connections> <url>), with an Istio sidecar, so that its requests
        are routed by the step's weights and counted in Istio's metrics like any client's (source workload = the
        Job's name, C(<release>-load-<time>)).
      - The Job of the period before is deleted when a new period begins, and the last one when the release is
        promoted, rolled back, aborted or paused. A task run again in the same period finds its Job and starts no
        second one.
      - Kept in the release state when the release starts (later tasks need not repeat it; given again, it applies
        from the next period).
    type: dict
    suboptions:
      rate:
        description: Requests per second, over all connections (fortio C(-qps)). Without it no load is generated.
        type: float
      duration:
        description:
          - How long each Job sends (fortio C(-t)), seconds or a duration such as V(5m). Defaults to
            O(analysis.interval) plus O(analysis.window), enough for O(action=run).
          - When later jobs run the analyses (O(action=step) from a schedule), make it cover the time between them.
        type: raw
      connections:
        description: Parallel connections (fortio C(-c)).
        type: int
        default: 2
      url:
        description:
          - The URL the load is sent to. Defaults to C(http://<service>.<namespace>:<port><path>), with the first port
            of the Service.
        type: str
      port:
        description: Port of the service for the default O(load.url), instead of the Service's first port.
        type: int
      path:
        description: Path of the default O(load.url).
        type: str
        default: /
      image:
        description: The fortio image - the one of Istio's own load client sample, or a mirror of it.
        type: str
        default: fortio/fortio:latest_release
  metrics_labels:
    description:
      - Label matchers that select the canary's metrics besides service and namespace. Defaults to
        C(destination_version) = the C(version) label of the canary subset.
    type: dict
  stable_metrics_labels:
    description:
      - With O(metrics_labels), the label matchers that select the stable version's metrics, for O(analysis.compare)
        and O(analysis.judge). Defaults to C(destination_version) = the C(version) label of the stable subset.
    type: dict
  prometheus:
    description:
      - Where the metrics are, for V(start), V(step) and V(run).
      - Without O(prometheus.url) (the default) Prometheus is queried through the Kubernetes API server's
        service proxy, with the credentials of this task; see O(prometheus.service).
    type: dict
  report:
    description:
      - Path of a markdown release report written after the action, with an SVG chart of the canary weight
        and success rate over time next to it (same name, C(.svg)). Not written in check mode.
      - The report has a table and a chart of every analysed step (C(<name>-steps.svg)) - weights, both versions'
        success rate and P99 (the stable's when O(analysis.compare) or O(analysis.judge) measured it), the judge's
        verdict and p-values.
    type: path
notes:
  - Each weight change is one merge patch of the VirtualService (weights and state together, guarded by its
    resourceVersion, so two jobs cannot both advance the same release). Each analysis is one Prometheus query
    per check.
seealso:
  - module: meshops.istio.istio_traffic
  - module: meshops.istio.prometheus_query
  - name: Flagger canary analysis
    description: The controller whose analysis model (interval, threshold, success rate, duration) this follows.
    link: https://docs.flagger.app/usage/how-it-works
"""

EXAMPLES = r"""
# test needs: bookinfo, reviews traffic
# test runs with: analysis.interval=5s
# test expects: result: outcomes == [started, advanced, advanced, advanced, promoted]
# test expects: VirtualService bookinfo/reviews: spec.http[0].route[*].destination.subset == [v2]
# test expects: file ~/reports/reviews-v2.md
- name: Release reviews v2 in four steps, one minute each
  meshops.istio.istio_release:
    action: run
    service: reviews
    namespace: bookinfo
    stable: v1
    canary: v2
    steps: [10, 25, 50, 100]
    analysis:
      interval: 1m
      success_rate: 99
      latency_p99: 500
      min_requests: 50
      threshold: 1
    # No prometheus.url: Prometheus (Service istio-system/prometheus, port 9090) is queried through the API
    # server's service proxy with this task's Kubernetes credentials, from wherever the API server answers.
    report: "{{ lookup('env', 'HOME') }}/reports/reviews-v2.md"

# test expects: VirtualService bookinfo/reviews: spec.http[0].route[?destination.subset=='v3'].weight | [0] == 20
- name: Start a release now, let later jobs step it
  meshops.istio.istio_release:
    action: start
    service: reviews
    namespace: bookinfo
    canary: v3
    step_weight: 20
    max_weight: 60
    prometheus:
      url: http://prometheus.istio-system:9090

# The custom check passes on a healthy canary: "or vector(0)" reads "no 5xx series" as 0 errors, while a
# canary without requests still has no value (the division has nothing to divide by) and fails the check.
# test runs with: analysis.interval=5s
# test expects: result: outcome == advanced
# test expects: result: analysis.checks[?name=='error_budget_burn'].value | [0] == 0.0
- name: Advance one step if the analysis passes
  meshops.istio.istio_release:
    action: step
    service: reviews
    namespace: bookinfo
    canary: v3
    analysis:
      interval: 5m
      success_rate: 99.5
      checks:
        # Share of 5xx responses over the 0.1% error budget of a 99.9% SLO: above 1 the canary spends
        # the budget faster than it is earned.
        - name: error_budget_burn
          query: >-
            (sum(rate(istio_requests_total{reporter="destination",destination_service_namespace="$namespace",
            destination_service_name="$service",destination_version="$canary_version",response_code=~"5.."}[$window]))
            or vector(0))
            / sum(rate(istio_requests_total{reporter="destination",destination_service_namespace="$namespace",
            destination_service_name="$service",destination_version="$canary_version"}[$window]))
            / 0.001
          max: 1
    prometheus:
      url: https://prometheus.example.com
      bearer_token: "{{ prometheus_token }}"

# test expects: result: phase == aborted
# test expects: VirtualService bookinfo/reviews: spec.http[0].route[*].destination.subset == [v2]
- name: Roll back now
  meshops.istio.istio_release:
    action: abort
    service: reviews
    namespace: bookinfo

# Judged against the version it replaces, over the same window: a bad day for every version is not the canary's
# fault, and a canary worse than v2 fails even inside the fixed bounds. The judge takes one sample a minute of
# both versions and fails the step only when the canary is worse with 99% confidence. At 100% v2 serves
# nothing, so the last step is judged by the fixed bounds alone.
# The service is quiet, so the release brings its own traffic (a fortio Job per analysed period, removed
# afterwards), and a step without enough requests waits for traffic up to 30 minutes instead of failing the canary.
# test runs with: analysis.interval=16s, analysis.judge.sample_interval=2s
# test expects: result: outcomes == [started, advanced, promoted]
# test expects: result: release.history[?event=='analysis'].compared.judge.verdict | [0] == canary not worse
# test expects: result: length(load_jobs[?action=='created']) == 2
# test expects: result: length(load_jobs[?action=='deleted']) == 2
- name: Release reviews v3 on a quiet night, judged against v2
  meshops.istio.istio_release:
    action: run
    service: reviews
    namespace: bookinfo
    stable: v2
    canary: v3
    steps: [50, 100]
    analysis:
      interval: 10m
      success_rate: 95
      latency_p99: 1000
      min_requests: 100
      traffic_wait: 30m
      compare:
        success_rate_drop: 1
        latency_p99_ratio: 1.2
      judge:
        test: mann-whitney
        confidence: 0.99
        sample_interval: 1m
        metrics: [success_rate]
    load:
      rate: 20
      connections: 4

# Routed with the Gateway API (istio_traffic with routing_api: gateway-api, or the bookinfo role with
# bookinfo_routing_api: gateway-api): the weights move on HTTPRoute reviews between the Services reviews-v1
# and reviews-v2, and the release state is kept on the HTTPRoute.
# test needs: gateway api, reviews on an HTTPRoute
# test runs with: analysis.interval=5s
# test expects: result: outcomes == [started, advanced, promoted]
# test expects: HTTPRoute bookshop/reviews: spec.rules[0].backendRefs[*].name == [reviews-v2]
# test expects: VirtualService bookshop/reviews absent
- name: Release reviews v2 on its Gateway API HTTPRoute
  meshops.istio.istio_release:
    action: run
    service: reviews
    namespace: bookshop
    routing_api: gateway-api
    canary: v2
    steps: [20, 100]
    analysis:
      interval: 1m
      success_rate: 99
      min_requests: 50
"""

RETURN = r"""
outcome:
  description:
    - What the action did - C(started), C(advanced), C(held) (analysis failed, tolerated), C(waiting) (too few
      requests to judge, see O(analysis.traffic_wait)), C(promoted),
      C(rolled_back), C(paused), C(resumed), C(aborted), C(unchanged) or C(status).
    - C(pending) in check mode when the VirtualService (or Istio) does not exist yet, as when an earlier step of the
      same check run would create it; RV(summary) says so.
    - For V(run), the last outcome; RV(outcomes) lists them all.
  returned: always
  type: str
  sample: promoted
outcomes:
  description: Every outcome of this task, in order.
  returned: always
  type: list
  elements: str
  sample: [started, advanced, advanced, advanced, promoted]
phase:
  description:
    - Phase of the release afterwards - progressing, waiting-for-traffic, paused, succeeded, failed, aborted; null
      without release.
  returned: always
  type: str
  sample: succeeded
weights:
  description: Split of the default route afterwards.
  returned: always
  type: dict
  sample: {v2: 100}
previous_weights:
  description: Split of the default route before the task.
  returned: always
  type: dict
  sample: {v1: 100}
analysis:
  description:
    - The last analysis - C(passed), C(status) and the C(checks) with value and bound.
    - C(status) is V(passed), V(failed), V(no_traffic), or V(error) when the analysis could not run (Prometheus
      unreachable, too slow, refusing the query); then C(reason) and C(message) say why, and C(checks) is empty.
    - Checks of O(analysis.compare) (C(compare_success_rate), C(compare_latency_p99)) have C(value) (canary) and
      C(stable); checks of O(analysis.judge) (C(judge_success_rate), C(judge_latency_p99)) also C(test), C(u),
      C(p_value), C(samples) and C(verdict). C(compared) keeps both versions' values and the judge's verdict.
  returned: when an analysis ran
  type: dict
  sample: {passed: true, status: passed, checks: [{name: success_rate, value: 99.9, threshold: 99, bound: min, passed: true}]}
release:
  description: The release state as stored in the annotation (history included).
  returned: always
  type: dict
  sample: {name: reviews-v2, phase: succeeded, plan: [10, 25, 50, 100], step: 3, failed_checks: 0}
summary:
  description: A few lines for people - weights, last analysis, what comes next.
  returned: always
  type: str
  sample: |-
    Release reviews-v2 of reviews.bookinfo: progressing, step 2/4 - v1 75% / v2 25%.
    Last analysis (2026-01-01T10:00:00Z): requests 612 (min 50); success_rate 99.8% (min 99%).
    Failed analyses: 0 of 1 tolerated; passed: 1.
    Next: analysis in 60s (at 10:01:00); if it passes, 50% to v2.
timings:
  description:
    - For every write, milliseconds from the decision to the VirtualService being updated, and for
      analysed steps the milliseconds the Prometheus queries took.
  returned: always
  type: list
  elements: dict
  sample: [{outcome: advanced, weights: {v1: 75, v2: 25}, decided_to_written_ms: 14.2, analysis_ms: 48.0}]
load_jobs:
  description: The load Jobs (O(load)) this task created or deleted, in order.
  returned: when a load Job was created or deleted
  type: list
  elements: dict
  sample: [{name: reviews-v2-load-1767261600, action: deleted}, {name: reviews-v2-load-1767261660, action: created}]
report:
  description: Paths of the report files written.
  returned: when O(report) is set and not in check mode
  type: dict
  sample: {markdown: /tmp/reviews-v2.md, chart: /tmp/reviews-v2.svg, steps_chart: /tmp/reviews-v2-steps.svg}
diff:
  description:
    - Weights and phase before and after, with C(--diff); with O(load), also the load Jobs deleted (before) and
      created (after).
  returned: when diff mode is on and something changed
  type: dict
  sample: {before: {weights: {v1: 100}, phase: null}, after: {weights: {v1: 90, v2: 10}, phase: progressing}}
"""

import time

from ansible_collections.meshops.istio.plugins.module_utils import judge as jd
from ansible_collections.meshops.istio.plugins.module_utils import loadgen
from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom
from ansible_collections.meshops.istio.plugins.module_utils import routing as rt
from ansible_collections.meshops.istio.plugins.module_utils import routing_args
from ansible_collections.meshops.istio.plugins.module_utils.kube import Cluster, KubeError, new_module, run
from ansible_collections.meshops.istio.plugins.module_utils.release import runner
from ansible_collections.meshops.istio.plugins.module_utils.release import state as rl


def argspec():
    return dict(
        action=dict(type="str", choices=list(rl.ACTIONS), default="status"),
        name=dict(type="str"),
        stable=dict(type="str"),
        canary=dict(type="str"),
        steps=dict(type="list", elements="raw"),
        step_weight=dict(type="int"),
        max_weight=dict(type="int", default=100),
        analysis=dict(type="dict", default={}, options=dict(
            interval=dict(type="raw"),
            window=dict(type="raw"),
            success_rate=dict(type="float"),
            latency_p99=dict(type="float"),
            min_requests=dict(type="int"),
            threshold=dict(type="int"),
            traffic_wait=dict(type="raw"),
            checks=dict(type="list", elements="dict", options=dict(
                # Not required here: the module's own message names the check and what it lacks.
                name=dict(type="str"),
                query=dict(type="str"),
                min=dict(type="float"),
                max=dict(type="float"),
            )),
            compare=dict(type="dict", options=dict(
                success_rate_drop=dict(type="float"),
                latency_p99_ratio=dict(type="float"),
            )),
            judge=dict(type="dict", options=dict(
                test=dict(type="str", choices=list(jd.TESTS), default=jd.MANN_WHITNEY),
                confidence=dict(type="float"),
                sample_interval=dict(type="raw"),
                min_samples=dict(type="int"),
                metrics=dict(type="list", elements="str", choices=list(jd.METRICS)),
            )),
        )),
        metrics_labels=dict(type="dict"),
        load=dict(type="dict", options=loadgen.ARG_SPEC),
        stable_metrics_labels=dict(type="dict"),
        prometheus=prom.prometheus_option(),
        report=dict(type="path"),
        **routing_args.routing_spec()
    )


def main():
    module = new_module(argspec(), required_if=[("action", "start", ("canary",)), ("action", "run", ("canary",))],
                        mutually_exclusive=[("steps", "step_weight")])
    try:
        runner.validate(module.params)
    except runner.INPUT_ERRORS as e:
        module.fail_json(msg=str(e))

    def act():
        try:
            worker = runner.Release(module, Cluster(module))
        except prom.PrometheusError as e:
            raise KubeError(str(e), reason="InvalidPrometheus") from None
        try:
            worker.execute()
        except runner.MissingRouting as e:
            # Where the routing is, for the caller (the release role) to name its own variables.
            module.fail_json(msg=e.message, error=e.as_dict(), found_in=e.found_in, namespace_exists=e.namespace_exists)
        except runner.Failed as e:
            module.fail_json(msg="%s\n%s" % (e, rl.summary(worker.state, time.time())), **worker.output())
        except (rl.ReleaseError, rt.RoutingError, prom.PrometheusError) as e:
            raise KubeError(getattr(e, "message", None) or str(e), reason="InvalidRelease") from None
        return worker.output()

    module.exit_json(**run(module, act))


if __name__ == "__main__":
    main()
