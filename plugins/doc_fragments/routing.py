# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""The options that name the routing of one service: meshops.istio.routing (VirtualService and DestinationRule)
and meshops.istio.routing.gateway_api (the HTTPRoute alternative). Their argspec is module_utils/routing_args.py.
A module that needs an option required, or with another default, says only that under the option's name."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  service:
    description:
      - The service whose traffic is routed (the Istio host), as clients call it - a Service name such as V(reviews),
        or its cluster name (V(reviews.bookinfo.svc.cluster.local)).
      - Formerly C(host). O(host) is the API server URL of the auth options, never the service.
    type: str
  namespace:
    description:
      - Namespace of the routing objects (VirtualService and DestinationRule, or HTTPRoute) and, for a short
        O(service) name, of the Service.
    type: str
  virtual_service:
    description: Name of the VirtualService. Defaults to the service name of O(service).
    type: str
  destination_rule:
    description: Name of the DestinationRule. Defaults to the service name of O(service).
    type: str
  api_version:
    description:
      - API version of the Istio networking objects. V(networking.istio.io/v1) needs Istio 1.22 or later.
    type: str
    choices: [networking.istio.io/v1, networking.istio.io/v1beta1, networking.istio.io/v1alpha3]
    default: networking.istio.io/v1
"""

    GATEWAY_API = r"""
options:
  routing_api:
    description:
      - V(istio) routes with a VirtualService and DestinationRule subsets.
      - V(gateway-api) routes with a Kubernetes Gateway API C(gateway.networking.k8s.io/v1) HTTPRoute, as Istio
        documents it beside its own APIs - the default rule's C(backendRefs) (the rule without matches) carry the
        weights and point at one Service per version, C(<service>-<subset>) (for example C(reviews-v2), as in
        Istio's C(bookinfo-versions.yaml)). O(virtual_service) and O(destination_rule) do not apply. The Gateway
        API CRDs (standard channel) must be installed.
    type: str
    choices: [istio, gateway-api]
    default: istio
  http_route:
    description: Name of the HTTPRoute with O(routing_api=gateway-api). Defaults to the service name of O(service).
    type: str
"""
