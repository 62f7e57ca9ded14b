# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""The argspec of the options that name the routing of one service (istio_traffic, istio_release, istio_burst),
documented once by the doc fragments meshops.istio.routing and meshops.istio.routing.gateway_api."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils import routing as rt


def routing_spec(gateway_api=True, **defaults):
    """service, namespace, virtual_service, destination_rule, api_version and, with ``gateway_api``, routing_api and
    http_route. service and namespace are required, unless ``defaults`` gives them a default (as istio_burst does
    for its codelab worker); ``defaults`` may also name virtual_service and destination_rule."""
    spec = dict(
        service=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        virtual_service=dict(type="str"),
        destination_rule=dict(type="str"),
        api_version=dict(type="str", choices=list(rt.API_VERSIONS), default=rt.DEFAULT_API_VERSION),
    )
    if gateway_api:
        spec.update(
            routing_api=dict(type="str", choices=list(rt.ROUTING_APIS), default="istio"),
            http_route=dict(type="str"),
        )
    for key, default in defaults.items():
        spec[key] = dict(type="str", default=default)
    return spec
