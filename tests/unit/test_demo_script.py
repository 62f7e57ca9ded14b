"""scripts/demo.py's preparation of Istio material: from an Istio release directory or the stand-ins,
always renamed into place whole."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scripts import demo
from tests.conftest import REFERENCE, REPO, needs_reference
from sim.standins import ADDONS, CRDS

VERSION = yaml.safe_load((REPO / "inventories" / "sim" / "group_vars" / "all.yml").read_text())["control_plane_version"]


def test_an_interrupted_build_leaves_the_previous_directory_whole(tmp_path):
    def good(dest):
        dest.mkdir()
        (dest / "complete").write_text("yes")

    def interrupted(dest):
        dest.mkdir()
        (dest / "half").write_text("")
        raise KeyboardInterrupt

    target = tmp_path / "charts"
    demo.replace_dir(target, good)
    with pytest.raises(KeyboardInterrupt):
        demo.replace_dir(target, interrupted)
    assert sorted(p.name for p in target.iterdir()) == ["complete"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["charts"]
    demo.replace_dir(target, good)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["charts"]


def test_a_directory_that_is_no_istio_release_is_refused(tmp_path):
    (tmp_path / "manifests" / "charts" / "base").mkdir(parents=True)
    (tmp_path / "manifests" / "charts" / "base" / "Chart.yaml").write_text("name: base\n")
    with pytest.raises(SystemExit, match=r"is not an unpacked Istio release: it lacks "
                                         r"manifests/charts/istio-control/istio-discovery/Chart.yaml, "
                                         r"manifests/charts/gateway/Chart.yaml, samples/addons/prometheus.yaml"):
        demo.check_istio_dir(tmp_path)


def test_without_a_release_the_stand_ins_are_used(tmp_path):
    charts = demo.build_charts(tmp_path)
    assert sorted(p.name for p in charts.iterdir()) == ["base", "gateway", "istiod"]
    for chart in ("base", "istiod", "gateway"):
        meta = yaml.safe_load((charts / chart / "Chart.yaml").read_text())
        assert (meta["version"], meta["appVersion"]) == (VERSION, VERSION)
    # The base chart keeps its CRDs where Istio's does since 1.24: files/, rendered by templates/crds.yaml.
    assert (charts / "base" / "files" / "crd-all.gen.yaml").read_text() == CRDS.read_text()
    assert not (charts / "base" / "crds").exists()
    assert demo.addons_source() == str(ADDONS)


@needs_reference("packaging Istio's real charts from a release directory laid out like ../shared/reference/istio")
def test_a_release_directory_gives_its_real_charts_packaged_at_the_inventory_version(tmp_path):
    release = demo.check_istio_dir(REFERENCE / "istio")
    charts = demo.build_charts(tmp_path, release)
    assert sorted(p.name for p in charts.iterdir()) == [f"{c}-{VERSION}.tgz" for c in ("base", "gateway", "istiod")]
    shown = subprocess.run([str(REPO / ".tools" / "bin" / "helm"), "show", "chart", str(charts / f"istiod-{VERSION}.tgz")],
                           capture_output=True, text=True, check=True).stdout
    meta = yaml.safe_load(shown)
    assert (meta["name"], meta["version"], meta["appVersion"]) == ("istiod", VERSION, VERSION)
    assert demo.addons_source(release) == str(REFERENCE.resolve() / "istio" / "samples" / "addons")


def test_mitogen_strategy_is_found_where_mitogen_is_installed(monkeypatch):
    # The project's venv pins mitogen; the support-matrix venvs (make matrix) do not have it.
    if importlib.util.find_spec("ansible_mitogen") is not None:
        env = demo.mitogen_env()
        assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"
        assert (Path(env["ANSIBLE_STRATEGY_PLUGINS"]) / "mitogen_linear.py").is_file()
    # Without it, the demo runs with Ansible's own strategy.
    monkeypatch.setitem(sys.modules, "ansible_mitogen", None)
    assert demo.mitogen_env() == {}


def test_the_demo_runs_with_mitogen_unless_a_strategy_is_chosen(monkeypatch):
    monkeypatch.delenv("ANSIBLE_STRATEGY", raising=False)
    assert demo.demo_accelerator() == demo.mitogen_env()
    monkeypatch.setenv("ANSIBLE_STRATEGY", "linear")
    assert demo.demo_accelerator() == {}
