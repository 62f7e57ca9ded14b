"""How a sidecar would route one request, from VirtualServices and DestinationRules as stored.

Only what the collection configures is modelled: header matches (exact/prefix/regex), weighted
destinations, mirrors with a percentage, timeouts and retries. A request whose route points at a
subset the DestinationRule does not define fails with 503, as Envoy answers when the cluster of
that subset does not exist.
"""
import random
import re


def _service_key(host, namespace):
    """(name, namespace) for cluster-local host names, else the host itself."""
    parts = host.split(".")
    if len(parts) == 1:
        return parts[0], namespace
    if len(parts) == 2 or parts[2] == "svc":
        return parts[0], parts[1]
    return host, None


def same_host(a, b, namespace):
    return a == b or _service_key(a, namespace) == _service_key(b, namespace)


def header_matches(spec, headers):
    """One HTTPMatchRequest against request headers; conditions other than headers never match."""
    if set(spec) - {"headers", "name"}:
        return False
    for name, cond in (spec.get("headers") or {}).items():
        value = headers.get(name)
        if value is None:
            return False
        if "exact" in cond and value != cond["exact"]:
            return False
        if "prefix" in cond and not value.startswith(cond["prefix"]):
            return False
        if "regex" in cond and not re.fullmatch(cond["regex"], value):
            return False
    return True


def route_for(virtual_services, host, namespace, headers):
    """The first http route of the host's VirtualServices that takes this request, or None."""
    for vs in virtual_services:
        vs_ns = vs["metadata"].get("namespace", namespace)
        hosts = (vs.get("spec") or {}).get("hosts") or []
        if not any(same_host(h, host, vs_ns) for h in hosts):
            continue
        for route in (vs.get("spec") or {}).get("http") or []:
            matches = route.get("match")
            if not matches or any(header_matches(m, headers) for m in matches):
                return route
    return None


def pick_destination(route, rng=random):
    """One destination of a route by weight (a lone destination takes everything)."""
    dests = route.get("route") or []
    if not dests:
        return None
    if len(dests) == 1:
        return dests[0].get("destination") or {}
    total = sum(int(d.get("weight") or 0) for d in dests)
    if total <= 0:
        return None
    point = rng.uniform(0, total)
    upto = 0
    for d in dests:
        upto += int(d.get("weight") or 0)
        if point < upto:
            return d.get("destination") or {}
    return dests[-1].get("destination") or {}


def subset_labels(destination_rules, host, namespace, subset):
    """The pod labels of ``subset`` of ``host``, or None when no DestinationRule defines it."""
    for dr in destination_rules:
        dr_ns = dr["metadata"].get("namespace", namespace)
        if not same_host((dr.get("spec") or {}).get("host", ""), host, dr_ns):
            continue
        for s in (dr.get("spec") or {}).get("subsets") or []:
            if s.get("name") == subset:
                return s.get("labels") or {}
    return None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def duration_ms(text):
    if not text:
        return None
    total = 0.0
    for value, unit in _DURATION.findall(text):
        total += float(value) * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000}[unit]
    return total


# -- Gateway API ----------------------------------------------------------------------------------
# Mesh HTTPRoutes (parentRefs to a Service) are turned into the VirtualService/DestinationRule form
# above, so one router serves both: a backendRef to a per-version Service becomes a subset named
# after that Service, with its selector as the subset's labels. What a caller of the Service is
# counted as in the metrics stays the Service it called (destination_service is the host the
# request was sent to), with the version of the pod that answered.

_ALL_PATHS = {"type": "PathPrefix", "value": "/"}


def _istio_match(match):
    """An HTTPRoute match in VirtualService form; None when it matches every request. Conditions
    meshsim does not model (paths other than "/", methods, query parameters) never match."""
    other = set(match) - {"headers", "path"}
    if other or match.get("path", _ALL_PATHS) != _ALL_PATHS:
        return {"unsupported": sorted(other) or ["path"]}
    if not match.get("headers"):
        return None
    headers = {}
    for h in match["headers"]:
        kind = "regex" if h.get("type") == "RegularExpression" else "exact"
        headers[h["name"].lower()] = {kind: h["value"]}
    return {"headers": headers}


def _mirror_percent(mirror):
    if "fraction" in mirror:
        return 100.0 * mirror["fraction"]["numerator"] / mirror["fraction"].get("denominator", 100)
    return float(mirror.get("percent", 100))


def from_http_routes(routes, services, namespace):
    """(virtual services, destination rules) that route as the mesh HTTPRoutes of ``namespace`` do."""
    selectors = dict((s["metadata"]["name"], (s.get("spec") or {}).get("selector") or {}) for s in services)
    vss, drs = [], []
    for route in routes:
        spec = route.get("spec") or {}
        for parent in spec.get("parentRefs") or []:
            if parent.get("kind") != "Service" or parent.get("group", "") != "":
                continue  # attached to a Gateway: ingress traffic, not simulated here
            host = parent["name"]
            subsets = {}

            def destination(name, host=host, subsets=subsets):
                if name == host:
                    return {"host": host}
                if name in selectors:
                    subsets[name] = selectors[name]
                return {"host": host, "subset": name}

            http = []
            for rule in spec.get("rules") or []:
                refs = rule.get("backendRefs") or []
                out = {"route": [{"destination": destination(r["name"]), "weight": int(r.get("weight", 1))}
                                 for r in refs]}
                matches = [_istio_match(m) for m in rule.get("matches") or []]
                if matches and None not in matches:
                    out["match"] = matches
                for f in rule.get("filters") or []:
                    if f.get("type") == "RequestMirror":
                        mirror = f["requestMirror"]
                        out["mirror"] = destination(mirror["backendRef"]["name"])
                        out["mirrorPercentage"] = {"value": _mirror_percent(mirror)}
                if (rule.get("timeouts") or {}).get("request"):
                    out["timeout"] = rule["timeouts"]["request"]
                http.append(out)
            meta = {"name": route["metadata"]["name"], "namespace": namespace,
                    "creationTimestamp": route["metadata"].get("creationTimestamp")}
            vss.append({"metadata": dict(meta), "spec": {"hosts": [host], "http": http}})
            drs.append({"metadata": dict(meta), "spec": {"host": host, "subsets": [
                {"name": name, "labels": labels} for name, labels in subsets.items()]}})
    return vss, drs
