# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Routing of one host: weights, match routes, mirrors, VirtualService/DestinationRule building.

Pure functions over plain dicts, shared by istio_traffic (declare a host's routing),
istio_release (move weight between two subsets) and istio_burst. Nothing here talks to the API.

Which routes of a VirtualService belong to "the routing of a host":
* the default route: the http route without ``match`` whose destinations all point at the host;
* match routes: http routes whose matches only test request headers (cookies are headers) and
  whose destinations all point at the host, with no other behaviour (fault, rewrite, ...).
Every other route, and every field outside ``spec.http``, is somebody else's and is left alone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import copy
import re

from ansible_collections.meshops.istio.plugins.module_utils import validation as val

VS_KIND = "VirtualService"
DR_KIND = "DestinationRule"
DEFAULT_API_VERSION = "networking.istio.io/v1"
API_VERSIONS = ("networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3")

# Fields a route may carry and still be one this module rewrites; anything else (fault, rewrite,
# redirect, corsPolicy, headers manipulation, delegate) marks a route someone else wrote.
_MANAGED_ROUTE_FIELDS = frozenset(("name", "match", "route", "timeout", "retries", "mirror", "mirrorPercentage"))
_MATCH_KINDS = ("exact", "prefix", "regex")
# Go/Istio durations: 10s, 1.5s, 250ms, 1m30s.
_DURATION_RE = re.compile(r"^(\d+(\.\d+)?(ns|us|\u00b5s|ms|s|m|h))+$")
_HEADER_RE = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")
_INT_RE = re.compile(r"^\s*-?\d+\s*$")

KEEP = object()  # "leave this field as it is" for optional route settings


class RoutingError(ValueError):
    """Input or cluster state that makes the requested routing impossible; the message says why."""


# -- input validation ---------------------------------------------------------------------------

def _as_int(value, what):
    """An integer from an int or an all-digit string (templated values arrive as strings)."""
    if isinstance(value, bool):
        raise RoutingError("%s is %r, not a whole number: write a whole number from 0 to 100." % (what, value))
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.match(value):
        return int(value)
    raise RoutingError("%s is %r, not a whole number: Istio weights are integers, write a whole number "
                       "from 0 to 100." % (what, value))


def validate_subset_name(subset, what="subset"):
    # Istio refuses a DestinationRule whose subset name is not a DNS-1123 label.
    problem = val.label_problem(subset, "%s name" % what)
    if problem:
        raise RoutingError(problem)
    return subset


def validate_weights(weights, what="weights"):
    """Weights as an ordered {subset: int}; raises RoutingError naming the offending entry.

    Each weight is a whole number from 0 to 100 and they sum to exactly 100, because Istio
    rejects (or silently normalises, depending on the version) anything else."""
    if not isinstance(weights, dict) or not weights:
        raise RoutingError("%s must be a mapping of subset to weight, for example {v1: 90, v2: 10}; got %r."
                           % (what, weights))
    clean = {}
    for subset, weight in weights.items():
        validate_subset_name(subset)
        value = _as_int(weight, "The weight of subset %s" % subset)
        if value < 0 or value > 100:
            raise RoutingError("The weight of subset %s is %d; weights go from 0 to 100." % (subset, value))
        clean[subset] = value
    total = sum(clean.values())
    if total != 100:
        raise RoutingError("%s add up to %d, not 100 (%s): change them so they sum to exactly 100."
                           % (what.capitalize(), total, ", ".join("%s=%d" % kv for kv in clean.items())))
    return clean


def validate_duration(value, what):
    if value is None:
        return None
    if not isinstance(value, str) or not _DURATION_RE.match(value):
        raise RoutingError("%s is %r, not a duration: write it like 10s, 1.5s or 250ms." % (what, value))
    return value


def _header_match(name, spec, where):
    if not isinstance(name, str) or not _HEADER_RE.match(name):
        raise RoutingError("%s: header name %r is not valid; Istio matches lower-case header names "
                           "(for example end-user)." % (where, name))
    if isinstance(spec, (str, int, float)) and not isinstance(spec, bool):
        return {"exact": str(spec)}
    if isinstance(spec, dict) and len(spec) == 1 and list(spec)[0] in _MATCH_KINDS:
        kind, value = list(spec.items())[0]
        if not isinstance(value, str) or value == "":
            raise RoutingError("%s: header %s needs a non-empty string for %s." % (where, name, kind))
        if kind == "regex":
            problem = val.re2_problem(value, "%s: the regex of header %s" % (where, name))
            if problem:
                raise RoutingError(problem)
        return {kind: value}
    raise RoutingError("%s: header %s must be a string (exact match) or one of {exact: ...}, {prefix: ...}, "
                       "{regex: ...}; got %r." % (where, name, spec))


def cookie_regex(name, value):
    """The header regex Istio users write to match one cookie (cookies travel in one header)."""
    return "^(.*?;\\s*)?(%s=%s)(;.*)?$" % (re.escape(name), re.escape(value))


def normalize_match(match, index=0):
    """One user match route ({subset, headers, cookie, name}) -> (subset, Istio HTTPMatchRequest, name)."""
    where = "match[%d]" % index
    if not isinstance(match, dict):
        raise RoutingError("%s must be a mapping with subset and headers or cookie; got %r." % (where, match))
    unknown = set(match) - set(("subset", "headers", "cookie", "name"))
    if unknown:
        raise RoutingError("%s has unknown keys %s; use subset, headers, cookie (and optionally name)."
                           % (where, ", ".join(sorted(unknown))))
    subset = match.get("subset")
    if not subset:
        raise RoutingError("%s needs a subset: the subset its requests go to, for example subset: v2." % where)
    validate_subset_name(subset)
    headers = {}
    for name, spec in (match.get("headers") or {}).items():
        headers[name] = _header_match(name, spec, where)
    cookie = match.get("cookie")
    if cookie:
        if not isinstance(cookie, dict) or not cookie.get("name") or cookie.get("value") in (None, ""):
            raise RoutingError("%s: cookie must be {name: ..., value: ...}, for example {name: user, value: jason}."
                               % where)
        if "cookie" in headers:
            raise RoutingError("%s matches the cookie header twice (headers.cookie and cookie); keep one." % where)
        headers["cookie"] = {"regex": cookie_regex(str(cookie["name"]), str(cookie["value"]))}
    if not headers:
        raise RoutingError("%s needs headers or cookie to match on, for example headers: {end-user: jason}."
                           % where)
    return subset, {"headers": headers}, match.get("name")


def validate_mirror(mirror):
    """None, or {subset, percent} with percent in (0, 100]."""
    if mirror is None:
        return None
    if not isinstance(mirror, dict) or not mirror.get("subset"):
        raise RoutingError("mirror must be {subset: <subset>, percent: <0-100>}; got %r." % (mirror,))
    validate_subset_name(mirror["subset"], "mirror subset")
    percent = mirror.get("percent", 100)
    if isinstance(percent, str):
        try:
            percent = float(percent)
        except ValueError:
            raise RoutingError("mirror.percent is %r, not a number from 0 to 100." % (percent,)) from None
    if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 < percent <= 100:
        raise RoutingError("mirror.percent is %r; it must be more than 0 and at most 100 (the share of "
                           "requests copied to %s)." % (percent, mirror["subset"]))
    return {"subset": mirror["subset"], "percent": float(percent)}


# -- hosts --------------------------------------------------------------------------------------

def service_of(host, namespace):
    """(service name, namespace) a host refers to, or None for a host that is not a cluster Service.

    ``reviews``, ``reviews.bookinfo``, ``reviews.bookinfo.svc`` and
    ``reviews.bookinfo.svc.<cluster domain>`` are the same Service."""
    parts = host.split(".")
    if len(parts) == 1:
        return parts[0], namespace
    if len(parts) == 2:
        return parts[0], parts[1]
    if parts[2] == "svc":
        return parts[0], parts[1]
    return None


def same_host(a, b, namespace):
    """True when two host names point at the same service from ``namespace``."""
    if a == b:
        return True
    sa, sb = service_of(a, namespace), service_of(b, namespace)
    return sa is not None and sa == sb


# -- reading routes -----------------------------------------------------------------------------

def _http(vs):
    return ((vs or {}).get("spec") or {}).get("http") or []


def _all_to_host(route, host, namespace):
    dests = route.get("route") or []
    return bool(dests) and all(same_host((d.get("destination") or {}).get("host", ""), host, namespace)
                               for d in dests)


def is_default_route(route, host, namespace):
    return not route.get("match") and _all_to_host(route, host, namespace)


def is_match_route(route, host, namespace):
    """A header/cookie match route to this host that holds nothing this module does not write."""
    if not route.get("match") or set(route) - _MANAGED_ROUTE_FIELDS:
        return False
    if not all(isinstance(m, dict) and set(m) == set(("headers",)) for m in route["match"]):
        return False
    return _all_to_host(route, host, namespace)


def default_route_index(vs, host, namespace):
    for index, route in enumerate(_http(vs)):
        if is_default_route(route, host, namespace):
            return index
    return None


def split_of_route(route):
    """{subset: weight} of one route. A lone destination takes 100; missing weights count as 0."""
    dests = route.get("route") or []
    if len(dests) == 1:
        return {(dests[0].get("destination") or {}).get("subset") or "": 100}
    split = {}
    for d in dests:
        subset = (d.get("destination") or {}).get("subset") or ""
        split[subset] = split.get(subset, 0) + int(d.get("weight") or 0)
    return split


def current_split(vs, host, namespace):
    """The default route's split for ``host``, or None when the VirtualService has no such route."""
    index = default_route_index(vs, host, namespace)
    if index is None:
        return None
    return split_of_route(_http(vs)[index])


def match_routes(vs, host, namespace):
    """The managed match routes as [{subset, match, name}] (single-destination ones only)."""
    out = []
    for route in _http(vs):
        if is_match_route(route, host, namespace):
            split = split_of_route(route)
            out.append(dict(subsets=split, match=route["match"], name=route.get("name")))
    return out


def mirror_of(vs, host, namespace):
    index = default_route_index(vs, host, namespace)
    if index is None:
        return None
    route = _http(vs)[index]
    if not route.get("mirror"):
        return None
    percent = (route.get("mirrorPercentage") or {}).get("value", 100)
    return {"subset": route["mirror"].get("subset"), "percent": float(percent)}


def subsets_used(virtual_services, host, namespace):
    """Every subset of ``host`` that any route (or mirror) of these VirtualServices sends to."""
    used = set()
    for vs in virtual_services:
        vs_namespace = (vs.get("metadata") or {}).get("namespace") or namespace
        for route in _http(vs):
            for d in route.get("route") or []:
                dest = d.get("destination") or {}
                if dest.get("subset") and same_host(dest.get("host", ""), host, vs_namespace):
                    # A zero weight still names the subset; Envoy needs the cluster to exist.
                    used.add(dest["subset"])
            for mirror in [route.get("mirror")] + [m.get("destination") for m in route.get("mirrors") or []]:
                if mirror and mirror.get("subset") and same_host(mirror.get("host", ""), host, vs_namespace):
                    used.add(mirror["subset"])
    return used


# -- building routes ----------------------------------------------------------------------------

def _port_of(route):
    for d in (route or {}).get("route") or []:
        port = (d.get("destination") or {}).get("port")
        if port:
            return copy.deepcopy(port)
    return None


def destinations(host, weights, port=None):
    """Istio route destinations for a split: zero weights are dropped, a single one carries no weight.

    That is how people write these by hand (and how Istio's samples do), so a 100/0 split reads
    exactly like virtual-service-all-v1.yaml."""
    out = []
    live = [(subset, weight) for subset, weight in weights.items() if weight > 0]
    for subset, weight in live:
        dest = {"host": host, "subset": subset}
        if port:
            dest["port"] = copy.deepcopy(port)
        entry = {"destination": dest}
        if len(live) > 1:
            entry["weight"] = weight
        out.append(entry)
    return out


def _apply_settings(route, host, mirror, timeout, retries):
    if mirror is not KEEP:
        if mirror:
            route["mirror"] = {"host": host, "subset": mirror["subset"]}
            route["mirrorPercentage"] = {"value": float(mirror["percent"])}
        else:
            route.pop("mirror", None)
            route.pop("mirrorPercentage", None)
    if timeout is not KEEP:
        if timeout:
            route["timeout"] = timeout
        else:
            route.pop("timeout", None)
    if retries is not KEEP:
        if retries:
            route["retries"] = copy.deepcopy(retries)
        else:
            route.pop("retries", None)
    return route


def build_http(live_vs, host, namespace, weights, matches=KEEP, mirror=KEEP, timeout=KEEP, retries=KEEP):
    """The new ``spec.http`` list for ``host``.

    ``weights``: validated {subset: weight} of the default route. ``matches``: list of
    (subset, HTTPMatchRequest, name) replacing the host's managed match routes, or KEEP.
    ``mirror`` ({subset, percent} or None), ``timeout``, ``retries``: set on every route of the
    host this builds, None removes, KEEP leaves what is there. Other routes keep their place."""
    old = copy.deepcopy(_http(live_vs))
    default_index = default_route_index(live_vs, host, namespace)
    port = _port_of(old[default_index]) if default_index is not None else None
    return _merge(old, default_index, weights, matches, mirror, _Dialect(
        match_key="match", backends_key="route",
        backends=lambda split: destinations(host, split, port),
        match=lambda match, index: copy.deepcopy(match),
        settle=lambda route, route_mirror: _apply_settings(route, host, route_mirror, timeout, retries),
        is_match=lambda route: is_match_route(route, host, namespace),
        catch_all=lambda route: (not route.get("match") and route.get("route")
                                 and [(d.get("destination") or {}).get("host", "?") for d in route["route"]]),
        conflict=lambda targets: (
            "The VirtualService already has a default route (no match) to %s, so a route for %s "
            "added after it would never be used. Route %s from its own VirtualService, or remove "
            "that route first." % (targets, host, host))))


def set_weights(live_vs, host, namespace, weights):
    """``spec.http`` with only the default route's weights changed (what a release step does)."""
    if default_route_index(live_vs, host, namespace) is None:
        raise RoutingError("The VirtualService has no default route (an http route without match) to %s; "
                           "declare the routing with meshops.istio.istio_traffic first." % host)
    return build_http(live_vs, host, namespace, weights)


def remove_host_routes(live_vs, host, namespace):
    """``spec.http`` without the routes this module manages for ``host``."""
    return [copy.deepcopy(r) for r in _http(live_vs)
            if not is_default_route(r, host, namespace) and not is_match_route(r, host, namespace)]


def virtual_service(name, namespace, host, http, live_vs=None, api_version=DEFAULT_API_VERSION, annotations=None):
    """The VirtualService fields this collection applies (server-side apply merges the rest)."""
    live_spec = (live_vs or {}).get("spec") or {}
    hosts = list(live_spec.get("hosts") or [host])
    if live_vs and not any(same_host(h, host, namespace) for h in hosts):
        raise RoutingError("VirtualService %s/%s serves hosts %s, not %s: pick the VirtualService of %s with "
                           "virtual_service=<name>, or add %s to its hosts." % (namespace, name, ", ".join(hosts),
                                                                                host, host, host))
    obj = {"apiVersion": api_version, "kind": VS_KIND,
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"hosts": hosts, "http": http}}
    if annotations:
        obj["metadata"]["annotations"] = dict(annotations)
    return obj


