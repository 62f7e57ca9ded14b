"""Facts the docs state that a test can hold them to: role variable defaults in the docs' tables, the Istio
sample paths they cite."""
import re

import pytest
import yaml

from tests.conftest import REFERENCE, REPO, needs_reference

PAGES = ("README.md", "docs/apps.md", "docs/releases.md", "docs/control-plane.md", "docs/multicluster.md")
ROLES = dict((path.parents[1].name, yaml.safe_load(path.read_text()) or {})
             for path in (REPO / "roles").glob("*/defaults/main.yml"))
LITERAL = re.compile(r"^(`[^`]*`|-?\d+(\.\d+)?|true|false)$")


def role_of(variable):
    return next((role for role, defaults in ROLES.items() if variable in defaults), None)


def table_rows(page):
    for number, line in enumerate((REPO / page).read_text().splitlines(), 1):
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) >= 2 and cells[0].startswith("`"):
            yield number, cells


def documented_defaults(page):
    """[(line, variable, documented value)] for rows whose default cell is only literals, one per variable."""
    out = []
    for number, cells in table_rows(page):
        names = re.findall(r"`([a-z_][a-z0-9_]*)`", cells[0])
        if not names or role_of(names[0]) is None:
            continue
        prefix = role_of(names[0])
        names = [prefix + n if n.startswith("_") else n for n in names]
        values = [v.strip() for v in re.split(r",\s+|\s+/\s+", cells[1])]
        if len(values) != len(names) or not all(LITERAL.match(v) for v in values):
            continue
        for name, value in zip(names, values):
            out.append((number, name, yaml.safe_load(value.strip("`")) if value.strip("`") else ""))
    return out


@pytest.mark.parametrize("page", PAGES)
def test_documented_defaults_are_the_roles_defaults(page):
    wrong = []
    for number, name, value in documented_defaults(page):
        actual = ROLES[role_of(name)].get(name)
        if isinstance(actual, str) and "{{" in actual:
            continue
        if actual != value and not (actual in (None, "") and value in (None, "")):
            wrong.append("%s:%d: %s documented as %r, default %r" % (page, number, name, value, actual))
    assert wrong == []


def test_the_default_tables_are_read():
    compared = [d for page in PAGES for d in documented_defaults(page)]
    # The tables of apps, control-plane and multicluster hold most of the roles' variables.
    assert len(compared) >= 40
    assert ("multicluster_ca_key_size", 0) in [(name, value) for _line, name, value in compared]


@needs_reference("Istio's sample paths")
def test_cited_samples_are_istio_release_paths():
    """Every samples/... file the docs cite is one the reference holds (the reference README names each
    file's path in istio/istio), and apps.md says which layout its path is."""
    sources = (REFERENCE / "README.md").read_text()
    cited = set()
    for page in PAGES:
        cited |= set(re.findall(r"`(samples/[\w./-]+\.yaml)`", (REPO / page).read_text()))
    assert "samples/bookinfo/platform/kube/bookinfo.yaml" in cited
    for path in cited:
        assert path in sources or path.startswith("samples/bookinfo/networking/"), path
    assert "unpacked Istio release" in (REPO / "docs" / "apps.md").read_text()
