# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Where a user reaches an application exposed through the Istio ingress gateway."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.module_utils import openshift

_DEFAULT_PORTS = {"http": 80, "https": 443}
# The name Istio's gateway charts give the plain-HTTP port of the ingress Service.
_HTTP_PORT_NAMES = ("http2", "http")


def _pick_port(ports, gateway_port):
    """The Service port that carries traffic for a Gateway server listening on ``gateway_port``.

    A Gateway server's port is the port the gateway pod listens on. Installs differ in how the
    Service maps onto it (istioctl: 80 -> 8080; the istio/gateway chart: 80 -> 80), so match the
    target port first, then the Service port, then the usual HTTP port names."""
    if gateway_port is not None:
        for port in ports:
            if str(port.get("targetPort", port.get("port"))) == str(gateway_port):
                return port
        for port in ports:
            if str(port.get("port")) == str(gateway_port):
                return port
    for name in _HTTP_PORT_NAMES:
        for port in ports:
            if port.get("name") == name:
                return port
    for port in ports:
        if port.get("port") == 80:
            return port
    return ports[0] if ports else None


def _node_address(nodes):
    """An address a user can reach a NodePort on: the first external IP, else an internal IP."""
    for wanted in ("ExternalIP", "ExternalDNS", "InternalIP", "Hostname"):
        for node in nodes or []:
            for address in (node.get("status") or {}).get("addresses") or []:
                if address.get("type") == wanted and address.get("address"):
                    return address["address"]
    return None


def _url(scheme, host, port, path):
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    if not path.startswith("/"):
        path = "/" + path
    if port is None or int(port) == _DEFAULT_PORTS.get(scheme):
        return "%s://%s%s" % (scheme, host, path)
    return "%s://%s:%s%s" % (scheme, host, port, path)


def gateway_url(service, path="/", gateway_port=None, nodes=None, scheme="http", local_port=8080, routes=None):
    """How to reach ``path`` through the ingress gateway Service ``service``.

    Returns {url, via, address, port, note}; ``via`` is route, loadbalancer, nodeport, port-forward or
    none. ``url`` is None only when there is no Service to go through. An OpenShift Route (among
    ``routes``) to the Service wins: on OpenShift that is the way in."""
    if scheme not in _DEFAULT_PORTS:
        raise AnsibleFilterError("gateway_url: scheme must be http or https, not %r" % (scheme,))
    if isinstance(service, list):
        service = service[0] if service else None
    if not service:
        return dict(url=None, via="none", address=None, port=None,
                    note="no ingress gateway Service found; install the gateways (playbooks/install.yml) "
                         "or point the role at the Service that fronts your ingress gateway")
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    ref = "%s/%s" % (meta.get("namespace", ""), meta.get("name", ""))
    found = openshift.route_for_service(routes, meta.get("namespace"), meta.get("name"))
    if found:
        reach = openshift.route_url(found, path)
        if reach["url"]:
            pending = "" if reach["admitted"] else " (not admitted by a router yet)"
            return dict(url=reach["url"], via="route", address=reach["host"], port=None,
                        note="Route %s/%s%s" % (meta.get("namespace", ""), found["metadata"]["name"], pending))
    port = _pick_port(spec.get("ports") or [], gateway_port)
    if port is None:
        return dict(url=None, via="none", address=None, port=None,
                    note="the ingress gateway Service %s has no ports" % ref)

    for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        address = ingress.get("ip") or ingress.get("hostname")
        if address:
            return dict(url=_url(scheme, address, port["port"], path), via="loadbalancer",
                        address=address, port=port["port"],
                        note="load balancer address of %s" % ref)

    if spec.get("type") in ("NodePort", "LoadBalancer") and port.get("nodePort"):
        address = _node_address(nodes)
        if address:
            return dict(url=_url(scheme, address, port["nodePort"], path), via="nodeport",
                        address=address, port=port["nodePort"],
                        note="node port %s of %s on a node address; any node works if this one is "
                             "not reachable from where you are" % (port["nodePort"], ref))
        return dict(url=_url(scheme, "<node-address>", port["nodePort"], path), via="nodeport",
                    address=None, port=port["nodePort"],
                    note="node port %s of %s; replace <node-address> with the address of any node"
                         % (port["nodePort"], ref))

    return dict(url=_url(scheme, "localhost", local_port, path), via="port-forward",
                address="localhost", port=local_port,
                note="%s has no external address (type %s); first run: kubectl -n %s port-forward "
                     "svc/%s %s:%s" % (ref, spec.get("type", "ClusterIP"), meta.get("namespace", ""),
                                       meta.get("name", ""), local_port, port["port"]))


class FilterModule(object):
    def filters(self):
        return {"gateway_url": gateway_url}