# -- one merge for both kinds --------------------------------------------------------------------

# What differs between a VirtualService's spec.http routes and an HTTPRoute's spec.rules in the merge:
# the keys holding an entry's matches and backends, how a split, a declared match and the settings
# (mirror, timeout, retries) are written, which entries are the target's managed match ones, and,
# for an entry that takes every request, where it sends them (a falsy value when it does not).
_Dialect = collections.namedtuple("_Dialect", "match_key backends_key backends match settle is_match catch_all conflict")


def _merge(old, default_index, weights, matches, mirror, dialect):
    """The new entry list (routes or rules): the default entry with ``weights`` and the declared match
    entries just before it, in the place of the old default; other entries keep theirs."""
    if default_index is None:
        for entry in old:
            targets = dialect.catch_all(entry)
            if targets:
                raise RoutingError(dialect.conflict(", ".join(sorted(set(targets)))))
    default = copy.deepcopy(old[default_index]) if default_index is not None else {}
    default[dialect.backends_key] = dialect.backends(weights)
    default = dialect.settle(default, mirror)
    # Mirroring applies to the default entry only: header routes are usually testers already
    # looking at the new version, and copying their requests would double-count them.
    match_mirror = KEEP if mirror is KEEP else None
    declared = []
    if matches is not KEEP:
        for index, (subset, match, name) in enumerate(matches):
            entry = {"name": name} if name else {}
            entry[dialect.match_key] = [dialect.match(match, index)]
            entry[dialect.backends_key] = dialect.backends({subset: 100})
            declared.append(dialect.settle(entry, match_mirror))
    merged = []
    for index, entry in enumerate(old):
        if index == default_index:
            merged.extend(declared)
            merged.append(default)
        elif dialect.is_match(entry):
            if matches is KEEP:
                merged.append(dialect.settle(entry, match_mirror))
        else:
            merged.append(entry)
    if default_index is None:
        merged.extend(declared)
        merged.append(default)
    return merged


