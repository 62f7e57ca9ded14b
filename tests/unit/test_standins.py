"""The project's stand-ins for Istio material (sim/standins, sim/meshsim/bookinfo.py).

Without ../shared/reference: the stand-ins are current, typed, and usable by the addons logic.
With it (always in CI): they agree with Istio's own CRDs, addon manifests and Bookinfo samples.
"""
import pytest
import yaml

from ansible_collections.meshops.istio.plugins.module_utils import addons
from tests.conftest import REFERENCE, needs_reference
from sim.kubesim import schema
from sim.meshsim import bookinfo
from sim.standins import ADDONS, CRDS, crds

ISTIO = REFERENCE / "istio"
BOOKINFO_FILES = ["bookinfo.yaml", "networking/destination-rule-all.yaml", "networking/destination-rule-reviews.yaml",
                  *("networking/" + name for name in bookinfo.VIRTUAL_SERVICES)]


def docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def by_kind(definitions):
    return {d["spec"]["names"]["kind"]: d for d in definitions}


def schemas(definitions):
    """{(apiVersion, kind): openAPIV3Schema}"""
    return {(f"{d['spec']['group']}/{v['name']}", d["spec"]["names"]["kind"]): v["schema"]["openAPIV3Schema"]
            for d in definitions for v in d["spec"]["versions"]}


STANDIN_CRDS = docs(CRDS)
STANDIN_SCHEMAS = schemas(STANDIN_CRDS)


def test_committed_crds_are_what_the_generator_writes():
    assert CRDS.read_text() == crds.render(), "run: python -m sim.standins.crds"


def test_standin_crds_cover_the_kinds_the_collection_writes():
    kinds = by_kind(STANDIN_CRDS)
    # Every kind Istio's CRDs define (the count tests of the control plane hold with either file).
    assert len(kinds) == 15
    for kind in ("VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "Sidecar"):
        assert {v["name"] for v in kinds[kind]["spec"]["versions"]} == {"v1", "v1beta1", "v1alpha3"}
    for kind in ("PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication"):
        assert {v["name"] for v in kinds[kind]["spec"]["versions"]} == {"v1", "v1beta1"}
    for definition in STANDIN_CRDS:
        assert sum(v["storage"] for v in definition["spec"]["versions"]) == 1, definition["metadata"]["name"]


@pytest.mark.parametrize("relative", BOOKINFO_FILES)
def test_standin_crds_accept_bookinfo_routing_unchanged(relative):
    for obj in bookinfo.objects(relative):
        if obj["kind"] == "Service":
            continue
        for version in ("v1", "v1beta1"):
            result = schema.validate(dict(obj, apiVersion=f"networking.istio.io/{version}"),
                                     STANDIN_SCHEMAS[(f"networking.istio.io/{version}", obj["kind"])])
            assert (result.causes, result.unknown_fields) == ([], []), (relative, obj["metadata"]["name"])


def test_standin_crds_type_the_fields():
    """A wrong type is refused and an unknown field pruned, as the apiserver does with Istio's CRDs."""
    vs = bookinfo.objects("networking/virtual-service-reviews-90-10.yaml")[0]
    vs["spec"]["http"][0]["route"][0]["weight"] = "ninety"
    vs["spec"]["http"][0]["route"][0]["destination"]["subnet"] = "v1"
    result = schema.validate(vs, STANDIN_SCHEMAS[("networking.istio.io/v1", "VirtualService")])
    assert [c["field"] for c in result.causes] == ["spec.http[0].route[0].weight"]
    assert result.unknown_fields == ["spec.http[0].route[0].destination.subnet"]
    gateway = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "g"},
               "spec": {"servers": [{"port": {"number": 80, "name": "http"}, "hosts": ["*"]}]}}
    result = schema.validate(gateway, STANDIN_SCHEMAS[("networking.istio.io/v1", "Gateway")])
    assert [c["reason"] for c in result.causes] == ["FieldValueRequired"]


def test_standin_addons_are_what_the_addons_logic_needs():
    manifests = {name: docs(ADDONS / spec["file"]) for name, spec in addons.ADDONS}
    plan = addons.plan(manifests, {}, namespace="istio-system")
    applied = {(o["kind"], o["metadata"]["name"]) for o in plan["apply"]}
    for _name, spec in addons.ADDONS:
        assert ("Deployment", spec["deployment"]) in applied
        assert ("Service", spec["service"]) in applied
    kiali = next(o for o in plan["apply"] if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "kiali")
    config = yaml.safe_load(kiali["data"]["config.yaml"])
    assert config["external_services"]["prometheus"]["url"] == "http://prometheus.istio-system:9090"
    assert config["external_services"]["tracing"]["internal_url"] == "http://tracing.istio-system:80/jaeger"
    assert config["server"]["web_root"] == "/kiali"


# -- against Istio's own files ----------------------------------------------------------------------

