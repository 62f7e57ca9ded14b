# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""What an application role needs around its apply, in the same module run (istio_apply): the
networking.istio.io version the cluster serves, the namespace with its injection label, the sidecar
check of the applied Deployments (with an optional restart) and the ingress gateway's address.

Each of these was a task of its own (a new process, a new client, discovery again) before the apply;
folded into the apply's run they cost only their requests."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.meshops.istio.plugins.module_utils import injection as inj
from ansible_collections.meshops.istio.plugins.module_utils import openshift
from ansible_collections.meshops.istio.plugins.module_utils.kube import KubeError

ISTIO_NETWORKING = "networking.istio.io"
ISTIO_API_VERSIONS = ("auto", "v1", "v1beta1", "v1alpha3")
_NOT_SERVED = ("IstioNotInstalled", "NoSuchKind")


def served_istio_version(cluster, wanted):
    """The networking.istio.io version to apply (``auto``: v1 when served, as from Istio 1.22, else
    v1beta1), or None when the cluster serves neither (Istio is not installed)."""
    for version in ("v1", "v1beta1") if wanted == "auto" else (wanted,):
        try:
            # Discovery only: answered from the client's cache, not a request of its own.
            cluster.resource("%s/%s" % (ISTIO_NETWORKING, version), "VirtualService")
            return version
        except KubeError as e:
            if e.reason not in _NOT_SERVED:
                raise
    return None


def istio_missing_message(wanted, namespace):
    if wanted == "auto":
        return ("Istio is not installed in this cluster (the API serves no networking.istio.io VirtualService), so "
                "the objects for namespace %s cannot be applied and its pods cannot get sidecars; run "
                "playbooks/install.yml first, or check that kubeconfig/context point at the cluster you meant."
                % namespace)
    return ("This cluster does not serve networking.istio.io/%s VirtualServices: Istio is not installed (run "
            "playbooks/install.yml) or its version does not serve %s; set the Istio API version to auto."
            % (wanted, wanted))


def with_istio_version(objects, version):
    """``objects`` with every networking.istio.io object at ``version`` (the others as they are)."""
    out = []
    for obj in objects:
        if obj["apiVersion"].partition("/")[0] == ISTIO_NETWORKING:
            obj = dict(obj, apiVersion="%s/%s" % (ISTIO_NETWORKING, version))
        out.append(obj)
    return out


def ensure_namespace(cluster, name, live, labels, annotations):
    """Create namespace ``name`` or bring its labels and annotations to ``labels``/``annotations``
    (a value, or None for "must not be there"; others are left alone). Returns (action, after, change):
    action created/updated/unchanged, ``change`` the metadata merge patch's fields ({} when none)."""
    patch = inj.metadata_patch((live or {}).get("metadata"), labels, annotations)
    if live is None:
        meta = {"name": name, "labels": dict((k, v) for k, v in labels.items() if v is not None)}
        kept_annotations = dict((k, v) for k, v in annotations.items() if v is not None)
        if kept_annotations:
            meta["annotations"] = kept_annotations
        after = cluster.apply_one({"apiVersion": "v1", "kind": "Namespace", "metadata": meta},
                                  live=None, known_live=True)[2]
        return "created", after, patch.get("metadata", {})
    if patch:
        return "updated", cluster.patch("v1", "Namespace", name, None, patch), patch["metadata"]
    return "unchanged", live, {}


def without_sidecar(cluster, namespace, deployments, injection, revision):
    """The Deployments among ``deployments`` (objects) whose pods do not match the namespace's
    injection setting: [{name, reason, pods}] (injection.workloads_out_of_date)."""
    names = set(obj["metadata"]["name"] for obj in deployments)
    if not names:
        return []
    live = [d for d in cluster.list("apps/v1", "Deployment", namespace=namespace) if d["metadata"]["name"] in names]
    pods = cluster.list("v1", "Pod", namespace=namespace)
    return inj.workloads_out_of_date(live, pods, injection, revision)


def restart(cluster, namespace, names):
    """Restart Deployments ``names`` the way ``kubectl rollout restart`` does (new pods get the sidecar)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in names:
        cluster.patch("apps/v1", "Deployment", name, namespace, inj.restart_patch(stamp), patch_type="strategic-merge")


def ingress(cluster, name, namespace):
    """The ingress gateway Service (as a list: [] when missing) and, when its address is a node port
    (no load balancer address yet), the Nodes; for a ClusterIP Service on a cluster that serves
    OpenShift Routes (where the gateways role exposes it by one), the namespace's Routes: what the
    gateway_url filter needs."""
    service = cluster.get("v1", "Service", name, namespace)
    if service is None:
        return dict(resources=[], nodes=[], routes=[])
    service_type = (service.get("spec") or {}).get("type") or "ClusterIP"
    routes = (cluster.list(openshift.ROUTE_API, "Route", namespace)
              if service_type == "ClusterIP" and cluster.serves(openshift.ROUTE_API) else [])
    return dict(resources=[service], nodes=cluster.list("v1", "Node") if needs_nodes(service) else [], routes=routes)


def needs_nodes(service):
    """Whether a gateway Service is reached at a node port: NodePort, or LoadBalancer without a load
    balancer address yet (the gateway_url filter then takes a node's address)."""
    spec, status = service.get("spec") or {}, service.get("status") or {}
    return (spec.get("type") or "ClusterIP") in ("NodePort", "LoadBalancer") and not (
        (status.get("loadBalancer") or {}).get("ingress"))