# -- destination rules --------------------------------------------------------------------------

def dr_subsets(dr):
    return dict((s.get("name"), s) for s in ((dr or {}).get("spec") or {}).get("subsets") or [])


def grown_subsets(live_dr, subset_labels):
    """The DR's subsets with ``subset_labels`` added or relabelled; other subsets untouched, in order."""
    subsets = [copy.deepcopy(s) for s in ((live_dr or {}).get("spec") or {}).get("subsets") or []]
    index = dict((s.get("name"), i) for i, s in enumerate(subsets))
    for name, labels in (subset_labels or {}).items():
        validate_subset_name(name)
        if not isinstance(labels, dict) or not labels:
            raise RoutingError("subset_labels.%s must be a non-empty mapping of pod labels, for example "
                               "{version: %s}." % (name, name))
        labels = dict((str(k), str(v)) for k, v in labels.items())
        if name in index:
            subsets[index[name]]["labels"] = labels
        else:
            index[name] = len(subsets)
            subsets.append({"name": name, "labels": labels})
    return subsets


def check_subsets_defined(needed, subsets, dr_name, namespace):
    """RoutingError for the first subset a route would use that the DestinationRule cannot provide."""
    defined = [s.get("name") for s in subsets]
    missing = [s for s in needed if s not in defined]
    if missing:
        raise RoutingError(
            "Subset %s is not defined in DestinationRule %s/%s (it defines: %s) and no labels were given "
            "for it: add subset_labels: {%s: {version: %s}} (the labels of its pods), or fix the subset name."
            % (", ".join(missing), namespace, dr_name, ", ".join(defined) or "nothing",
               missing[0], missing[0]))


