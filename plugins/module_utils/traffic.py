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
from ansible_collections.meshops.istio.plugins.module_utils import validation as val
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

    # The interface istio_release shares with RouteRouting.
    kind = rt.VS_KIND

    @property
    def live(self):
        return self.live_vs

    @live.setter
    def live(self, obj):
        self.live_vs = obj

    @property
    def name(self):
        return self.vs_name

    def labels_of(self, subset):
        return (rt.dr_subsets(self.live_dr).get(subset) or {}).get("labels") or {}

    def check_subsets(self, needed):
        rt.check_subsets_defined(list(needed), rt.grown_subsets(self.live_dr, None), self.dr_name, self.namespace)

    def weights_spec(self, weights):
        return {"http": rt.set_weights(self.live_vs, self.host, self.namespace, weights)}

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


class RouteRouting:
    """The Gateway API form of HostRouting: one HTTPRoute and the per-version Services it sends to.

    A subset is the Service ``<service>-<subset>``; ``subset_labels`` creates (or relabels) it with the
    ports and selector of the Service plus the subset's labels, as Istio's bookinfo-versions.yaml has them."""

    kind = rt.HTTPROUTE_KIND
    api_version = rt.GATEWAY_API_VERSION

    def __init__(self, cluster, host, namespace, http_route=None, parent_refs=None, port=None):
        service = rt.service_of(host, namespace)
        if service is None or service[1] != namespace:
            raise rt.RoutingError("routing_api=gateway-api routes a Service of namespace %s through an HTTPRoute there; "
                                  "%s is not one (name the Service, for example reviews)." % (namespace, host))
        self.cluster = cluster
        self.host = host
        self.service = service[0]
        self.namespace = namespace
        self.name = http_route or self.service
        self.parent_refs = parent_refs
        self.port = port
        self.live_route = None
        self.base = None
        self.versions = {}

    @property
    def live(self):
        return self.live_route

    @live.setter
    def live(self, obj):
        self.live_route = obj

    # -- reads ------------------------------------------------------------------------------
    def get_route(self):
        try:
            return self.cluster.get(rt.GATEWAY_API_VERSION, rt.HTTPROUTE_KIND, self.name, self.namespace)
        except KubeError as e:
            if e.reason != "NoSuchKind":
                raise
            raise KubeError("The cluster does not serve %s HTTPRoute: the Gateway API CRDs are not installed. Install "
                            "them (standard channel v1.6.1) with: %s - or use routing_api=istio."
                            % (rt.GATEWAY_API_VERSION, rt.GATEWAY_API_INSTALL), kind=rt.HTTPROUTE_KIND,
                            name=self.name, namespace=self.namespace, reason="GatewayAPINotInstalled") from None

    def read(self):
        self.live_route = self.get_route()
        services = self.cluster.list("v1", "Service", namespace=self.namespace)
        by_name = dict((s["metadata"]["name"], s) for s in services)
        self.base = by_name.get(self.service)
        prefix = self.service + "-"
        self.versions = dict((name[len(prefix):], svc) for name, svc in by_name.items() if name.startswith(prefix))
        return self

    def require_service(self):
        if self.base is None:
            raise KubeError("Service %s/%s does not exist, so there is nothing for service %s to route to. Deploy the "
                            "application first, or fix service/namespace." % (self.namespace, self.service, self.host),
                            kind="Service", name=self.service, namespace=self.namespace, reason="NotFound")

    def split(self):
        return rt.route_split(self.live_route, self.service)

    def backend_port(self):
        """The port of the backendRefs: given, as the route has it, or the Service's only port."""
        if self.port:
            return self.port
        index = rt.default_rule_index(self.live_route, self.service)
        if index is not None:
            return self.live_route["spec"]["rules"][index]["backendRefs"][0].get("port")
        if self.base is None:
            raise rt.RoutingError("Service %s/%s does not exist, so its port is not known: give service_port."
                                  % (self.namespace, self.service))
        ports = (self.base.get("spec") or {}).get("ports") or []
        if len(ports) == 1:
            return ports[0]["port"]
        raise rt.RoutingError("Service %s/%s has %s ports; say which one the route sends to with service_port."
                              % (self.namespace, self.service, len(ports) or "no"))

    def labels_of(self, subset):
        """Pod labels of a subset: the selector of its per-version Service."""
        return ((self.versions.get(subset) or {}).get("spec") or {}).get("selector") or {}

    def check_subsets(self, needed, subset_labels=None):
        missing = [s for s in dict.fromkeys(needed) if s not in self.versions and s not in (subset_labels or {})]
        if missing:
            raise rt.RoutingError(
                "Service %s does not exist in namespace %s: with routing_api=gateway-api each version is a Service of "
                "its own (as Istio's bookinfo-versions.yaml). Add subset_labels: {%s: {version: %s}} to create it, or "
                "deploy it first." % (", ".join(rt.backend_name(self.service, s) for s in missing), self.namespace,
                                      missing[0], missing[0]))

    # -- plans and writes ------------------------------------------------------------------
    def plan(self, rules, subset_labels=None, needed=(), annotations=None, delete_route=False):
        """Per-version Services first (a backend must exist before the route sends to it), then the route."""
        self.check_subsets(needed, subset_labels)
        objects = []
        for subset, labels in (subset_labels or {}).items():
            if self.base is None:
                self.require_service()
            objects.append(rt.version_service(self.service, subset, self.base, labels))
        if delete_route:
            if self.live_route is not None:
                objects.append({"apiVersion": rt.GATEWAY_API_VERSION, "kind": rt.HTTPROUTE_KIND, DELETE: True,
                                "metadata": {"name": self.name, "namespace": self.namespace}})
        else:
            parents = self.parent_refs
            if parents is None:
                live_parents = ((self.live_route or {}).get("spec") or {}).get("parentRefs")
                parents = live_parents or [rt.service_parent_ref(self.service, self.backend_port())]
            objects.append(rt.http_route(self.name, self.namespace, parents, rules, annotations))
        return objects

    def apply(self, objects):
        report = ApplyReport()
        for obj in objects:
            if obj.get(DELETE):
                deleted = self.cluster.delete_objects([dict((k, v) for k, v in obj.items() if k != DELETE)])
                report.results.extend(deleted.results)
                report.before.extend(deleted.before)
                report.after.extend(deleted.after)
                self.live_route = None
                continue
            if obj["kind"] == rt.HTTPROUTE_KIND:
                live = self.live_route
            else:
                live = self.versions.get(obj["metadata"]["name"][len(self.service) + 1:])
            action, before, after = self.cluster.apply_one(obj, live=live, known_live=True)
            report.add(obj, action, before, after)
            if obj["kind"] == rt.HTTPROUTE_KIND:
                self.live_route = after
            else:
                self.versions[obj["metadata"]["name"][len(self.service) + 1:]] = after
        return report

    def weights_spec(self, weights):
        """The ``spec`` of a merge patch that sets the default rule's weights."""
        return {"rules": rt.set_route_weights(self.live_route, self.service, self.backend_port(), weights)}


