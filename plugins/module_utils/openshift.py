# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""What OpenShift needs beyond Istio's platform profile: Routes (route.openshift.io/v1) instead of
NodePorts, and the Multus NetworkAttachmentDefinition that lets istio-cni act in a namespace.

Pure functions: the gateways, addons and mesh_namespace roles build objects with them and read the
URLs back from the Routes the router admitted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

ROUTE_API = "route.openshift.io/v1"
SCC_API = "security.openshift.io/v1"
NAD_API = "k8s.cni.cncf.io/v1"
# none: plain HTTP to the Service port; edge: the router ends TLS with its own certificate (HTTP is
# redirected); passthrough: TLS goes through to the pod, which needs its own certificate.
ROUTE_TLS = ("none", "edge", "passthrough")


class OpenShiftError(ValueError):
    """A request that cannot be carried out; the message says what to change."""


def route(name, namespace, service, target_port, host="", tls="none", labels=None):
    """A Route that sends ``host`` (empty: the router's <name>-<namespace>.<apps domain>) to ``service``.

    ``target_port`` is the Service port's name (or its target port number), as Routes name it."""
    tls = tls or "none"
    if tls not in ROUTE_TLS:
        raise OpenShiftError("Route %s/%s: tls must be one of %s, not %r." % (namespace, name, ", ".join(ROUTE_TLS), tls))
    spec = {"to": {"kind": "Service", "name": str(service), "weight": 100},
            "port": {"targetPort": target_port if isinstance(target_port, int) else str(target_port)},
            "wildcardPolicy": "None"}
    if host:
        spec["host"] = str(host)
    if tls == "edge":
        spec["tls"] = {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}
    elif tls == "passthrough":
        spec["tls"] = {"termination": "passthrough", "insecureEdgeTerminationPolicy": "Redirect"}
    metadata = {"name": str(name), "namespace": str(namespace)}
    if labels:
        metadata["labels"] = dict((str(k), str(v)) for k, v in labels.items())
    return {"apiVersion": ROUTE_API, "kind": "Route", "metadata": metadata, "spec": spec}


def admitted_host(obj):
    """The host a router admitted the Route under, or None while no router has."""
    for ingress in (obj.get("status") or {}).get("ingress") or []:
        for condition in ingress.get("conditions") or []:
            if condition.get("type") == "Admitted" and condition.get("status") == "True" and ingress.get("host"):
                return ingress["host"]
    return None


def route_url(obj, path="/"):
    """{url, host, admitted} of a Route: https when the router or the pod ends TLS."""
    host = admitted_host(obj)
    admitted = host is not None
    host = host or (obj.get("spec") or {}).get("host")
    if not host:
        return dict(url=None, host=None, admitted=False)
    scheme = "https" if (obj.get("spec") or {}).get("tls") else "http"
    if not path.startswith("/"):
        path = "/" + path
    return dict(url="%s://%s%s" % (scheme, host, path), host=host, admitted=admitted)


def route_for_service(routes, namespace, service):
    """The first Route among ``routes`` that sends traffic to Service ``namespace``/``service``."""
    for obj in routes or []:
        meta = obj.get("metadata") or {}
        to = (obj.get("spec") or {}).get("to") or {}
        if meta.get("namespace") == namespace and to.get("kind", "Service") == "Service" and to.get("name") == service:
            return obj
    return None


def network_attachment(namespace, name="istio-cni"):
    """The NetworkAttachmentDefinition Multus needs in a namespace to call istio-cni for its pods."""
    return {"apiVersion": NAD_API, "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": str(namespace)}}
