#!/usr/bin/python
# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this module is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: istio_traffic
short_description: Declare how the traffic of one service is split between its subsets
version_added: 0.1.0
author: meshops.istio developers (@meshops)
description:
  - Declares the routing of one host (usually a Kubernetes Service) in its VirtualService and the subsets
    it needs in its DestinationRule, creating either when it does not exist.
  - The default route (the http route without C(match)) sends traffic to the subsets in O(subsets) by weight.
    Optional header or cookie match routes send matching requests to one subset first (A/B tests,
    "end-user jason goes to v2"). An optional mirror copies a share of the default route's requests to
    another subset.
  - Applies in the order that never routes to a missing subset - DestinationRule subsets are added before
    the VirtualService points at them, and removed (with O(prune_subsets=true)) only after no route of any
    VirtualService of the namespace uses them.
  - Routes that are not this host's default or header/cookie match routes (URI matches, fault injection,
    other hosts) and fields other than C(spec.hosts) and C(spec.http) of the VirtualService, or than
    C(spec.host) and C(spec.subsets) of the DestinationRule, are left as they are.
  - With O(routing_api=gateway-api), match routes become header matches of the HTTPRoute (exact or regex, no
    prefix), the mirror a C(RequestMirror) filter, the timeout C(timeouts.request); O(subset_labels) creates (or
    relabels) the per-version Services, with the ports and selector of the Service plus the subset's labels; and
    O(retries) and O(prune_subsets) do not apply.
requirements:
  - google-re2 (Python package, on the controller; checks header regexes)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - meshops.istio.api_options
  - meshops.istio.routing
  - meshops.istio.routing.gateway_api
attributes:
  check_mode:
    support: full
    description: Changes are sent as server-side dry runs; nothing is stored.
  diff_mode:
    support: full
    description: Shows the VirtualService and DestinationRule before and after.
options:
  # service, namespace, virtual_service, destination_rule, api_version, routing_api, http_route: meshops.istio.routing
  service:
    required: true
  namespace:
    required: true
  state:
    description:
      - V(present) declares the routing.
      - V(absent) removes this host's default and match routes from the VirtualService, and deletes the
        VirtualService when no other route is left in it. The DestinationRule is kept (its subsets are
        pruned with O(prune_subsets=true)).
    type: str
    choices: [present, absent]
    default: present
  subsets:
    description:
      - "The split of the default route, subset name to weight, for example V({v1: 90, v2: 10})."
      - Weights are whole numbers from 0 to 100 that add up to 100. A subset with weight 0 gets no route entry.
      - Required with O(state=present).
    type: dict
    aliases: [weights]
  subset_labels:
    description:
      - "Pod labels of subsets to add to (or change in) the DestinationRule, for example V({v2: {version: v2}})."
      - Every subset used by O(subsets), O(match) or O(mirror) must be given here or already exist in the
        DestinationRule.
    type: dict
    default: {}
  match:
    description:
      - Match routes placed before the default route; each sends the requests it matches to one subset.
      - Declarative - the host's existing header/cookie match routes are replaced by these (an empty list or
        no value removes them).
    type: list
    elements: dict
    default: []
    suboptions:
      subset:
        description: The subset matching requests go to.
        type: str
        required: true
      headers:
        description:
          - "Request headers to match, lower-case name to a string (exact match) or to one of
            V({exact: ...}), V({prefix: ...}), V({regex: ...})."
          - A V(regex) is checked with RE2, the regular expression engine Envoy uses, before anything is
            written; RE2 has no lookarounds or backreferences.
        type: dict
      cookie:
        description: "A cookie to match, V({name: user, value: jason})."
        type: dict
      name:
        description: Name of the route (shows up in Envoy stats and access logs).
        type: str
  mirror:
    description:
      - Copy a share of the default route's requests to another subset (responses from the copy are dropped).
      - Declarative - without it, an existing mirror on the default route is removed.
    type: dict
    suboptions:
      subset:
        description: The subset that receives the copies.
        type: str
        required: true
      percent:
        description: Share of requests copied, more than 0 and at most 100.
        type: float
        default: 100
  timeout:
    description:
      - Request timeout set on this host's routes, an Istio duration such as V(10s) or V(250ms).
      - Not given, the current timeout is kept; an empty string removes it.
    type: str
  retries:
    description:
      - Retry policy set on this host's routes, as Istio writes it (V(attempts), V(perTryTimeout), V(retryOn), ...).
      - Not given, the current policy is kept; an empty dict removes it.
    type: dict
  prune_subsets:
    description:
      - After the VirtualService is updated, remove DestinationRule subsets that no route or mirror of any
        VirtualService in the namespace uses any more.
    type: bool
    default: false
  validate_service:
    description:
      - Fail when O(service) names a Kubernetes Service that does not exist. Hosts that are not cluster Service
        names (for example C(api.example.com)) are never checked.
    type: bool
    default: true
  parent_refs:
    description:
      - "With O(routing_api=gateway-api), what the HTTPRoute attaches to, as its C(spec.parentRefs) - for example
        V([{name: bookinfo-gateway}]) for traffic through a Gateway."
      - "Not given, the HTTPRoute keeps the parentRefs it has, and a new one attaches to the Service itself
        (V({group: '', kind: Service, name: <service>, port: <port>})), which routes the mesh's own (east-west)
        traffic to the Service."
    type: list
    elements: dict
  service_port:
    description:
      - With O(routing_api=gateway-api), the port of the backendRefs (and of the Service parentRef). Defaults to
        the port the HTTPRoute uses, or to the Service's only port.
    type: int