def view(obj):
    """An object as a user wants to see it in results: without server bookkeeping."""
    return strip_server_fields(obj) if obj else None


# -- istio_traffic ------------------------------------------------------------------------------

def validated(params):
    """The routing the user declared, checked before anything is read or written."""
    out = dict(weights=None, matches=[], mirror=None, timeout=rt.KEEP, retries=rt.KEEP)
    try:
        val.require_names(val.host_checks(params))
    except val.InputError as e:
        raise rt.RoutingError(str(e)) from None
    if params["state"] == "present":
        out["weights"] = rt.validate_weights(params["subsets"], "subsets")
        out["matches"] = [rt.normalize_match(dict((k, v) for k, v in m.items() if v is not None), i)
                          for i, m in enumerate(params["match"] or [])]
        out["mirror"] = rt.validate_mirror(params["mirror"])
    elif params["timeout"] is not None or params["retries"] is not None:
        raise rt.RoutingError("timeout and retries only apply with state=present; drop them for state=absent.")
    gateway_api_problem(params)
    if params["routing_api"] == "gateway-api":
        out["parent_refs"] = rt.validate_parent_refs(params["parent_refs"]) if params["parent_refs"] else None
        if params["timeout"]:
            rt.validate_gateway_duration(params["timeout"], "timeout")
        for index, (_subset, match, _name) in enumerate(out["matches"]):
            rt.httproute_match(match, index)
    if params["timeout"] is not None:
        out["timeout"] = rt.validate_duration(params["timeout"], "timeout") if params["timeout"] else None
    if params["retries"] is not None:
        if params["retries"].get("perTryTimeout"):
            rt.validate_duration(params["retries"]["perTryTimeout"], "retries.perTryTimeout")
        out["retries"] = params["retries"] or None
    for name, labels in (params["subset_labels"] or {}).items():
        rt.validate_subset_name(name)
        if not isinstance(labels, dict) or not labels:
            raise rt.RoutingError("subset_labels.%s must be a mapping of pod labels, for example {version: %s}."
                                  % (name, name))
    return out


