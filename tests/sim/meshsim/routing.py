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
