"""control_plane_ops: the operations of every phase x method, exactly, and their charts checked against Istio's."""
import re

import pytest
import yaml

from ansible_collections.meshops.istio.plugins.module_utils import control_plane as cp
from ansible_collections.meshops.istio.plugins.module_utils.control_plane_ops import control_plane_ops, revisions_to_remove
from tests.integration.istio_support import REAL_CHARTS, reference
from tests.conftest import needs_reference

NS = "istio-system"
SETTINGS = dict(namespace=NS, revision="", profile="default", platform="kubernetes", hub="", tag="",
                mesh_config={}, pilot_env={}, mesh_id="", cluster_name="", network="", base_release="istio-base",
                values=dict(base={}, istiod={"pilot": {"traceSampling": 1.0}}, cni={}, ztunnel={}))
NOTHING = dict(revisions=[], webhooks=dict(mutating=[], validating=[]), default_revision=None, revision_tags={},
               action="install")


def settings(**kw):
    return dict(SETTINGS, **kw)


def found(*revisions, default=None, tags=None, webhooks=(), action="unchanged"):
    return dict(revisions=[dict(revision=r) for r in revisions], default_revision=default, revision_tags=tags or {},
                webhooks=dict(mutating=[dict(revision=r) for r in webhooks], validating=[]), action=action)


def base(default_revision="", state="present", platform="kubernetes"):
    values = {"global": {"istioNamespace": NS}}
    if default_revision:
        values["defaultRevision"] = default_revision
    if platform != "kubernetes":
        values["global"]["platform"] = platform
    return dict(chart="base", release="istio-base", namespace=NS, values=values, state=state, skip_crds=True)


def istiod(revision="", state="present", platform="kubernetes", profile=None):
    values = {"global": {"istioNamespace": NS}, "pilot": {"traceSampling": 1.0}}
    if revision and revision != "default":
        values["revision"] = revision
    if profile:
        values["profile"] = profile
    if platform != "kubernetes":
        values["global"]["platform"] = platform
    return dict(chart="istiod", release=cp.istiod_name(revision), namespace=NS, values=values, state=state)


def node(chart, release, namespace=NS, state="present", values=None):
    return dict(chart=chart, release=release, namespace=namespace, values=values, state=state)


AMBIENT_CNI = {"profile": "ambient"}
AMBIENT_ZTUNNEL = {"profile": "ambient", "istioNamespace": NS}
OPENSHIFT_CNI = {"global": {"platform": "openshift"}}


# -- install (and in-place upgrade, canary) ----------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["helm", "template"])
def test_install_renders_base_then_istiod(method):
    assert control_plane_ops("install", method, NOTHING, settings()) == [base(), istiod()]


@pytest.mark.parametrize("method", ["helm", "template"])
def test_in_place_upgrade_is_the_same_install(method):
    # The action does not change what helm and template do: the charts converge to the wanted values.
    ops = control_plane_ops("install", method, found("default", default="default", action="upgrade"), settings())
    assert ops == [base(), istiod()]


@pytest.mark.parametrize("method", ["helm", "template"])
def test_canary_keeps_the_default_validator_with_the_running_revision(method):
    ops = control_plane_ops("install", method, found("default", default="default", action="canary"),
                            settings(revision="1-28-0"))
    assert ops == [base("default"), istiod("1-28-0")]


def test_revisioned_install_alone_makes_its_revision_the_default():
    ops = control_plane_ops("install", "helm", NOTHING, settings(revision="1-28-0"))
    assert ops == [base("1-28-0"), istiod("1-28-0")]


def test_ambient_node_agents_come_after_istiod():
    ops = control_plane_ops("install", "helm", NOTHING, settings(profile="ambient"))
    assert ops == [base(), istiod(profile="ambient"), node("cni", "istio-cni", values=AMBIENT_CNI),
                   node("ztunnel", "ztunnel", values=AMBIENT_ZTUNNEL)]


@pytest.mark.parametrize("method", ["helm", "template"])
def test_openshift_puts_istio_cni_in_kube_system_before_istiod(method):
    ops = control_plane_ops("install", method, NOTHING, settings(platform="openshift"))
    assert ops == [base(platform="openshift"), node("cni", "istio-cni", "kube-system", values=OPENSHIFT_CNI),
                   istiod(platform="openshift")]


