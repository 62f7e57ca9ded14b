import pytest

from ansible_collections.meshops.istio.plugins.module_utils import control_plane as cp


def _deployment(name, rev, version, ready=1, available=True):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "istio-system",
                         "labels": {"app": "istiod", "istio.io/rev": rev, "app.kubernetes.io/version": version}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "discovery", "image": "docker.io/istio/pilot:%s" % version}]}}},
            "status": {"readyReplicas": ready,
                       "conditions": [{"type": "Available", "status": "True" if available else "False"}]}}


def _injector(name, rev, default=False, tag=None):
    webhooks = [{"name": "rev.namespace.sidecar-injector.istio.io",
                 "namespaceSelector": {"matchExpressions": [
                     {"key": "istio.io/rev", "operator": "In", "values": [tag or rev]}]}}]
    if default:
        webhooks.append({"name": "namespace.sidecar-injector.istio.io",
                         "namespaceSelector": {"matchExpressions": [
                             {"key": "istio-injection", "operator": "In", "values": ["enabled"]}]}})
    labels = {"app": "sidecar-injector", "istio.io/rev": rev}
    if tag:
        labels["istio.io/tag"] = tag
    return {"metadata": {"name": name, "labels": labels}, "webhooks": webhooks}


def _ns(name, **labels):
    return {"metadata": {"name": name, "labels": labels}}


def _info(*deployments, mutating=(), namespaces=(), k8s="v1.32.4"):
    return cp.summarize(list(deployments), list(mutating), [], [], list(namespaces), k8s)


# -- versions and the support table ------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("1.24.0", (1, 24, 0)), ("v1.30.2-eks-1a2b3c", (1, 30, 2)), ("1.25", (1, 25, 0)), ("nonsense", None)])
def test_parse_version(text, expected):
    assert cp.parse_version(text) == expected


def test_support_table_ranges_are_ordered_and_move_forward():
    minors = sorted(cp.SUPPORTED_KUBERNETES, key=cp.parse_version)
    previous = None
    for minor in minors:
        low, high = (cp.parse_version(v) for v in cp.SUPPORTED_KUBERNETES[minor])
        assert low < high
        if previous:
            assert low >= previous[0] and high >= previous[1]
        previous = (low, high)


@pytest.mark.parametrize("istio,k8s,allow,problem", [
    ("1.25.0", "v1.32.4", False, None),
    ("1.24.3", "v1.28.0", False, None),
    ("1.23.0", "v1.32.4", False, "Istio 1.23 supports Kubernetes 1.27 to 1.30, but this cluster runs Kubernetes 1.32"),
    ("1.23.0", "v1.32.4", True, None),
    ("1.28.0", "v1.29.9", False, "Istio 1.28 supports Kubernetes 1.30 to 1.34, but this cluster runs Kubernetes 1.29."),
    ("1.28.0", "v1.29.9", True, "Istio 1.28 supports Kubernetes 1.30 to 1.34, but this cluster runs Kubernetes 1.29."),
    ("1.99.0", "v1.10.0", False, None),
])
def test_kubernetes_version_problem(istio, k8s, allow, problem):
    found = cp.kubernetes_version_problem(istio, k8s, allow)
    if problem is None:
        assert found is None
    else:
        assert found.startswith(problem)


def test_networking_api_version_follows_istio_1_22():
    assert cp.networking_api_version("1.21.5") == "networking.istio.io/v1beta1"
    assert cp.networking_api_version("1.22.0") == "networking.istio.io/v1"


@pytest.mark.parametrize("revision,message", [
    ("default", "leave the revision empty"),
    ("1.24.0", "not a valid revision name"),
    ("Canary", "not a valid revision name"),
])
def test_bad_revisions_are_refused(revision, message):
    with pytest.raises(cp.ControlPlaneError, match=message):
        cp.validate_revision(revision)


def test_istiod_name():
    assert cp.istiod_name("") == "istiod"
    assert cp.istiod_name("default") == "istiod"
    assert cp.istiod_name("1-25-0") == "istiod-1-25-0"