def _walk(standin, upstream, path):
    """Every property the stand-in types exists upstream with the same type; enums are subsets."""
    problems = []
    if upstream is None:
        return [f"{path}: not in Istio's schema"]
    if standin.get("type") != upstream.get("type") and not upstream.get("x-kubernetes-int-or-string"):
        problems.append(f"{path}: type {standin.get('type')} here, {upstream.get('type')} in Istio's")
    if "enum" in standin and not set(standin["enum"]) <= set(upstream.get("enum", standin["enum"])):
        problems.append(f"{path}: enum {standin['enum']} not within {upstream.get('enum')}")
    if standin.get("x-kubernetes-preserve-unknown-fields") and not standin.get("properties"):
        return problems
    for key, sub in (standin.get("properties") or {}).items():
        problems += _walk(sub, (upstream.get("properties") or {}).get(key), f"{path}.{key}")
    if "items" in standin:
        problems += _walk(standin["items"], upstream.get("items"), f"{path}[]")
    if isinstance(standin.get("additionalProperties"), dict):
        problems += _walk(standin["additionalProperties"], upstream.get("additionalProperties"), f"{path}{{}}")
    return problems


@needs_reference("the stand-in CRDs' groups, kinds, versions, scope and typed fields against Istio's CRDs")
def test_standin_crds_agree_with_istios():
    upstream = by_kind(docs(ISTIO / "crd-all.gen.yaml"))
    problems = []
    for kind, ours in by_kind(STANDIN_CRDS).items():
        theirs = upstream.get(kind)
        assert theirs, f"{kind} is not an Istio kind"
        assert ours["metadata"]["name"] == theirs["metadata"]["name"]
        assert ours["metadata"]["labels"] == theirs["metadata"]["labels"]
        for key in ("group", "scope"):
            assert ours["spec"][key] == theirs["spec"][key], (kind, key)
        for key in ("plural", "singular", "listKind", "shortNames", "categories"):
            assert ours["spec"]["names"].get(key) == theirs["spec"]["names"].get(key), (kind, key)
        versions = {v["name"]: v for v in theirs["spec"]["versions"]}
        assert [(v["name"], v["served"], v["storage"]) for v in ours["spec"]["versions"]] == \
            [(v["name"], v["served"], v["storage"]) for v in theirs["spec"]["versions"]], kind
        for version in ours["spec"]["versions"]:
            problems += _walk(version["schema"]["openAPIV3Schema"],
                              versions[version["name"]]["schema"]["openAPIV3Schema"], f"{kind}/{version['name']}")
    assert problems == []


@needs_reference("the stand-in CRDs against every Istio object in Istio's samples")
def test_standin_crds_accept_istios_samples_unchanged():
    checked = 0
    for path in sorted((ISTIO / "samples").rglob("*.yaml")):
        for doc in docs(path):
            crd_schema = STANDIN_SCHEMAS.get((doc.get("apiVersion"), doc.get("kind")))
            if crd_schema is None:
                continue
            result = schema.validate(doc, crd_schema)
            assert (result.causes, result.unknown_fields) == ([], []), (path.name, doc["metadata"]["name"])
            checked += 1
    assert checked >= 30


def _containers(deployment):
    return sorted((c["name"], c["image"]) for c in deployment["spec"]["template"]["spec"]["containers"])


def _ports(service):
    return [(p.get("name"), p["port"], p.get("targetPort")) for p in service["spec"]["ports"]]


@needs_reference("the stand-in addon manifests' objects, images and ports against Istio's samples/addons")
@pytest.mark.parametrize("name", addons.ADDON_NAMES)
def test_standin_addons_agree_with_istios(name):
    file_name = dict(addons.ADDONS)[name]["file"]
    ours = {(o["kind"], o["metadata"]["name"]): o for o in docs(ADDONS / file_name)}
    theirs = {(o["kind"], o["metadata"]["name"]): o for o in docs(ISTIO / "samples" / "addons" / file_name)}
    assert set(ours) <= set(theirs), set(ours) - set(theirs)
    for key, obj in theirs.items():
        if obj["kind"] == "Deployment":
            assert _containers(ours[key]) == _containers(obj), key
        if obj["kind"] == "Service":
            assert _ports(ours[key]) == _ports(obj), key
        if obj["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding"):
            assert key in ours
        if obj["kind"] == "ClusterRoleBinding":
            assert ours[key]["roleRef"] == obj["roleRef"] and ours[key]["subjects"] == obj["subjects"]


@needs_reference("meshsim's Bookinfo objects against Istio's samples/bookinfo")
@pytest.mark.parametrize("relative", BOOKINFO_FILES)
def test_bookinfo_objects_agree_with_istios(relative):
    kinds = {"Service"} if relative == "bookinfo.yaml" else None
    theirs = [o for o in docs(ISTIO / "samples" / "bookinfo" / relative) if not kinds or o["kind"] in kinds]
    ours = bookinfo.objects(relative, kinds=kinds)
    assert [(o["apiVersion"], o["kind"], o["metadata"]["name"], o["metadata"].get("labels"), o["spec"]) for o in ours] \
        == [(o["apiVersion"], o["kind"], o["metadata"]["name"], o["metadata"].get("labels"), o["spec"]) for o in theirs]