def gateway_api_problem(params):
    """RoutingError for options that do not fit the routing API chosen."""
    gateway = params["routing_api"] == "gateway-api"
    if gateway:
        unfit = [k for k in ("virtual_service", "destination_rule") if params[k]]
        if params["retries"]:
            unfit.append("retries")
        if params["prune_subsets"]:
            unfit.append("prune_subsets")
        if unfit:
            raise rt.RoutingError(
                "%s only apply with routing_api=istio: the Gateway API (standard channel) has no retries, and its "
                "routes send to per-version Services, not DestinationRule subsets. Drop %s, or use routing_api=istio."
                % (", ".join(unfit), ", ".join(unfit)))
    else:
        unfit = [k for k in ("http_route", "parent_refs", "service_port") if params[k] is not None]
        if unfit:
            raise rt.RoutingError("%s only apply with routing_api=gateway-api; drop them, or set routing_api=gateway-api."
                                  % ", ".join(unfit))


def _declare_route(module, cluster, want):
    """declare() with a Gateway API HTTPRoute and per-version Services."""
    params = module.params
    routing = RouteRouting(cluster, params["service"], params["namespace"], params["http_route"],
                           want.get("parent_refs"), params["service_port"]).read()
    if params["validate_service"] and params["state"] == "present":
        routing.require_service()
    service = routing.service
    previous = routing.split()
    previous_mirror = rt.route_mirror(routing.live_route, service)
    before = set(routing.versions)
    if params["state"] == "present":
        rules = rt.build_rules(routing.live_route, service, routing.backend_port(), want["weights"],
                               matches=want["matches"], mirror=want["mirror"], timeout=want["timeout"])
        needed = list(want["weights"]) + [m[0] for m in want["matches"]]
        if want["mirror"]:
            needed.append(want["mirror"]["subset"])
        objects = routing.plan(rules, params["subset_labels"], needed)
    elif routing.live_route is None:
        objects = routing.plan([], params["subset_labels"], delete_route=True)
    else:
        rules = rt.remove_service_rules(routing.live_route, service)
        objects = routing.plan(rules, params["subset_labels"], delete_route=not rules)
    report = routing.apply(objects)
    result = dict(
        changed=report.changed,
        previous=previous,
        split=routing.split(),
        match=rt.route_match_rules(routing.live_route, service),
        mirror=rt.route_mirror(routing.live_route, service),
        previous_mirror=previous_mirror,
        subsets_added=sorted(set(routing.versions) - before),
        subsets_removed=[],
        objects=report.results,
        virtual_service=None,
        destination_rule=None,
        http_route=view(routing.live_route),
    )
    if module._diff and report.changed:
        result["diff"] = report.diff
    return result


def _declare_host(module, cluster, want):
    """declare() with a VirtualService and DestinationRule subsets."""
    params = module.params
    routing = HostRouting(cluster, params["service"], params["namespace"], params["virtual_service"],
                          params["destination_rule"], params["api_version"])
    if params["validate_service"] and params["state"] == "present":
        routing.require_service()
    routing.read()
    host, namespace = params["service"], params["namespace"]
    previous = routing.split()
    previous_mirror = rt.mirror_of(routing.live_vs, host, namespace)
    before_subsets = set(rt.dr_subsets(routing.live_dr))

    if params["state"] == "present":
        http = rt.build_http(routing.live_vs, host, namespace, want["weights"], matches=want["matches"],
                             mirror=want["mirror"], timeout=want["timeout"], retries=want["retries"])
        needed = list(want["weights"]) + [m[0] for m in want["matches"]]
        if want["mirror"]:
            needed.append(want["mirror"]["subset"])
        objects = routing.plan(http, params["subset_labels"], needed, params["prune_subsets"])
    else:
        if routing.live_vs is None:
            http, objects = [], []
        else:
            http = rt.remove_host_routes(routing.live_vs, host, namespace)
            spec = routing.live_vs.get("spec") or {}
            empty = not http and not spec.get("tcp") and not spec.get("tls")
            objects = routing.plan(http, params["subset_labels"], (), params["prune_subsets"], delete_vs=empty)

    report = routing.apply(objects)
    after_subsets = set(rt.dr_subsets(routing.live_dr))
    result = dict(
        changed=report.changed,
        previous=previous,
        split=routing.split(),
        match=rt.match_routes(routing.live_vs, host, namespace),
        mirror=rt.mirror_of(routing.live_vs, host, namespace),
        previous_mirror=previous_mirror,
        subsets_added=sorted(after_subsets - before_subsets),
        subsets_removed=sorted(before_subsets - after_subsets),
        objects=report.results,
        virtual_service=view(routing.live_vs),
        destination_rule=view(routing.live_dr),
    )
    if module._diff and report.changed:
        result["diff"] = report.diff
    return result


def declare(module, cluster, want):
    """istio_traffic: the routing ``want`` (from validated()) declared on the cluster; the module's result."""
    if module.params["routing_api"] == "gateway-api":
        return _declare_route(module, cluster, want)
    return _declare_host(module, cluster, want)
