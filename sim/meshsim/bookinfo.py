"""Bookinfo's Services, DestinationRules and VirtualServices for seeding a kubesim (routing tests, the demo).

The objects are built here, not read from Istio's samples, so that tests run the same in a clone with
nothing beside it. They carry the facts of Istio's samples/bookinfo (service names and ports, subsets,
the routing of each networking/*.yaml named below); tests/unit/test_standins.py compares them with
Istio's files whenever ../shared/reference is present, so the two cannot drift apart.
"""
import copy

NETWORKING_API = "networking.istio.io/v1"
PORT = 9080
# Services in the order of bookinfo.yaml, and the subsets destination-rule-all.yaml gives each, in its order.
SERVICES = ("details", "ratings", "reviews", "productpage")
SUBSETS = {
    "productpage": ("v1",),
    "reviews": ("v1", "v2", "v3"),
    "ratings": ("v1", "v2", "v2-mysql", "v2-mysql-vm"),
    "details": ("v1", "v2"),
}
JASON = [{"headers": {"end-user": {"exact": "jason"}}}]


def _route(service, *weighted):
    """One HTTP route to ``service``: subsets as names, or (subset, weight) pairs."""
    out = []
    for item in weighted:
        subset, weight = item if isinstance(item, tuple) else (item, None)
        entry = {"destination": {"host": service, "subset": subset}}
        if weight is not None:
            entry["weight"] = weight
        out.append(entry)
    return {"route": out}


def _matched(match, route):
    return dict({"match": match}, **route)


# networking/<file> -> [(service, [http routes])], in the file's order.
VIRTUAL_SERVICES = {
    "virtual-service-all-v1.yaml": [(s, [_route(s, "v1")]) for s in ("productpage", "reviews", "ratings", "details")],
    "virtual-service-reviews-90-10.yaml": [("reviews", [_route("reviews", ("v1", 90), ("v2", 10))])],
    "virtual-service-reviews-80-20.yaml": [("reviews", [_route("reviews", ("v1", 80), ("v2", 20))])],
    "virtual-service-reviews-50-v3.yaml": [("reviews", [_route("reviews", ("v1", 50), ("v3", 50))])],
    "virtual-service-reviews-v2-v3.yaml": [("reviews", [_route("reviews", ("v2", 50), ("v3", 50))])],
    "virtual-service-reviews-v3.yaml": [("reviews", [_route("reviews", "v3")])],
    "virtual-service-reviews-test-v2.yaml": [("reviews", [_matched(JASON, _route("reviews", "v2")),
                                                          _route("reviews", "v1")])],
    "virtual-service-reviews-jason-v2-v3.yaml": [("reviews", [_matched(JASON, _route("reviews", "v2")),
                                                              _route("reviews", "v3")])],
}


def _services():
    return [{"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": name, "labels": {"app": name, "service": name}},
             "spec": {"ports": [{"port": PORT, "name": "http"}], "selector": {"app": name}}}
            for name in SERVICES]


def _destination_rule(service, traffic_policy=None):
    spec = {"host": service}
    if traffic_policy:
        spec["trafficPolicy"] = traffic_policy
    spec["subsets"] = [{"name": subset, "labels": {"version": subset}} for subset in SUBSETS[service]]
    return {"apiVersion": NETWORKING_API, "kind": "DestinationRule", "metadata": {"name": service}, "spec": spec}


def _build(relative):
    if relative == "bookinfo.yaml":
        return _services()
    name = relative.removeprefix("networking/")
    if name == "destination-rule-all.yaml":
        return [_destination_rule(s) for s in SUBSETS]
    if name == "destination-rule-reviews.yaml":
        return [_destination_rule("reviews", {"loadBalancer": {"simple": "RANDOM"}})]
    if name in VIRTUAL_SERVICES:
        return [{"apiVersion": NETWORKING_API, "kind": "VirtualService", "metadata": {"name": service},
                 "spec": {"hosts": [service], "http": http}} for service, http in VIRTUAL_SERVICES[name]]
    known = ["bookinfo.yaml", "networking/destination-rule-all.yaml", "networking/destination-rule-reviews.yaml",
             *("networking/" + n for n in VIRTUAL_SERVICES)]
    raise ValueError(f"No Bookinfo objects are built for {relative!r}; known: {', '.join(known)}")


def objects(relative, kinds=None, namespace="bookinfo"):
    """The objects of Istio's samples/bookinfo/<relative> (e.g. networking/virtual-service-all-v1.yaml)."""
    # Deep copies: callers edit what they get, and the routing tables above must stay as they are.
    return [dict(copy.deepcopy(doc), metadata=dict(doc["metadata"], namespace=namespace))
            for doc in _build(relative) if not kinds or doc["kind"] in kinds]


# The name the tests know it by: these are the reference samples' objects (checked against them).
reference_objects = objects


def seed(sim, namespace="bookinfo", destination_rules=True, virtual_services=None):
    """Namespace, the Bookinfo Services, optionally destination-rule-all and some VirtualServices."""
    items = []
    if sim.get_object("v1", "Namespace", namespace) is None:
        items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    items += objects("bookinfo.yaml", kinds={"Service"}, namespace=namespace)
    if destination_rules:
        items += objects("networking/destination-rule-all.yaml", namespace=namespace)
    for file_name in virtual_services or ():
        items += objects("networking/" + file_name, namespace=namespace)
    sim.create_objects(items)
    return items