# -- chart sources and values -------------------------------------------------------------------------------
def test_chart_source_repository_and_oci():
    assert cp.chart_source("https://istio-release.storage.googleapis.com/charts/", "istiod", "1.25.0") == dict(
        chart_ref="istiod", chart_repo_url="https://istio-release.storage.googleapis.com/charts",
        chart_version="1.25.0", local=False)
    assert cp.chart_source("oci://registry.example/istio", "base", "1.25.0")["chart_ref"] == "oci://registry.example/istio/base"


def test_chart_source_prefers_the_tarball_of_the_version(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "Chart.yaml").write_text("name: base\n")
    assert cp.chart_source(str(tmp_path), "base", "1.25.0")["chart_ref"] == str(tmp_path / "base")
    (tmp_path / "base-1.25.0.tgz").write_bytes(b"")
    found = cp.chart_source(str(tmp_path), "base", "1.25.0")
    assert found == dict(chart_ref=str(tmp_path / "base-1.25.0.tgz"), chart_repo_url=None, chart_version=None, local=True)


def test_chart_source_finds_the_charts_of_an_istio_release_layout(tmp_path):
    for path in ("base", "istio-control/istio-discovery", "gateway", "istio-cni", "ztunnel"):
        (tmp_path / path).mkdir(parents=True)
        (tmp_path / path / "Chart.yaml").write_text("name: x\n")
    found = dict((chart, cp.chart_source(str(tmp_path), chart, "1.28.0")["chart_ref"])
                 for chart in ("base", "istiod", "gateway", "cni", "ztunnel"))
    assert found == {"base": str(tmp_path / "base"), "istiod": str(tmp_path / "istio-control/istio-discovery"),
                     "gateway": str(tmp_path / "gateway"), "cni": str(tmp_path / "istio-cni"),
                     "ztunnel": str(tmp_path / "ztunnel")}


def test_chart_source_says_what_is_missing(tmp_path):
    with pytest.raises(cp.ControlPlaneError, match=r"holds neither istiod-1.25.0.tgz nor istiod/Chart.yaml \(nor "
                                                   r"istio-control/istio-discovery/Chart.yaml, as in an Istio release\)"):
        cp.chart_source(str(tmp_path), "istiod", "1.25.0")
    with pytest.raises(cp.ControlPlaneError, match="neither a Helm repository URL"):
        cp.chart_source(str(tmp_path / "nope"), "istiod", "1.25.0")


def test_istiod_values_carry_only_what_was_set_and_extra_wins():
    settings = dict(namespace="istio-system", revision="1-25-0", profile="demo", hub="mirror.local/istio", tag="",
                    mesh_config={"accessLogFile": "/dev/stdout"}, pilot_env={"PILOT_TRACE_SAMPLING": 10},
                    mesh_id="mesh1", cluster_name="primary", network="net1")
    values = cp.chart_values("istiod", settings, {"global": {"hub": "other/istio"}, "pilot": {"replicaCount": 2}})
    assert values == {
        "revision": "1-25-0", "profile": "demo",
        "global": {"istioNamespace": "istio-system", "hub": "other/istio", "meshID": "mesh1",
                   "multiCluster": {"clusterName": "primary"}, "network": "net1"},
        "meshConfig": {"accessLogFile": "/dev/stdout"},
        "pilot": {"env": {"PILOT_TRACE_SAMPLING": "10"}, "replicaCount": 2},
    }
    assert cp.chart_values("istiod", {}) == {"global": {"istioNamespace": "istio-system"}}
    assert cp.chart_values("base", {"default_revision": "1-25-0"}) == {
        "global": {"istioNamespace": "istio-system"}, "defaultRevision": "1-25-0"}