def destination_rule(name, namespace, host, subsets, live_dr=None, api_version=DEFAULT_API_VERSION):
    """The DestinationRule fields this collection applies: host and subsets (trafficPolicy is left alone)."""
    live_host = ((live_dr or {}).get("spec") or {}).get("host")
    if live_dr and live_host and not same_host(live_host, host, namespace):
        raise RoutingError("DestinationRule %s/%s is for host %s, not %s: name the right one with "
                           "destination_rule=<name>." % (namespace, name, live_host, host))
    return {"apiVersion": api_version, "kind": DR_KIND,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"host": live_host or host, "subsets": subsets}}


def safe_order(dr_grown, vs_new, dr_final=None):
    """Objects to apply, in the order that never routes to a missing subset.

    Subsets are added to the DestinationRule before the VirtualService points at them, and pruned
    only after the VirtualService stopped using them; otherwise Envoy answers 503 (no healthy
    upstream / cluster not found) for requests routed in between."""
    steps = []
    if dr_grown is not None:
        steps.append(dr_grown)
    if vs_new is not None:
        steps.append(vs_new)
    if dr_final is not None and dr_final != dr_grown:
        steps.append(dr_final)
    return steps


def prune_subsets(subsets, keep):
    return [copy.deepcopy(s) for s in subsets if s.get("name") in keep]


