"""The project's test charts against Istio's real ones, so that they cannot drift apart again.

The test charts stand in for Istio's where a test needs what the real charts cannot give (two versions with
different CRDs). They must have the real charts' names, the templates that matter, the CRDs where the real base
chart has them (templates/crds.yaml over files/crd-all.gen.yaml, no crds/ folder) with its labels, the values
keys the roles set, and render the objects the roles and tests look for under the same names."""
import subprocess

import pytest
import yaml

from sim.charts.build import CHARTS, HERE, TEMPLATE_SUFFIX, build_chart_set
from tests.conftest import COLLECTIONS  # noqa: F401 (puts the collection on sys.path)
from tests.integration import istio_support as s

from ansible_collections.meshops.istio.plugins.module_utils import control_plane as cp  # isort: skip

VERSION = "1.0.0"  # what the real charts' Chart.yaml says, so labels compare as they are
# Templates whose objects the roles create, read, wait for or delete by name.
TEMPLATES = {
    "base": {"crds.yaml", "defaultrevision-validatingwebhookconfiguration.yaml", "reader-serviceaccount.yaml"},
    "istiod": {"deployment.yaml", "service.yaml", "serviceaccount.yaml", "configmap.yaml", "clusterrole.yaml",
               "mutatingwebhook.yaml", "validatingwebhookconfiguration.yaml"},
    "gateway": {"deployment.yaml", "service.yaml", "serviceaccount.yaml", "role.yaml", "hpa.yaml"},
}
# Maps the roles fill with the user's own keys (meshConfig, istiod's environment, gateway pod labels).
FREE_FORM = (("meshConfig",), ("pilot", "env"), ("env",), ("labels",))
# Everything the roles can set, so that every values key they use is compared.
SETTINGS = dict(namespace="istio-system", revision="1-28-0", default_revision="1-28-0", profile="demo",
                hub="mirror.example/istio", tag="1.28.0", mesh_config={"accessLogFile": "/dev/stdout"},
                pilot_env={"PILOT_ENABLE_ALPHA_GATEWAY_API": "true"}, mesh_id="mesh1", cluster_name="cluster1",
                network="net1", service_type="NodePort", replicas=2, labels={"team": "edge"},
                load_balancer_ip="10.0.0.1",
                ports=[{"name": "http2", "port": 80, "target_port": 8080, "node_port": 30080}])


@pytest.fixture(scope="module")
def charts(tmp_path_factory):
    real = s.real_chart_dir()
    test = build_chart_set(tmp_path_factory.mktemp("test-charts") / "set", VERSION,
                           s.reference("istio", "crd-all.gen.yaml"))
    return {chart: (real / s.REAL_CHARTS[chart], test / chart) for chart in CHARTS}


def render(chart_dir, release, values, tmp_path, include_crds=False):
    values_file = tmp_path / ("%s-values.yaml" % release)
    values_file.write_text(yaml.safe_dump(values))
    cmd = [s.HELM, "template", release, str(chart_dir), "-n", "istio-system", "-f", str(values_file)]
    out = subprocess.run(cmd + (["--include-crds"] if include_crds else []), capture_output=True, text=True, check=True)
    return out.stdout


def objects(text):
    return [o for o in yaml.safe_load_all(text) if o]


def key_paths(values, prefix=()):
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from key_paths(value, prefix + (key,))
        else:
            yield prefix + (key,)


def has_path(chart_dir, values, path):
    # Istio's charts keep their defaults under _internal_defaults_do_not_set (users set the keys directly).
    values = values.get("_internal_defaults_do_not_set", values)
    if path == ("profile",):
        # Istio's charts read the profile in zzz_profile.yaml without declaring it in values.yaml.
        profile_template = chart_dir / "templates" / "zzz_profile.yaml"
        if profile_template.exists() and "$.Values).profile" in profile_template.read_text():
            return True
    legacy = chart_dir / "templates" / "zzy_descope_legacy.yaml"
    if path[0] == "pilot" and legacy.exists() and '"pilot"' in legacy.read_text():
        path = path[1:]  # the real istiod chart still takes pilot.* and moves it to the top level
    for free_form in FREE_FORM:
        if path[:len(free_form)] == free_form:
            path = free_form  # the user's keys go into a map the chart passes on as it is
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return False
        values = values[key]
    return True