def test_gateway_values_node_ports_and_replicas():
    values = cp.chart_values("gateway", dict(service_type="NodePort", replicas=2, labels={"team": "edge"},
                                             ports=[{"name": "http2", "port": 80, "target_port": 8080, "node_port": 30080}]))
    assert values == {"service": {"type": "NodePort", "ports": [
        {"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080}]},
        "replicaCount": 2, "autoscaling": {"enabled": False}, "labels": {"team": "edge"}}


@pytest.mark.parametrize("settings,message", [
    (dict(service_type="ClusterIP", ports=[{"name": "http2", "port": 80, "node_port": 30080}]), "ClusterIP, which has no node"),
    (dict(service_type="NodePort", ports=[{"name": "http2", "port": 80, "node_port": 8080}]), "outside Kubernetes' default"),
    (dict(service_type="Ingress"), "not one of LoadBalancer, NodePort, ClusterIP"),
    (dict(ports=[{"name": "a", "port": 1}, {"name": "a", "port": 2}]), "used twice"),
])
def test_gateway_values_refuse_bad_input(settings, message):
    with pytest.raises(cp.ControlPlaneError, match=message):
        cp.gateway_values(settings)


def test_gateway_plan_defaults_namespaces_and_selector():
    plan = cp.gateway_plan([
        {"name": "istio-ingressgateway", "namespace": "istio-ingress"},
        {"name": "istio-egressgateway", "namespace": "istio-egress", "service_type": "ClusterIP",
         "values": {"service": {"annotations": {"a": "b"}}}},
        {"name": "old", "namespace": "istio-ingress", "state": "absent"},
    ], revision="1-25-0", common_values={"podAnnotations": {"x": "y"}})
    assert [g["name"] for g in plan["present"]] == ["istio-ingressgateway", "istio-egressgateway"]
    assert [g["name"] for g in plan["absent"]] == ["old"]
    assert [n["metadata"]["name"] for n in plan["namespaces"]] == ["istio-ingress", "istio-egress"]
    ingress, egress = plan["present"]
    assert ingress["selector"] == {"istio": "ingressgateway"}
    assert ingress["chart_values"]["revision"] == "1-25-0"
    assert [p["targetPort"] for p in ingress["chart_values"]["service"]["ports"]] == [15021, 8080, 8443]
    assert egress["chart_values"]["service"] == {"type": "ClusterIP", "ports": egress["chart_values"]["service"]["ports"],
                                                 "annotations": {"a": "b"}}
    assert egress["chart_values"]["podAnnotations"] == {"x": "y"}


def test_istio_operator_file():
    operator = cp.istio_operator(dict(namespace="istio-system", revision="1-25-0", profile="minimal", hub="mirror/istio",
                                      tag="1.25.0", mesh_id="m", network="n", pilot_env={"A": 1}),
                                 {"components": {"pilot": {"k8s": {"replicaCount": 2}}}})
    assert operator["metadata"] == {"name": "meshops-1-25-0", "namespace": "istio-system"}
    spec = operator["spec"]
    assert (spec["profile"], spec["revision"], spec["hub"], spec["tag"]) == ("minimal", "1-25-0", "mirror/istio", "1.25.0")
    assert spec["values"] == {"global": {"meshID": "m", "network": "n"}, "pilot": {"env": {"A": "1"}}}
    assert spec["components"]["ingressGateways"] == [{"name": "istio-ingressgateway", "enabled": False}]
    assert spec["components"]["pilot"] == {"k8s": {"replicaCount": 2}}


# -- summarising what is installed ---------------------------------------------------------------------------
def test_summarize_revisions_default_injector_and_namespaces():
    canary_deployment = _deployment("istiod-1-26-0", "1-26-0", "1.26.0", ready=0, available=False)
    info = _info(_deployment("istiod", "default", "1.25.0"), canary_deployment,
                 mutating=[_injector("istio-sidecar-injector", "default", default=True),
                           _injector("istio-sidecar-injector-1-26-0", "1-26-0"),
                           _injector("istio-revision-tag-prod", "1-26-0", tag="prod"),
                           {"metadata": {"name": "unrelated"}, "webhooks": [{"name": "cert-manager.io"}]}],
                 namespaces=[_ns("a", **{"istio-injection": "enabled"}), _ns("b", **{"istio.io/rev": "prod"}),
                             _ns("c", **{"istio-injection": "disabled"}), _ns("d")])
    assert info["installed"] and info["version"] == "1.25.0" and info["default_revision"] == "default"
    assert [r["revision"] for r in info["revisions"]] == ["default", "1-26-0"]
    canary = info["revisions"][1]
    assert (canary["available"], canary["ready_replicas"], canary["default"]) == (False, 0, False)
    assert canary["webhooks"] == ["istio-sidecar-injector-1-26-0", "istio-revision-tag-prod"]
    assert info["revision_tags"] == {"prod": "1-26-0"}
    assert [m["name"] for m in info["webhooks"]["mutating"]] == [
        "istio-sidecar-injector", "istio-sidecar-injector-1-26-0", "istio-revision-tag-prod"]
    assert info["namespaces"] == [
        {"name": "a", "injection": "enabled", "revision": "default"},
        {"name": "b", "injection": "revision", "revision": "1-26-0", "label": "prod"},
        {"name": "c", "injection": "disabled", "revision": None}]
    assert info["kubernetes_version"] == "1.32.4"


def test_summarize_counts_proxies_per_revision_from_the_injector_annotation():
    pods = [{"metadata": {"name": "p1", "namespace": "a", "annotations": {"istio.io/rev": "1-25-0"}},
             "spec": {"containers": [{"name": "app"}, {"name": "istio-proxy"}]}},
            {"metadata": {"name": "p2", "namespace": "a",
                          "annotations": {"sidecar.istio.io/status": '{"revision":"default"}'}},
             "spec": {"containers": [{"name": "istio-proxy"}]}},
            {"metadata": {"name": "p3", "namespace": "a"}, "spec": {"containers": [{"name": "app"}]}}]
    info = cp.summarize([], [], [], [], [], "v1.32.0", pods)
    assert info["proxies"] == {"1-25-0": ["a/p1"], "default": ["a/p2"]}
    assert not info["installed"] and info["version"] is None


# -- the precheck plan ------------------------------------------------------------------------------------------
def test_plan_fresh_install_and_unchanged():
    assert cp.plan(_info(), "1.25.0") == dict(action="install", from_version=None, problems=[])
    assert cp.plan(_info(_deployment("istiod", "default", "1.25.0")), "1.25.0")["action"] == "unchanged"


def test_plan_in_place_upgrade_one_minor_and_refusal_of_two():
    info = _info(_deployment("istiod", "default", "1.25.0"))
    assert cp.plan(info, "1.26.1") == dict(action="upgrade", from_version="1.25.0", problems=[])
    assert cp.plan(info, "1.24.0")["action"] == "downgrade"
    refused = cp.plan(info, "1.27.0")
    assert refused["problems"] == [
        "Istio 1.25.0 is installed (revision default) and 1.27.0 is 2 minor versions away; an in-place upgrade may only "
        "move one minor version at a time. Upgrade to 1.26.x first, or use playbooks/canary_upgrade.yml with a new "
        "revision."]


def test_plan_canary():
    info = _info(_deployment("istiod", "default", "1.25.0"))
    assert cp.plan(info, "1.26.0", "1-26-0", "canary") == dict(action="canary", from_version=None, problems=[])
    assert cp.plan(info, "1.27.0", "1-27-0", "canary")["problems"] == []
    far = cp.plan(info, "1.28.0", "1-28-0", "canary")["problems"]
    assert far and "3 minor versions from 1.28.0; a canary upgrade may span at most 2" in far[0]
    missing = cp.plan(info, "1.26.0", "", "canary")["problems"]
    assert missing == ["A canary (revision-based) upgrade needs a revision name for the new control plane, for "
                       "example revision=1-26-0."]


def test_plan_conflicting_revisions():
    info = _info(_deployment("istiod-stable", "stable", "1.25.0"),
                 mutating=[_injector("istio-revision-tag-prod", "stable", tag="prod")])
    conflict = cp.plan(info, "1.26.0", "stable", "canary")["problems"]
    assert conflict == ["Revision stable already runs Istio 1.25.0. A canary upgrade installs the new version under a "
                        "new revision name beside the running one: choose a revision that does not exist yet (for "
                        "example 1-26-0)."]
    tag = cp.plan(info, "1.26.0", "prod", "canary")["problems"]
    assert tag and tag[0].startswith("'prod' is already a revision tag (pointing at revision stable)")
    assert cp.plan(info, "1.26.0", "default")["problems"][0].startswith("revision 'default' is the name Istio gives")


def test_plan_collects_every_problem_at_once():
    info = _info(_deployment("istiod", "default", "1.20.0"), k8s="v1.32.0")
    problems = cp.plan(info, "1.23.0")["problems"]
    assert len(problems) == 2
    assert problems[0].startswith("Istio 1.23 supports Kubernetes 1.27 to 1.30")
    assert problems[1].startswith("Istio 1.20.0 is installed (revision default) and 1.23.0 is 3 minor versions away")


def test_plan_refuses_a_version_that_is_not_a_release_number():
    assert cp.plan(_info(), "latest")["problems"] == [
        "Istio version 'latest' is not a release number: give it as MAJOR.MINOR.PATCH, for example 1.24.0."]


def test_permission_problem_lists_what_is_missing():
    assert cp.permission_problem([]) is None
    message = cp.permission_problem([("create", "apiextensions.k8s.io", "customresourcedefinitions", None),
                                     ("create", "apps", "deployments", "istio-system")])
    assert message.startswith("The credentials in use may not create customresourcedefinitions.apiextensions.k8s.io, "
                              "create deployments.apps in istio-system.")


class _FakeResource:
    def __init__(self, denied):
        self.denied = denied
        self.reviews = []

    def create(self, body):
        self.reviews.append(body)
        attrs = body["spec"]["resourceAttributes"]

        class Answer:
            def __init__(self, allowed):
                self.allowed = allowed

            def to_dict(self):
                return {"status": {"allowed": self.allowed}}
        return Answer(attrs["resource"] not in self.denied)


class _FakeCluster:
    def __init__(self, denied):
        self.fake = _FakeResource(denied)

    def resource(self, api_version, kind):
        assert (api_version, kind) == ("authorization.k8s.io/v1", "SelfSubjectAccessReview")
        return self.fake

    def _call(self, verb, kind, name, namespace, fn):
        return fn()


def test_denied_permissions_asks_one_access_review_per_permission():
    cluster = _FakeCluster({"mutatingwebhookconfigurations", "deployments"})
    denied = cp.Inspector(cluster).denied_permissions("istio-system")
    assert denied == [("create", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", None),
                      ("create", "apps", "deployments", "istio-system")]
    assert len(cluster.fake.reviews) == len(cp.REQUIRED_PERMISSIONS)


def _crd(name, group, established=True):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "istio"}},
            "spec": {"group": group},
            "status": {"conditions": [{"type": "Established", "status": "True" if established else "False"}]}}


def test_istio_crds_are_found_by_api_group_not_by_label():
    assert [cp.is_istio_group(g) for g in ("istio.io", "networking.istio.io", "install.istio.io", "notistio.io",
                                           "gateway.networking.k8s.io", "istio.io.example.com", "")] == [
        True, True, True, False, False, False, False]
    crds = [_crd("virtualservices.networking.istio.io", "networking.istio.io"),
            _crd("istiooperators.install.istio.io", "install.istio.io"),
            _crd("httproutes.gateway.networking.k8s.io", "gateway.networking.k8s.io")]
    assert [r["metadata"]["name"] for r in cp.istio_crd_refs(crds)] == [
        "virtualservices.networking.istio.io", "istiooperators.install.istio.io"]
    assert cp.istio_crd_refs(crds)[0] == {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                                          "metadata": {"name": "virtualservices.networking.istio.io"}}
    # The API's list items carry no kind; summarize counts by group all the same.
    listed = [dict((k, v) for k, v in c.items() if k != "kind") for c in crds]
    listed[1]["status"]["conditions"][0]["status"] = "False"
    assert cp.summarize(crds=listed)["crds"] == dict(
        count=2, established=1, names=["istiooperators.install.istio.io", "virtualservices.networking.istio.io"])


RENDERED_TEMPLATES = """---
# Source: base/templates/reader-serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: istio-reader-service-account
---
# Source: base/templates/crds.yaml
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: wasmplugins.extensions.istio.io
spec:
  group: extensions.istio.io
---
# Source: base/templates/crds.yaml
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gateways.gateway.networking.k8s.io
spec:
  group: gateway.networking.k8s.io
"""

# helm names a crds/ file once, before its first document.
RENDERED_CRDS_FOLDER = """---
# Source: base/crds/crd-all.gen.yaml
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: wasmplugins.extensions.istio.io
spec:
  group: extensions.istio.io
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: destinationrules.networking.istio.io
spec:
  group: networking.istio.io
---
# Source: base/templates/default-validator.yaml
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: istiod-default-validator
"""


def test_rendered_crds_tell_templates_from_the_crds_folder():
    templated = cp.rendered_crds(RENDERED_TEMPLATES)
    assert templated["names"] == ["wasmplugins.extensions.istio.io"] and templated["static"] == []
    static = cp.rendered_crds(RENDERED_CRDS_FOLDER)
    assert static["names"] == ["destinationrules.networking.istio.io", "wasmplugins.extensions.istio.io"]
    assert [c["metadata"]["name"] for c in static["static"]] == [
        "wasmplugins.extensions.istio.io", "destinationrules.networking.istio.io"]
    assert cp.rendered_crds("") == dict(crds=[], static=[], names=[])


def test_crd_wait_status_names_what_is_missing_and_not_established():
    crds = [_crd("a.networking.istio.io", "networking.istio.io"),
            _crd("b.networking.istio.io", "networking.istio.io", established=False)]
    expected = ["a.networking.istio.io", "b.networking.istio.io", "c.security.istio.io"]
    assert cp.crd_wait_status(expected, crds) == dict(
        expected=3, established=1, missing=["c.security.istio.io"], pending=["b.networking.istio.io"])
    assert cp.crd_wait_status([], crds) == dict(expected=0, established=0, missing=[], pending=[])


def test_ambient_chart_values():
    settings = dict(namespace="mesh-system", revision="1-28-0", hub="mirror/istio", tag="1.28.0")
    assert cp.chart_values("cni", settings) == {
        "profile": "ambient", "revision": "1-28-0", "global": {"hub": "mirror/istio", "tag": "1.28.0"}}
    assert cp.chart_values("ztunnel", settings, {"logLevel": "debug"}) == {
        "profile": "ambient", "revision": "1-28-0", "istioNamespace": "mesh-system", "hub": "mirror/istio",
        "tag": "1.28.0", "logLevel": "debug"}
    with pytest.raises(cp.ControlPlaneError, match="expected base, istiod, gateway, cni or ztunnel"):
        cp.chart_values("egress", settings)


def test_chart_source_refuses_a_directory_holding_other_versions(tmp_path):
    """upgrade.yml -e control_plane_version=1.28.1 against charts of 1.28.0 only: refused, naming both."""
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "Chart.yaml").write_text("name: base\nversion: 1.28.0\n")
    assert cp.chart_source(str(tmp_path), "base", "1.28.0")["chart_ref"] == str(tmp_path / "base")
    with pytest.raises(cp.ControlPlaneError) as err:
        cp.chart_source(str(tmp_path), "base", "1.28.1")
    assert str(err.value).startswith("Istio 1.28.1 was asked for, but the chart directory %s holds the base chart "
                                     "only at 1.28.0 (base/Chart.yaml)." % tmp_path)
    # Packaged charts of other versions are named too; the unpacked istiod of an Istio release as well.
    (tmp_path / "istiod-1.27.0.tgz").write_bytes(b"")
    (tmp_path / "istiod-1.28.0.tgz").write_bytes(b"")
    (tmp_path / "istio-control" / "istio-discovery").mkdir(parents=True)
    (tmp_path / "istio-control" / "istio-discovery" / "Chart.yaml").write_text("version: 1.0.0\n")
    with pytest.raises(cp.ControlPlaneError, match=r"holds the istiod chart only at 1\.0\.0 \(istio-control/istio-"
                                                   r"discovery/Chart\.yaml\), 1\.27\.0 \(istiod-1\.27\.0\.tgz\), "
                                                   r"1\.28\.0 \(istiod-1\.28\.0\.tgz\)\. Put the 1\.28\.1 charts"):
        cp.chart_source(str(tmp_path), "istiod", "1.28.1")
    assert cp.chart_source(str(tmp_path), "istiod", "1.28.0")["chart_ref"] == str(tmp_path / "istiod-1.28.0.tgz")
