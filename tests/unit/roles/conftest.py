"""Fixtures for the static checks of the app roles' objects."""
import pytest

import yaml
from app_render import render

from tests.standins import istio_crds


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """{variant: [objects in apply order]} as the roles render them."""
    return render(tmp_path_factory.mktemp("rendered"))


@pytest.fixture(scope="session")
def istio_crd_schemas():
    """{(group/version, kind): openAPIV3Schema} from Istio's CRDs (the reference's, else the stand-ins)."""
    schemas = {}
    for crd in (d for d in yaml.safe_load_all(istio_crds().read_text()) if d):
        spec = crd["spec"]
        for version in spec["versions"]:
            schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return schemas
