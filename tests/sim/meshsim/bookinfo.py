"""Bookinfo's Services and DestinationRules seeded straight into a kubesim (for routing tests)."""
from pathlib import Path

import yaml

REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "istio" / "samples" / "bookinfo"


def reference_objects(relative, kinds=None, namespace="bookinfo"):
    docs = [d for d in yaml.safe_load_all((REFERENCE / relative).read_text()) if d]
    out = []
    for doc in docs:
        if kinds and doc["kind"] not in kinds:
            continue
        doc["metadata"]["namespace"] = namespace
        out.append(doc)
    return out


def seed(sim, namespace="bookinfo", destination_rules=True, virtual_services=None):
    """Namespace, the Bookinfo Services, optionally destination-rule-all and some VirtualServices."""
    objects = []
    if sim.get_object("v1", "Namespace", namespace) is None:
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    objects += reference_objects("bookinfo.yaml", kinds={"Service"}, namespace=namespace)
    if destination_rules:
        objects += reference_objects("networking/destination-rule-all.yaml", namespace=namespace)
    for file_name in virtual_services or ():
        objects += reference_objects("networking/" + file_name, namespace=namespace)
    sim.create_objects(objects)
    return objects