notes:
  - Requests made - one read each of the Service, VirtualService and DestinationRule, one server-side apply
    per object that changes, and a list of the namespace's VirtualServices with O(prune_subsets=true).
seealso:
  - module: meshops.istio.istio_release
  - name: Istio traffic shifting
    description: The Bookinfo task this module automates.
    link: https://istio.io/latest/docs/tasks/traffic-management/traffic-shifting/
"""

EXAMPLES = r"""
# test needs: bookinfo
# test expects: VirtualService bookinfo/reviews: spec.http[0].route == [{destination: {host: reviews, subset: v1}}]
# test expects: DestinationRule bookinfo/reviews: spec.subsets[*].name == [v1, v2, v3]
- name: Send all reviews traffic to v1
  meshops.istio.istio_traffic:
    service: reviews
    namespace: bookinfo
    subsets: {v1: 100}
    subset_labels:
      v1: {version: v1}
      v2: {version: v2}
      v3: {version: v3}

# test expects: VirtualService bookinfo/reviews: spec.http[0].route[*].weight == [90, 10]
- name: Try v2 with 10% of the traffic
  meshops.istio.istio_traffic:
    service: reviews
    namespace: bookinfo
    subsets: {v1: 90, v2: 10}

# test expects: VirtualService bookinfo/reviews: spec.http[0].match[0].headers."end-user".exact == jason
# test expects: VirtualService bookinfo/reviews: spec.http[1].route[0].destination.subset == v3
- name: Send jason to v2 and everyone else to v3
  meshops.istio.istio_traffic:
    service: reviews
    namespace: bookinfo
    subsets: {v3: 100}
    match:
      - subset: v2
        headers:
          end-user: {exact: jason}

# test expects: VirtualService bookinfo/reviews: spec.http[0].mirror.subset == v2
# test expects: DestinationRule bookinfo/reviews: spec.subsets[*].name == [v1, v2]
- name: Keep v1 serving, copy its requests to v2, and drop subsets nothing routes to
  meshops.istio.istio_traffic:
    service: reviews
    namespace: bookinfo
    subsets: {v1: 100}
    mirror: {subset: v2, percent: 100}
    timeout: 5s
    retries: {attempts: 2, perTryTimeout: 2s}
    prune_subsets: true

# test needs: gateway api
# test expects: HTTPRoute bookstore/reviews: spec.rules[0].backendRefs[*].name == [reviews-v1, reviews-v2]
# test expects: HTTPRoute bookstore/reviews: spec.rules[0].backendRefs[*].weight == [90, 10]
# test expects: Service bookstore/reviews-v2: spec.selector == {app: reviews, version: v2}
- name: Split the mesh traffic of reviews 90/10 with a Gateway API HTTPRoute, creating reviews-v1 and reviews-v2
  meshops.istio.istio_traffic:
    service: reviews
    namespace: bookstore
    routing_api: gateway-api
    subsets: {v1: 90, v2: 10}
    subset_labels:
      v1: {version: v1}
      v2: {version: v2}

# test expects: HTTPRoute bookstore/reviews: spec.rules[0].matches[0].headers[0].value == jason
# test expects: result: split == {v1: 100}
- name: With the Gateway API too, send jason to v2 and everyone else to v1
  meshops.istio.istio_traffic:
    service: reviews
    namespace: bookstore
    routing_api: gateway-api
    subsets: {v1: 100}
    match:
      - subset: v2
        headers:
          end-user: jason