def test_user_values_are_merged_over_ours():
    ops = control_plane_ops("install", "helm", NOTHING, settings(values=dict(base={"base": {"enableCRDTemplates": True}})))
    assert ops[0]["values"] == {"global": {"istioNamespace": NS}, "base": {"enableCRDTemplates": True}}


def test_istioctl_install_runs_only_when_the_file_or_the_version_differs():
    s = settings(operator_file="/w/istio-operator-default.yaml")
    run = [dict(argv=["install", "-f", "/w/istio-operator-default.yaml", "-y"])]
    assert control_plane_ops("install", "istioctl", found(action="install"), s) == run
    assert control_plane_ops("install", "istioctl", found("default", action="upgrade"), s) == run
    assert control_plane_ops("install", "istioctl", dict(found("default"), operator_changed=True), s) == run
    assert control_plane_ops("install", "istioctl", found("default"), s) == []


# -- prune (the canary's last phase) -------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["helm", "template"])
def test_prune_makes_this_revision_the_default_then_removes_the_others(method):
    ops = control_plane_ops("prune", method, found("default", "1-28-0", default="default"), settings(revision="1-28-0"))
    assert ops == [base("1-28-0"), istiod("default", "absent")]


def test_prune_counts_revisions_left_only_by_webhooks():
    info = found("1-28-0", webhooks=["1-27-0", "1-28-0"])
    assert revisions_to_remove("prune", info, "1-28-0") == ["1-27-0"]
    assert control_plane_ops("prune", "helm", info, settings(revision="1-28-0"))[1:] == [istiod("1-27-0", "absent")]


@pytest.mark.parametrize("method", ["helm", "template", "istioctl"])
def test_prune_with_nothing_else_installed_does_nothing(method):
    assert control_plane_ops("prune", method, found("1-28-0"), settings(revision="1-28-0")) == []


def test_istioctl_prune_moves_the_default_tag_unless_it_points_here():
    s = settings(revision="1-28-0")
    uninstall = [dict(argv=["uninstall", "--revision", "default", "-y"]),
                 dict(argv=["uninstall", "--revision", "1-27-0", "-y"])]
    ops = control_plane_ops("prune", "istioctl", found("default", "1-27-0", "1-28-0", tags={"default": "default"}), s)
    assert ops == [dict(argv=["tag", "set", "default", "--revision", "1-28-0", "--overwrite", "-y"])] + uninstall
    ops = control_plane_ops("prune", "istioctl", found("default", "1-27-0", "1-28-0", tags={"default": "1-28-0"}), s)
    assert ops == uninstall


# -- uninstall ----------------------------------------------------------------------------------------------------------------

def test_helm_uninstall_of_everything_removes_every_release_istio_base_last():
    ops = control_plane_ops("uninstall", "helm", found("default", "1-28-0", webhooks=["1-27-0"]), settings())
    assert [(o["namespace"], o["release"], o["state"]) for o in ops] == [
        (NS, "istiod", "absent"), (NS, "istiod-1-28-0", "absent"), (NS, "istiod-1-27-0", "absent"),
        (NS, "istio-cni", "absent"), (NS, "ztunnel", "absent"), (NS, "istio-base", "absent")]


def test_helm_uninstall_looks_for_node_agents_where_openshift_puts_them():
    ops = control_plane_ops("uninstall", "helm", found("default"), settings(platform="openshift"))
    assert [(o["namespace"], o["release"]) for o in ops] == [
        (NS, "istiod"), ("kube-system", "istio-cni"), ("kube-system", "ztunnel"), (NS, "istio-base")]


def test_template_uninstall_renders_what_to_delete_with_the_install_values():
    ops = control_plane_ops("uninstall", "template", found("default", "1-28-0"), settings())
    # istio/base without a default revision: the chart's own, as at install time without a revision.
    assert ops == [istiod("default", "absent"), istiod("1-28-0", "absent"), base(state="absent")]
    ops = control_plane_ops("uninstall", "template", found("default"), settings(platform="openshift"))
    assert ops == [istiod("default", "absent", platform="openshift"), base(state="absent", platform="openshift"),
                   node("cni", "istio-cni", "kube-system", "absent", OPENSHIFT_CNI)]


