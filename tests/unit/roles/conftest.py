"""Fixtures for the static checks of the app roles' objects."""
import pytest

from app_render import load_reference, render


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """{variant: [objects in apply order]} as the roles render them."""
    return render(tmp_path_factory.mktemp("rendered"))


@pytest.fixture(scope="session")
def istio_crd_schemas():
    """{(group/version, kind): openAPIV3Schema} from the reference Istio CRDs."""
    schemas = {}
    for crd in load_reference("istio", "crd-all.gen.yaml"):
        spec = crd["spec"]
        for version in spec["versions"]:
            schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return schemas