"""

RETURN = r"""
previous:
  description: The split of the default route before the change (subset to weight); null when there was none.
  returned: always
  type: dict
  sample: {v1: 100}
split:
  description: The split of the default route after the change; null after O(state=absent).
  returned: always
  type: dict
  sample: {v1: 90, v2: 10}
match:
  description: The host's match routes after the change, in order.
  returned: always
  type: list
  elements: dict
  sample: [{subsets: {v2: 100}, match: [{headers: {end-user: {exact: jason}}}], name: null}]
mirror:
  description: The mirror of the default route after the change, or null.
  returned: always
  type: dict
  sample: {subset: v2, percent: 100.0}
previous_mirror:
  description: The mirror of the default route before the change, or null.
  returned: always
  type: dict
  sample: null
subsets_added:
  description: DestinationRule subsets added.
  returned: always
  type: list
  elements: str
  sample: [v2]
subsets_removed:
  description: DestinationRule subsets removed by O(prune_subsets).
  returned: always
  type: list
  elements: str
  sample: []
objects:
  description: What was done to each object, in the order applied.
  returned: always
  type: list
  elements: dict
  sample:
    - {kind: DestinationRule, apiVersion: networking.istio.io/v1, name: reviews, namespace: bookinfo, action: updated}
    - {kind: VirtualService, apiVersion: networking.istio.io/v1, name: reviews, namespace: bookinfo, action: updated}
virtual_service:
  description:
    - The VirtualService after the change (without server bookkeeping), null once deleted.
    - Always null with O(routing_api=gateway-api).
  returned: always
  type: dict
  sample: {apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: reviews, namespace: bookinfo},
           spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews, subset: v1}}]}]}}
destination_rule:
  description:
    - The DestinationRule after the change (without server bookkeeping), or null.
    - Always null with O(routing_api=gateway-api).
  returned: always
  type: dict
  sample: {apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: {name: reviews, namespace: bookinfo},
           spec: {host: reviews, subsets: [{name: v1, labels: {version: v1}}]}}
http_route:
  description: The HTTPRoute after the change (without server bookkeeping), null once deleted.
  returned: with O(routing_api=gateway-api)
  type: dict
  sample: {apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: reviews, namespace: bookinfo},
           spec: {parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}],
                  rules: [{backendRefs: [{name: reviews-v1, port: 9080, weight: 90},
                                         {name: reviews-v2, port: 9080, weight: 10}]}]}}
diff:
  description: The objects before and after, when run with C(--diff) and something changed.
  returned: when diff mode is on and something changed
  type: dict
  sample: {before: {}, after: {}}
"""

from ansible_collections.meshops.istio.plugins.module_utils import routing as rt
from ansible_collections.meshops.istio.plugins.module_utils import routing_args
from ansible_collections.meshops.istio.plugins.module_utils import traffic
from ansible_collections.meshops.istio.plugins.module_utils.kube import Cluster, KubeError, new_module, run


def argspec():
    return dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        subsets=dict(type="dict", aliases=["weights"]),
        subset_labels=dict(type="dict", default={}),
        match=dict(type="list", elements="dict", default=[], options=dict(
            subset=dict(type="str", required=True),
            headers=dict(type="dict"),
            cookie=dict(type="dict"),
            name=dict(type="str"),
        )),
        mirror=dict(type="dict", options=dict(
            subset=dict(type="str", required=True),
            percent=dict(type="float", default=100),
        )),
        timeout=dict(type="str"),
        retries=dict(type="dict"),
        prune_subsets=dict(type="bool", default=False),
        validate_service=dict(type="bool", default=True),
        parent_refs=dict(type="list", elements="dict"),
        service_port=dict(type="int"),
        **routing_args.routing_spec()
    )


def main():
    module = new_module(argspec(), required_if=[("state", "present", ("subsets",))])
    try:
        want = traffic.validated(module.params)
    except rt.RoutingError as e:
        module.fail_json(msg=str(e))

    def act():
        try:
            return traffic.declare(module, Cluster(module), want)
        except rt.RoutingError as e:
            raise KubeError(str(e), reason="InvalidRouting") from None

    module.exit_json(**run(module, act))


if __name__ == "__main__":
    main()
