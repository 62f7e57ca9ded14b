"""Which Istio material the tests load: Istio's own from ../shared/reference where it is present, else the
project's stand-ins (sim/standins, re-exported here as CRDS and ADDONS). Only tests may read the reference:
the demo, the playbooks and the roles use sim.standins directly.
"""
from pathlib import Path

from sim.standins import ADDONS, CRDS  # noqa: F401  (tests import them from here)

REPO = Path(__file__).resolve().parents[2]
# Istio's files as the tests may read them (never the demo, the playbooks or the roles).
REFERENCE = REPO.parent / "shared" / "reference"
HAS_REFERENCE = (REFERENCE / "istio").is_dir()
REFERENCE_CRDS = REFERENCE / "istio" / "crd-all.gen.yaml"


def istio_crds():
    """The Istio CRDs to load into kubesim: Istio's own where the reference is present (CI always has
    it, so the collection's objects are validated against the real schemas there), else the stand-ins."""
    return REFERENCE_CRDS if HAS_REFERENCE else CRDS
