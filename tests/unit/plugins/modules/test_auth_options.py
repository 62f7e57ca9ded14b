"""No option of ours may take the name of a kubernetes.core auth option.

kubernetes.core reads the API server's URL, token, CA, ... from module options of these names (or
from K8S_AUTH_*); an option of ours with one of these names replaces the auth option, and the token
then goes wherever our option points."""
import importlib
from pathlib import Path

import pytest
import yaml
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

from ansible_collections.meshops.istio.plugins.module_utils import kube

REPO = Path(__file__).resolve().parents[4]
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
RUNTIME = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
# Every name kubernetes.core's auth options answer to, aliases included.
AUTH_NAMES = set(AUTH_ARG_SPEC) | set(a for o in AUTH_ARG_SPEC.values() for a in o.get("aliases", ()))


def test_the_refused_names_are_kubernetes_cores_auth_options():
    assert kube.AUTH_OPTION_NAMES == AUTH_NAMES
    assert {"host", "api_key", "ca_cert", "ssl_ca_cert", "kubeconfig", "context", "validate_certs", "verify_ssl",
            "impersonate_user", "proxy_headers"} <= AUTH_NAMES


def test_new_module_refuses_an_option_named_like_an_auth_option():
    spec = dict(host=dict(type="str", default="worker-service"), namespace=dict(type="str"))
    with pytest.raises(ValueError) as raised:
        kube.new_module(spec, name="istio_example")
    assert str(raised.value) == (
        "module istio_example: option 'host' has the name of kubernetes.core's auth option 'host' (the connection "
        "to the API server); rename the option.")


def test_new_module_refuses_an_alias_and_names_the_calling_module_by_default():
    spec = dict(tls=dict(type="bool", aliases=["verify_ssl"]), token=dict(type="str", aliases=["api_key"]))
    with pytest.raises(ValueError) as raised:
        kube.new_module(spec)
    assert str(raised.value).startswith(
        "module test_auth_options: option 'api_key', 'verify_ssl' has the name of kubernetes.core's auth option "
        "'api_key', 'validate_certs'")


def test_shadowing_is_checked_on_top_level_options_only():
    # Nested options (prometheus.username, targets[].host) are read from their own dict, never as auth.
    spec = dict(prometheus=dict(type="dict", options=dict(username=dict(type="str"))),
                targets=dict(type="list", elements="dict", options=dict(host=dict(type="str"))))
    assert kube.shadowed_auth_options(spec) == []


def takes_kubernetes_auth(module):
    return "kubernetes.core.k8s_auth_options" in yaml.safe_load(module.DOCUMENTATION).get(
        "extends_documentation_fragment", [])


@pytest.mark.parametrize("name", MODULES)
def test_no_module_option_shadows_an_auth_option(name):
    module = importlib.import_module("ansible_collections.meshops.istio.plugins.modules.%s" % name)
    spec = module.argspec()
    assert spec, name
    ours = set(spec) | set(a for o in spec.values() for a in (o or {}).get("aliases", ()))
    # Every module takes the Kubernetes auth (prometheus_query too: it reaches Prometheus through the
    # API server's service proxy by default), so none may have an option of the same name.
    assert takes_kubernetes_auth(module), name
    assert ours & AUTH_NAMES == set(), name
    assert kube.shadowed_auth_options(spec) == []


def test_every_module_is_checked():
    assert len(MODULES) == 10 and {"istio_traffic", "istio_release", "istio_burst"} <= set(MODULES)
    grouped = [m for m in RUNTIME["action_groups"]["istio"] if isinstance(m, str)]
    assert sorted(grouped) == sorted(MODULES)


@pytest.mark.parametrize("name", ["istio_traffic", "istio_release", "istio_burst"])
def test_the_service_option_replaced_host(name):
    spec = importlib.import_module("ansible_collections.meshops.istio.plugins.modules.%s" % name).argspec()
    assert "service" in spec and "host" not in spec
