# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Reading and changing the routing of one host on a cluster, in the safe order.

Used by istio_traffic (declare everything), istio_release (weights only) and istio_burst.
The decisions are routing.py's; this file only reads the live objects and applies the result
through kube.Cluster, with as few API requests as the order allows.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils import routing as rt
from ansible_collections.meshops.istio.plugins.module_utils.kube import (
    ApplyReport,
    KubeError,
    strip_server_fields,
)

# Marks a plan entry that deletes the object instead of applying it.
DELETE = "__meshops_delete__"


class HostRouting:
    """The VirtualService and DestinationRule that route one host in one namespace."""

    def __init__(self, cluster, host, namespace, virtual_service=None, destination_rule=None,
                 api_version=rt.DEFAULT_API_VERSION):
        self.cluster = cluster
        self.host = host
        self.namespace = namespace
        service = rt.service_of(host, namespace)
        short = service[0] if service else host.split(".")[0]
        self.vs_name = virtual_service or short
        self.dr_name = destination_rule or short
        self.api_version = api_version
        self.live_vs = None
        self.live_dr = None

    # -- reads ------------------------------------------------------------------------------
    def read(self):
        self.live_vs = self.cluster.get(self.api_version, rt.VS_KIND, self.vs_name, self.namespace)
        self.live_dr = self.cluster.get(self.api_version, rt.DR_KIND, self.dr_name, self.namespace)
        return self

    def require_service(self):
        """KubeError unless the host is a Service of this cluster (hosts outside it are not checked)."""
        service = rt.service_of(self.host, self.namespace)
        if service is None:
            return None
        name, namespace = service
        if self.cluster.get("v1", "Service", name, namespace) is None:
            raise KubeError("Service %s/%s does not exist, so there is nothing for service %s to route to. Deploy "
                            "the application first, or fix service/namespace." % (namespace, name, self.host),
                            kind="Service", name=name, namespace=namespace, reason="NotFound")
        return service

    def split(self):
        return rt.current_split(self.live_vs, self.host, self.namespace)

    def other_virtual_services(self):
        """Every other VirtualService of the namespace (they may route to this host's subsets too)."""
        return [vs for vs in self.cluster.list(self.api_version, rt.VS_KIND, namespace=self.namespace)
                if vs["metadata"]["name"] != self.vs_name]

    # -- plans ------------------------------------------------------------------------------
    def plan(self, http, subset_labels=None, needed=(), prune=False, annotations=None, delete_vs=False):
        """The objects to apply, in order, for a new ``spec.http`` (``delete_vs``: remove the
        VirtualService instead, at the same point of the order)."""
        subsets = rt.grown_subsets(self.live_dr, subset_labels)
        rt.check_subsets_defined(list(dict.fromkeys(needed)), subsets, self.dr_name, self.namespace)
        dr_grown = None
        if self.live_dr is not None or subset_labels:
            dr_grown = rt.destination_rule(self.dr_name, self.namespace, self.host, subsets, self.live_dr,
                                           self.api_version)
        if delete_vs:
            vs_new = None
            if self.live_vs is not None:
                vs_new = {"apiVersion": self.api_version, "kind": rt.VS_KIND, DELETE: True,
                          "metadata": {"name": self.vs_name, "namespace": self.namespace}}
        else:
            vs_new = rt.virtual_service(self.vs_name, self.namespace, self.host, http, self.live_vs,
                                        self.api_version, annotations)
        dr_final = None
        if prune and dr_grown is not None:
            keep = rt.subsets_used(self.other_virtual_services() + ([vs_new] if vs_new and not delete_vs else []),
                                   self.host, self.namespace)
            dr_final = rt.destination_rule(self.dr_name, self.namespace, self.host,
                                           rt.prune_subsets(subsets, keep), self.live_dr, self.api_version)
        return rt.safe_order(dr_grown, vs_new, dr_final)

    # -- writes -----------------------------------------------------------------------------
    def apply(self, objects):
        """Apply (or delete) ``objects`` in order; returns an ApplyReport.

        Each object's live state is already known, so every step costs one request at most, and
        none when the object already holds what we would apply."""
        report = ApplyReport()
        live = {rt.VS_KIND: self.live_vs, rt.DR_KIND: self.live_dr}
        # The DestinationRule may be applied twice (grow, then prune); it is reported once, from
        # what was there before its first step to what is there after its last.
        steps = {}
        order = []
        for obj in objects:
            kind = obj["kind"]
            if kind not in steps:
                order.append(kind)
            if obj.get(DELETE):
                deleted = self.cluster.delete_objects([dict((k, v) for k, v in obj.items() if k != DELETE)])
                steps[kind] = dict(report=deleted)
                live[kind] = None
                continue
            action, before, after = self.cluster.apply_one(obj, live=live[kind], known_live=True)
            step = steps.setdefault(kind, dict(before=before, actions=[]))
            step.update(obj=obj, after=after)
            step["actions"].append(action)
            live[kind] = after
        for kind in order:
            step = steps[kind]
            if "report" in step:
                report.results.extend(step["report"].results)
                report.before.extend(step["report"].before)
                report.after.extend(step["report"].after)
                continue
            actions = [a for a in step["actions"] if a != "unchanged"]
            action = "created" if "created" in actions else ("updated" if actions else "unchanged")
            report.add(step["obj"], action, step["before"], step["after"])
        self.live_vs, self.live_dr = live[rt.VS_KIND], live[rt.DR_KIND]
        return report

    def set_weights(self, weights, annotations=None):
        """Change only the default route's weights (and our annotations) in one write."""
        weights = rt.validate_weights(weights)
        http = rt.set_weights(self.live_vs, self.host, self.namespace, weights)
        rt.check_subsets_defined(list(weights), rt.grown_subsets(self.live_dr, None), self.dr_name, self.namespace)
        vs = rt.virtual_service(self.vs_name, self.namespace, self.host, http, self.live_vs, self.api_version,
                                annotations)
        return self.apply([vs])


def view(obj):
    """An object as a user wants to see it in results: without server bookkeeping."""
    return strip_server_fields(obj) if obj else None
