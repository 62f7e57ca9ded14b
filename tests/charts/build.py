"""Build a set of test charts shaped like Istio's (base, istiod, gateway) for one version.

The chart sources here carry no upstream files: the base chart's CRDs are copied at build time
from the reference copy of Istio's crd-all.gen.yaml (../shared/reference/ from the repo root).

    python -m tests.charts.build DEST VERSION [--package]

writes DEST/{base,istiod,gateway}/ (unpacked charts) or, with --package, DEST/<chart>-VERSION.tgz
(what `helm pull` leaves for an air-gapped install).
"""

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# Default: the project's stand-in CRDs, so a clone with nothing beside it can build the charts.
CRDS = REPO / "tests" / "standins" / "crd-all.yaml"
CHARTS = ("base", "istiod", "gateway")


# Template sources carry a .gotmpl suffix: they are Go templates, not YAML, and the YAML linters of the
# repository must not read them. The built chart has Istio's file names.
TEMPLATE_SUFFIX = ".gotmpl"


def _write_chart(source, dest, version):
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__"))
    for template in list((dest / "templates").glob("*" + TEMPLATE_SUFFIX)):
        template.rename(template.with_name(template.name[:-len(TEMPLATE_SUFFIX)]))
    meta = yaml.safe_load((dest / "Chart.yaml").read_text())
    meta["version"] = version
    meta["appVersion"] = version
    (dest / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))


def build_chart_set(dest, version, crds=CRDS, package=False, helm="helm"):
    """The charts of one Istio ``version`` in ``dest``; returns ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        for chart in CHARTS:
            target = (Path(work) if package else dest) / chart
            _write_chart(HERE / chart, target, version)
            if chart == "base":
                (target / "crds").mkdir(exist_ok=True)
                shutil.copyfile(crds, target / "crds" / "crd-all.gen.yaml")
            if package:
                subprocess.run([helm, "package", str(target), "-d", str(dest)], check=True,
                               capture_output=True, text=True)
    return dest


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest")
    parser.add_argument("version")
    parser.add_argument("--package", action="store_true", help="write <chart>-<version>.tgz files")
    args = parser.parse_args()
    print(build_chart_set(args.dest, args.version, args.package))


if __name__ == "__main__":
    main()