# -- Gateway API: HTTPRoute ---------------------------------------------------------------------
# The same routing of one Service written as Istio documents it with the Kubernetes Gateway API:
# an HTTPRoute whose backendRefs carry the weights and point at one Service per version
# (<service>-<subset>, as Istio's bookinfo-versions.yaml names them), attached to the Service
# itself (mesh traffic) or to Gateways. A subset of the Istio form is a per-version Service here.

ROUTING_APIS = ("istio", "gateway-api")
HTTPROUTE_KIND = "HTTPRoute"
GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
GATEWAY_API_INSTALL = ("kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/"
                       "v1.6.1/standard-install.yaml")
# Gateway API durations (GEP-2257) are stricter than Istio's: no fractions, no units below ms.
_GATEWAY_DURATION_RE = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
# What the API server writes for a match or a rule that has none: every path.
_ALL_PATHS = {"path": {"type": "PathPrefix", "value": "/"}}
_MANAGED_RULE_FIELDS = frozenset(("name", "matches", "backendRefs", "filters", "timeouts"))


def backend_name(service, subset):
    """The per-version Service of ``subset`` (reviews, v2 -> reviews-v2)."""
    return "%s-%s" % (service, subset)


def service_parent_ref(service, port):
    """The parentRef that attaches a route to a Service: mesh (east-west) traffic to it."""
    return {"group": "", "kind": "Service", "name": service, "port": port}