@pytest.mark.parametrize("chart", CHARTS)
def test_same_chart_name_and_the_templates_that_matter(charts, chart):
    real, test = charts[chart]
    assert yaml.safe_load((test / "Chart.yaml").read_text())["name"] == yaml.safe_load((real / "Chart.yaml").read_text())["name"]
    real_templates = {p.name for p in (real / "templates").iterdir()}
    test_templates = {p.name for p in (test / "templates").iterdir()}
    assert TEMPLATES[chart] <= real_templates, "the real %s chart no longer has %s" % (chart, TEMPLATES[chart] - real_templates)
    assert TEMPLATES[chart] <= test_templates
    # No template of the test chart under a name the real chart does not use.
    assert test_templates - {"_helpers.tpl"} <= real_templates, test_templates - real_templates
    sources = {p.name for p in (HERE / chart / "templates").iterdir()}
    assert all(name.endswith((TEMPLATE_SUFFIX, ".tpl")) for name in sources)


@pytest.mark.parametrize("chart", CHARTS)
def test_the_values_keys_the_roles_set_exist_in_both_charts(charts, chart):
    real, test = charts[chart]
    real_values = yaml.safe_load((real / "values.yaml").read_text())
    test_values = yaml.safe_load((test / "values.yaml").read_text())
    paths = sorted(set(key_paths(cp.chart_values(chart, SETTINGS))))
    assert paths
    missing = [".".join(p) for p in paths if not has_path(real, real_values, p)]
    assert missing == [], "the role sets %s, which the real %s chart does not have" % (missing, chart)
    missing = [".".join(p) for p in paths if not has_path(test, test_values, p)]
    assert missing == [], "the role sets %s, which the test %s chart does not have" % (missing, chart)


def test_crds_come_from_templates_with_the_real_labels(charts, tmp_path):
    real, test = charts["base"]
    for chart in (real, test):
        assert not (chart / "crds").exists()
        assert (chart / "files" / "crd-all.gen.yaml").is_file()
    found = {}
    for name, chart in (("real", real), ("test", test)):
        rendered = render(chart, "istio-base", cp.chart_values("base", SETTINGS), tmp_path, include_crds=True)
        found[name] = cp.rendered_crds(rendered)
        assert found[name]["static"] == [] and len(found[name]["crds"]) >= 15
        assert "# Source: base/templates/crds.yaml" in rendered
    assert found["test"]["names"] == found["real"]["names"]
    labels = {name: [c["metadata"].get("labels") for c in result["crds"]] for name, result in found.items()}
    assert labels["test"] == labels["real"]
    assert labels["real"][0]["app.kubernetes.io/part-of"] == "istio" and "app" not in labels["real"][0]


@pytest.mark.parametrize("chart,release,settings", [
    ("base", "istio-base", dict(SETTINGS, default_revision="default")),
    ("base", "istio-base", SETTINGS),
    ("istiod", "istiod", dict(SETTINGS, revision="", profile="")),
    ("istiod", "istiod-1-28-0", SETTINGS),
    ("gateway", "istio-ingressgateway", SETTINGS),
])
def test_the_objects_the_roles_use_have_the_same_names_and_labels(charts, tmp_path, chart, release, settings):
    real, test = charts[chart]
    values = cp.chart_values(chart, settings)
    rendered = {name: dict(((o["kind"], o["metadata"]["name"]), o) for o in objects(render(path, release, values, tmp_path))
                           if o["kind"] != "CustomResourceDefinition")
                for name, path in (("real", real), ("test", test))}
    assert set(rendered["test"]) <= set(rendered["real"]), set(rendered["test"]) - set(rendered["real"])
    for key, obj in rendered["test"].items():
        real_labels = rendered["real"][key]["metadata"].get("labels") or {}
        for label in ("app", "istio", "istio.io/rev", "app.kubernetes.io/version"):
            assert (obj["metadata"].get("labels") or {}).get(label) == real_labels.get(label), (key, label)
    kinds = {kind for kind, _name in rendered["test"]}
    assert {"base": {"ValidatingWebhookConfiguration", "ServiceAccount"},
            "istiod": {"Deployment", "Service", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"},
            "gateway": {"Deployment", "Service"}}[chart] <= kinds
