"""pytest fixtures for simulated clusters (imported by tests/conftest.py). They live with the tests, not in sim/,
because they load Istio's real CRDs from ../shared/reference where present, which only tests may read.

- kubesim: a fresh cluster without CRDs, per test.
- kubesim_istio: a fresh cluster with Istio's CRDs, per test (the real ones from ../shared/reference when
  present, else the project's stand-ins: tests/standins/istio_crds()).
- kubesim_factory(name="kubesim", istio_crds=False, **KubeSim kwargs): more clusters (multicluster tests);
  every cluster it made is stopped at teardown.
- kubesim_module / kubesim_istio_module: one cluster shared by a test module (use where tests do not
  depend on each other's state, to keep the suite fast).
Each started cluster has `.kubeconfig_path`, a kubeconfig written for it (context = its name).
"""
from pathlib import Path

import pytest

from sim.kubesim import KubeSim
from tests.standins import istio_crds

ISTIO_CRDS = istio_crds()


def _start(directory, name="kubesim", istio_crds=False, **kwargs):
    crds = list(kwargs.pop("crd_files", ()))
    if istio_crds:
        crds.insert(0, ISTIO_CRDS)
    sim = KubeSim(name=name, crd_files=crds, **kwargs).start()
    sim.kubeconfig_path = sim.write_kubeconfig(Path(directory) / f"{name}.kubeconfig", context=name)
    return sim


@pytest.fixture
def kubesim(tmp_path):
    sim = _start(tmp_path)
    yield sim
    sim.stop()


@pytest.fixture
def kubesim_istio(tmp_path):
    sim = _start(tmp_path, istio_crds=True)
    yield sim
    sim.stop()


@pytest.fixture
def kubesim_factory(tmp_path):
    started = []

    def make(name="kubesim", istio_crds=False, **kwargs):
        sim = _start(tmp_path, name=name, istio_crds=istio_crds, **kwargs)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture(scope="module")
def kubesim_module(tmp_path_factory):
    sim = _start(tmp_path_factory.mktemp("kubesim"))
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def kubesim_istio_module(tmp_path_factory):
    sim = _start(tmp_path_factory.mktemp("kubesim"), istio_crds=True)
    yield sim
    sim.stop()