def validate_parent_refs(parent_refs):
    """User parentRefs as given (name required, port a whole number)."""
    if not isinstance(parent_refs, list) or not parent_refs:
        raise RoutingError("parent_refs must be a list of parentRefs, for example [{name: bookinfo-gateway}] for a "
                           "Gateway or [{group: '', kind: Service, name: reviews, port: 9080}] for mesh traffic.")
    for index, ref in enumerate(parent_refs):
        if not isinstance(ref, dict) or not ref.get("name"):
            raise RoutingError("parent_refs[%d] needs a name (the Gateway or Service the route attaches to); got %r."
                               % (index, ref))
        unknown = set(ref) - set(("group", "kind", "name", "namespace", "sectionName", "port"))
        if unknown:
            raise RoutingError("parent_refs[%d] has unknown keys %s; a parentRef has group, kind, name, namespace, "
                               "sectionName and port." % (index, ", ".join(sorted(unknown))))
        if "port" in ref:
            ref["port"] = _as_int(ref["port"], "parent_refs[%d].port" % index)
    return [dict(ref) for ref in parent_refs]


def validate_gateway_duration(value, what):
    if value is None:
        return None
    if not isinstance(value, str) or not _GATEWAY_DURATION_RE.match(value):
        raise RoutingError("%s is %r, which the Gateway API does not accept: write whole numbers with h, m, s or ms, "
                           "for example 10s, 1m30s or 250ms." % (what, value))
    return value


def httproute_match(match, index=0):
    """An Istio HTTPMatchRequest of normalize_match ({headers: {name: {exact|regex: v}}}) in HTTPRoute form."""
    headers = []
    for name, cond in match["headers"].items():
        kind, value = list(cond.items())[0]
        if kind == "prefix":
            raise RoutingError("match[%d]: header %s uses prefix, which HTTPRoute header matches do not have (only "
                               "exact and regex): write {regex: '^%s.*'} instead." % (index, name, re.escape(value)))
        entry = {"name": name, "value": value}
        if kind == "regex":
            entry["type"] = "RegularExpression"
        headers.append(entry)
    return {"headers": headers}


def _backend_refs(service, weights, port):
    """backendRefs for a split, written as Istio's samples write them: zero weights dropped, a lone
    backend without weight (route-reviews-v1.yaml), otherwise every backend with its weight."""
    live = [(subset, weight) for subset, weight in weights.items() if weight > 0]
    out = []
    for subset, weight in live:
        ref = {"name": backend_name(service, subset), "port": port}
        if len(live) > 1:
            ref["weight"] = weight
        out.append(ref)
    return out


