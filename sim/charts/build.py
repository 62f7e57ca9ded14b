"""Build a set of test charts shaped like Istio's (base, istiod, gateway) for one version.

The chart sources here carry no upstream files. The base chart renders its CRDs from
templates/crds.yaml out of files/crd-all.gen.yaml, as Istio's does since 1.24; the CRD file is
whatever the caller passes (Istio's real one, a trimmed copy for a version with fewer CRDs, or a
stand-in), copied in at build time.

    python -m sim.charts.build DEST VERSION CRDS [--package]

writes DEST/{base,istiod,gateway}/ (unpacked charts) or, with --package, DEST/<chart>-VERSION.tgz
(what `helm pull` leaves for an air-gapped install).
"""

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
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


def build_chart_set(dest, version, crds, package=False, helm="helm"):
    """The charts of one Istio ``version`` in ``dest``, the base chart's CRDs taken from the file ``crds``.

    Unpacked charts are built beside ``dest`` and renamed into place, so an interrupted build never
    leaves a half-built set; packaged ones are written next to each other (``dest`` may hold several
    versions) and each .tgz is renamed into place. Returns ``dest``."""
    dest, crds = Path(dest), Path(crds)
    if not crds.is_file():
        raise FileNotFoundError("CRD file %s does not exist: pass Istio's crd-all.gen.yaml or a stand-in" % crds)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".%s-" % dest.name) as work:
        work = Path(work)
        built = work / "charts"
        built.mkdir()
        for chart in CHARTS:
            target = built / chart
            _write_chart(HERE / chart, target, version)
            if chart == "base":
                (target / "files").mkdir(exist_ok=True)
                shutil.copyfile(crds, target / "files" / "crd-all.gen.yaml")
        if package:
            dest.mkdir(exist_ok=True)
            for chart in CHARTS:
                subprocess.run([helm, "package", str(built / chart), "-d", str(work)], check=True,
                               capture_output=True, text=True)
                name = "%s-%s.tgz" % (chart, version)
                os.replace(work / name, dest / name)
        else:
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(built, dest)
    return dest


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest")
    parser.add_argument("version")
    parser.add_argument("crds", help="the CRD file for base/files/crd-all.gen.yaml")
    parser.add_argument("--package", action="store_true", help="write <chart>-<version>.tgz files")
    args = parser.parse_args()
    print(build_chart_set(args.dest, args.version, args.crds, args.package))


if __name__ == "__main__":
    main()