@pytest.mark.parametrize("method", ["helm", "template"])
def test_uninstall_of_a_revision_removes_its_istiod_alone(method):
    ops = control_plane_ops("uninstall", method, found("default", "1-28-0"), settings(revision="1-28-0"))
    assert ops == [istiod("1-28-0", "absent")]


def test_istioctl_uninstall():
    assert control_plane_ops("uninstall", "istioctl", found("default"), settings()) == [
        dict(argv=["uninstall", "--purge", "-y"])]
    assert control_plane_ops("uninstall", "istioctl", found(), settings()) == []
    assert control_plane_ops("uninstall", "istioctl", found("default", "1-28-0"), settings(revision="1-28-0")) == [
        dict(argv=["uninstall", "--revision", "1-28-0", "-y"])]


@pytest.mark.parametrize("method", ["helm", "template"])
def test_uninstall_with_nothing_installed_still_removes_base(method):
    # A half-finished earlier uninstall may have left istio/base (and, with helm, node agent releases).
    ops = control_plane_ops("uninstall", method, found(), settings())
    assert base(state="absent") in ops and not [o for o in ops if o["chart"] == "istiod"]


# -- gateways -------------------------------------------------------------------------------------------------------------------

GATEWAYS = [dict(name="istio-ingressgateway", namespace=NS, replicas=1),
            dict(name="istio-eastwestgateway", namespace="istio-gw", service_type="NodePort", state="absent")]


@pytest.mark.parametrize("method", ["helm", "template"])
def test_gateways_install_keeps_the_present_and_removes_the_absent(method):
    plan = cp.gateway_plan(GATEWAYS, "1-28-0")
    ops = control_plane_ops("gateways_install", method, {}, dict(gateways=plan))
    assert ops == [
        dict(chart="gateway", release="istio-ingressgateway", namespace=NS, values=plan["present"][0]["chart_values"],
             state="present"),
        dict(chart="gateway", release="istio-eastwestgateway", namespace="istio-gw",
             values=plan["absent"][0]["chart_values"], state="absent")]
    assert ops[0]["values"]["revision"] == "1-28-0"


def test_gateways_remove_removes_them_all():
    ops = control_plane_ops("gateways_remove", "helm", {}, dict(gateways=cp.gateway_plan(GATEWAYS)))
    assert [(o["release"], o["state"]) for o in ops] == [("istio-ingressgateway", "absent"),
                                                          ("istio-eastwestgateway", "absent")]


# -- bad input ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("phase, method, message", [
    ("install", "kubectl", "Method 'kubectl' is not one of helm, template, istioctl"),
    ("migrate", "helm", "Phase 'migrate' is not one of install, prune, uninstall"),
    ("gateways_install", "istioctl", "Gateways are installed with helm or template"),
])
def test_bad_phase_or_method_says_what_is_allowed(phase, method, message):
    with pytest.raises(cp.ControlPlaneError, match=re.escape(message)):
        control_plane_ops(phase, method, NOTHING, settings(gateways={}))


# -- the charts and releases are Istio's ------------------------------------------------------------------------------------

@needs_reference("Istio's charts and their install commands")
def test_charts_and_release_names_are_istios():
    """Every chart an operation names is one of Istio's charts (its Chart.yaml says so) and the default release names
    are those of Istio's own install commands (helm install <release> istio/<chart>)."""
    charts = reference("istio", "manifests", "charts")
    docs = "\n".join(p.read_text() for p in charts.rglob("*.md"))
    installs = set(re.findall(r"helm install (\S+) istio/(\S+)", docs))
    plan = cp.gateway_plan([dict(name="istio-ingressgateway", namespace=NS)])
    ops = (control_plane_ops("install", "helm", NOTHING, settings(profile="ambient"))
           + control_plane_ops("uninstall", "helm", found("default"), settings())
           + control_plane_ops("gateways_install", "helm", {}, dict(gateways=plan)))
    for op in ops:
        chart_yaml = yaml.safe_load((charts / REAL_CHARTS[op["chart"]] / "Chart.yaml").read_text())
        assert chart_yaml["name"] == op["chart"], op
        assert (op["release"], op["chart"]) in installs, (op, sorted(installs))
    assert {op["chart"] for op in ops} == set(REAL_CHARTS)
