# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Filters the addons role uses; the logic lives in module_utils/addons.py (unit tested there)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.filter.gateway import _node_address, gateway_url
from ansible_collections.meshops.istio.plugins.module_utils import addons


def _wrap(fn):
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except addons.AddonError as e:
            raise AnsibleFilterError(str(e)) from e
    call.__name__ = fn.__name__
    call.__doc__ = fn.__doc__
    return call


def _gateway_reach(gateway_service, gateway_port, nodes):
    """(address, port) users reach the ingress gateway on, from outside the cluster."""
    if not gateway_service:
        return None, None
    reach = gateway_url(gateway_service, gateway_port=gateway_port, nodes=nodes)
    if reach.get("via") in ("loadbalancer", "nodeport"):
        return reach.get("address"), reach.get("port")
    return None, None


def istio_addon_source(base, version, addon):
    """Where an addon's manifest is read from (URL or path)."""
    return addons.source(base, version, addon)


def istio_addons_plan(manifests, settings, namespace="istio-system", api_version="networking.istio.io/v1",
                      gateway_selector=None, gateway_port=8080, gateway_service=None, nodes=None,
                      istio_installed=True, platform="kubernetes"):
    """{apply, remove, addons}: the addon objects to apply and to delete, and the normalised settings."""
    _address, port = _gateway_reach(gateway_service, gateway_port, nodes)
    return addons.plan(manifests, settings, namespace, api_version, gateway_selector, gateway_port, port,
                       _node_address(nodes), istio_installed, platform)


def istio_addon_urls(settings, services, namespace="istio-system", gateway_service=None, gateway_port=8080,
                     nodes=None, routes=None, platform="kubernetes"):
    """{addon: {url, via, internal_url, note}} for the addons that are present."""
    address, port = _gateway_reach(gateway_service, gateway_port, nodes)
    return addons.urls(settings, services, namespace, _node_address(nodes), address, port, routes, platform)


class FilterModule(object):
    def filters(self):
        return dict((fn.__name__, _wrap(fn)) for fn in (istio_addon_source, istio_addons_plan, istio_addon_urls))