def _real_matches(rule):
    return [m for m in rule.get("matches") or [] if m and m != _ALL_PATHS]


def _is_service_backend(ref):
    return ref.get("group", "") == "" and ref.get("kind", "Service") == "Service" and not ref.get("namespace")


def _subset_of(service, ref):
    """The subset a backendRef stands for, or None for a Service that is not one of ``service``'s versions."""
    prefix = service + "-"
    name = ref.get("name") or ""
    if _is_service_backend(ref) and name.startswith(prefix) and len(name) > len(prefix):
        return name[len(prefix):]
    return None


def _all_to_versions(rule, service):
    refs = rule.get("backendRefs") or []
    return bool(refs) and all(_subset_of(service, r) and not r.get("filters") for r in refs)


def _only_mirror_filters(rule):
    return all(f.get("type") == "RequestMirror" for f in rule.get("filters") or [])


def is_default_rule(rule, service):
    return (not _real_matches(rule) and not set(rule) - _MANAGED_RULE_FIELDS and _only_mirror_filters(rule)
            and _all_to_versions(rule, service))


def is_match_rule(rule, service):
    """A header match rule to one of the versions that holds nothing this collection does not write."""
    matches = _real_matches(rule)
    if not matches or len(matches) != len(rule.get("matches")) or set(rule) - _MANAGED_RULE_FIELDS:
        return False
    if rule.get("filters") or not _all_to_versions(rule, service):
        return False
    # A header match carries at most the path the API server defaults it to.
    return all(set(m) <= set(("headers", "path")) and m.get("headers") and m.get("path", _ALL_PATHS["path"])
               == _ALL_PATHS["path"] for m in matches)


def _rules(route):
    return ((route or {}).get("spec") or {}).get("rules") or []


def default_rule_index(route, service):
    for index, rule in enumerate(_rules(route)):
        if is_default_rule(rule, service):
            return index
    return None


def split_of_rule(rule, service):
    """{subset: weight} of one rule. A lone backend takes 100; a missing weight is the API's default, 1."""
    refs = rule.get("backendRefs") or []
    if len(refs) == 1:
        return {_subset_of(service, refs[0]): 100}
    split = {}
    for ref in refs:
        subset = _subset_of(service, ref)
        split[subset] = split.get(subset, 0) + int(ref.get("weight", 1))
    return split


def route_split(route, service):
    """The default rule's split, or None when the HTTPRoute has no such rule."""
    index = default_rule_index(route, service)
    return None if index is None else split_of_rule(_rules(route)[index], service)


def route_match_rules(route, service):
    """The managed match rules as [{subsets, match, name}], match in HTTPRoute form."""
    return [dict(subsets=split_of_rule(rule, service), match=rule["matches"], name=rule.get("name"))
            for rule in _rules(route) if is_match_rule(rule, service)]


def route_mirror(route, service):
    index = default_rule_index(route, service)
    if index is None:
        return None
    for f in _rules(route)[index].get("filters") or []:
        mirror = f.get("requestMirror") or {}
        subset = _subset_of(service, mirror.get("backendRef") or {})
        if subset:
            if "fraction" in mirror:
                fraction = mirror["fraction"]
                percent = 100.0 * fraction["numerator"] / fraction.get("denominator", 100)
            else:
                percent = mirror.get("percent", 100)
            return {"subset": subset, "percent": float(percent)}
    return None


def route_backends(route, service):
    """Every subset whose per-version Service a rule (or mirror) of ``route`` sends to."""
    used = set()
    for rule in _rules(route):
        for ref in rule.get("backendRefs") or []:
            if _subset_of(service, ref):
                used.add(_subset_of(service, ref))
        for f in rule.get("filters") or []:
            subset = _subset_of(service, (f.get("requestMirror") or {}).get("backendRef") or {})
            if subset:
                used.add(subset)
    return used


def _mirror_filter(service, mirror, port):
    spec = {"backendRef": {"name": backend_name(service, mirror["subset"]), "port": port}}
    percent = float(mirror["percent"])
    if percent.is_integer():
        spec["percent"] = int(percent)
    else:
        # percent is whole numbers only; a fraction keeps two decimals.
        spec["fraction"] = {"numerator": int(round(percent * 100)), "denominator": 10000}
    return {"type": "RequestMirror", "requestMirror": spec}


def _settle_rule(rule, service, port, mirror, timeout):
    if mirror is not KEEP:
        rule.pop("filters", None)
        if mirror:
            rule["filters"] = [_mirror_filter(service, mirror, port)]
    if timeout is not KEEP:
        timeouts = dict(rule.get("timeouts") or {})
        timeouts.pop("request", None)
        if timeout:
            timeouts["request"] = timeout
        if timeouts:
            rule["timeouts"] = timeouts
        else:
            rule.pop("timeouts", None)
    return rule


def build_rules(live_route, service, port, weights, matches=KEEP, mirror=KEEP, timeout=KEEP):
    """The new ``spec.rules`` for ``service``, as build_http does for a VirtualService.

    ``matches``: list of (subset, Istio HTTPMatchRequest, name), or KEEP. Rules that are not the
    service's default or header match rules keep their place; a rule that matches every request
    before the default one would make it unreachable and is refused."""
    return _merge(copy.deepcopy(_rules(live_route)), default_rule_index(live_route, service), weights, matches,
                  mirror, _Dialect(
                      match_key="matches", backends_key="backendRefs",
                      backends=lambda split: _backend_refs(service, split, port),
                      match=httproute_match,
                      settle=lambda rule, rule_mirror: _settle_rule(rule, service, port, rule_mirror, timeout),
                      is_match=lambda rule: is_match_rule(rule, service),
                      catch_all=lambda rule: (not _real_matches(rule) and rule.get("backendRefs")
                                              and [r.get("name", "?") for r in rule["backendRefs"]]),
                      conflict=lambda targets: (
                          "The HTTPRoute already has a rule for every request to %s, so the split of %s would never "
                          "be used. Route %s from its own HTTPRoute, or remove that rule first."
                          % (targets, service, service))))


def set_route_weights(live_route, service, port, weights):
    """``spec.rules`` with only the default rule's weights changed (what a release step does)."""
    if default_rule_index(live_route, service) is None:
        raise RoutingError("The HTTPRoute has no rule without matches to the versions of %s; declare the routing "
                           "with meshops.istio.istio_traffic (routing_api=gateway-api) first." % service)
    return build_rules(live_route, service, port, weights)


def remove_service_rules(live_route, service):
    return [copy.deepcopy(r) for r in _rules(live_route)
            if not is_default_rule(r, service) and not is_match_rule(r, service)]


def http_route(name, namespace, parent_refs, rules, annotations=None):
    """The HTTPRoute fields this collection applies (server-side apply keeps the rest, hostnames included)."""
    obj = {"apiVersion": GATEWAY_API_VERSION, "kind": HTTPROUTE_KIND,
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"parentRefs": copy.deepcopy(parent_refs), "rules": rules}}
    if annotations:
        obj["metadata"]["annotations"] = dict(annotations)
    return obj


def version_service(service, subset, base, labels):
    """The per-version Service of ``subset``: the ports of ``service`` and its selector plus ``labels``
    (bookinfo-versions.yaml's reviews-v2 is reviews' port with app: reviews, version: v2)."""
    spec = (base or {}).get("spec") or {}
    ports = []
    for p in spec.get("ports") or []:
        # What the API server defaults (protocol TCP, targetPort = port) is left for it to add again.
        port = dict((k, p[k]) for k in ("name", "port", "appProtocol") if k in p)
        if p.get("protocol", "TCP") != "TCP":
            port["protocol"] = p["protocol"]
        if p.get("targetPort", p.get("port")) != p.get("port"):
            port["targetPort"] = p["targetPort"]
        ports.append(port)
    selector = dict(spec.get("selector") or {})
    selector.update(dict((str(k), str(v)) for k, v in labels.items()))
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": backend_name(service, subset), "namespace": base["metadata"]["namespace"]},
            "spec": {"ports": ports, "selector": selector}}
