"""The clusters inventory plugin: parsed in-process, and through real ansible-inventory."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible import constants as C
from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import get_docstring

from ansible_collections.meshops.istio.plugins.inventory import clusters
from tests.conftest import REPO, ansible_env

ANSIBLE_INVENTORY = str(Path(sys.executable).parent / "ansible-inventory")
NAME = "meshops.istio.clusters"
# Register the plugin's options from its DOCUMENTATION (with the constructed and inventory_cache
# fragments), as the plugin loader does, without installing Ansible's collection finder in the
# test process (the other unit tests import the collection as a plain package).
C.config.initialize_plugin_configuration_definitions(
    "inventory", NAME, get_docstring(clusters.__file__, fragment_loader, plugin_type="inventory")[0]["options"])


def new_plugin():
    plugin = clusters.InventoryModule()
    plugin._load_name = NAME
    # ansible-core 2.16's BaseInventoryPlugin reads the names the loader found the plugin under.
    plugin._redirected_names = [NAME]
    return plugin


def kubeconfig(path, contexts, current=None):
    """A kubeconfig with one cluster per context: {context: server}."""
    doc = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c-" + ctx, "cluster": {"server": server}} for ctx, server in contexts.items()],
        "contexts": [{"name": ctx, "context": {"cluster": "c-" + ctx, "user": "u"}} for ctx in contexts],
        "users": [{"name": "u", "user": {"token": "secret-token-never-shown"}}],
    }
    if current:
        doc["current-context"] = current
    Path(path).write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.fixture
def two(tmp_path):
    return kubeconfig(tmp_path / "two.kubeconfig",
                      {"primary": "https://127.0.0.1:6443", "burst": "https://10.1.2.3:443"}, current="primary")


def parse(tmp_path, config, name="mesh.clusters.yml"):
    """Run the plugin the way ansible does and return the InventoryData."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(dict({"plugin": "meshops.istio.clusters"}, **config)))
    plugin = new_plugin()
    inventory = InventoryData()
    assert plugin.verify_file(str(path))
    plugin.parse(inventory, DataLoader(), str(path), cache=True)
    if getattr(plugin, "_cache", None) is not None:
        plugin.update_cache_if_changed()  # what InventoryManager does after parse
    return inventory


def hostvars(inventory, host):
    return {k: str(v) if isinstance(v, str) else v for k, v in inventory.get_host(host).vars.items()}


def members(inventory, group):
    return sorted(h.name for h in inventory.groups[group].get_hosts())


def test_verify_file_accepts_only_clusters_files(tmp_path):
    plugin = new_plugin()
    for name, accepted in (("mesh.clusters.yml", True), ("mesh.clusters.yaml", True), ("clusters.yml", False),
                           ("mesh.yml", False), ("hosts.ini", False), ("mesh.clusters.json", False)):
        path = tmp_path / name
        path.write_text("plugin: meshops.istio.clusters\n")
        assert plugin.verify_file(str(path)) is accepted, name


def test_one_host_per_cluster_with_auth_vars_and_groups(tmp_path, two):
    inv = parse(tmp_path, {"kubeconfig": two, "mesh_id": "mesh7", "clusters": [
        {"name": "onprem", "context": "primary", "network": "net-a"},
        {"name": "burst", "role": "remote", "network": "net-b", "api_server": "https://burst.example.com:6443",
         "vars": {"hashapp_variant": "burst"}},
    ]})
    assert sorted(inv.hosts) == ["burst", "onprem"]
    assert members(inv, "primary") == ["onprem"]
    assert members(inv, "remote") == ["burst"]
    assert members(inv, "network_net_a") == ["onprem"]
    assert members(inv, "network_net_b") == ["burst"]
    onprem = hostvars(inv, "onprem")
    assert onprem["ansible_connection"] == "local"
    assert onprem["kubeconfig"] == two and onprem["context"] == "primary"
    assert onprem["istio_cluster_name"] == "onprem" and onprem["istio_cluster_role"] == "primary"
    assert onprem["istio_network"] == "net-a" and onprem["istio_mesh_id"] == "mesh7"
    # No api_server given: the kubeconfig's server URL.
    assert onprem["istio_api_server"] == "https://127.0.0.1:6443"
    assert "istio_primary_cluster" not in onprem
    burst = hostvars(inv, "burst")
    assert burst["context"] == "burst"  # defaults to the cluster name
    assert burst["istio_api_server"] == "https://burst.example.com:6443"
    assert burst["istio_primary_cluster"] == "onprem"  # the only primary
    assert burst["hashapp_variant"] == "burst"
    # Tokens in the kubeconfig never become variables.
    assert "secret-token-never-shown" not in json.dumps({h: hostvars(inv, h) for h in inv.hosts}, default=str)


def test_relative_kubeconfig_is_relative_to_the_inventory_file(tmp_path):
    (tmp_path / "kube").mkdir()
    kubeconfig(tmp_path / "kube" / "a.yml", {"a": "https://a.example.com"})
    inv = parse(tmp_path, {"clusters": [{"name": "a", "kubeconfig": "kube/a.yml"}]})
    assert hostvars(inv, "a")["kubeconfig"] == str(tmp_path / "kube" / "a.yml")
    assert hostvars(inv, "a")["istio_network"] == "network1"
    assert hostvars(inv, "a")["istio_mesh_id"] == "mesh1"


def test_contexts_all_adds_every_unlisted_context(tmp_path):
    fleet = kubeconfig(tmp_path / "fleet", {"gke_proj_us-west1_Prod": "https://p.example.com",
                                            "edge": "https://e.example.com", "lab": "https://l.example.com"})
    inv = parse(tmp_path, {"kubeconfig": fleet, "contexts": "all", "context_defaults": {"network": "wan"},
                           "clusters": [{"name": "lab-1", "context": "lab", "network": "lab-net"}]})
    assert sorted(inv.hosts) == ["edge", "gke-proj-us-west1-prod", "lab-1"]
    assert hostvars(inv, "gke-proj-us-west1-prod")["context"] == "gke_proj_us-west1_Prod"
    assert hostvars(inv, "edge")["istio_network"] == "wan"
    assert hostvars(inv, "lab-1")["istio_network"] == "lab-net"
    assert members(inv, "network_wan") == ["edge", "gke-proj-us-west1-prod"]


def test_contexts_current_with_a_chosen_name(tmp_path, two):
    inv = parse(tmp_path, {"kubeconfig": two, "contexts": "current", "context_defaults": {"name": "local"}})
    assert list(inv.hosts) == ["local"]
    assert hostvars(inv, "local")["context"] == "primary"


def test_kubeconfig_option_comes_from_the_environment(tmp_path, two, monkeypatch):
    monkeypatch.delenv("K8S_AUTH_KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBECONFIG", two)
    inv = parse(tmp_path, {"contexts": "current", "context_defaults": {"name": "here"}})
    assert hostvars(inv, "here")["kubeconfig"] == two


def test_constructed_groups_and_compose(tmp_path, two):
    inv = parse(tmp_path, {"kubeconfig": two, "clusters": [{"name": "onprem", "context": "primary"},
                                                           {"name": "burst", "mesh_id": "other"}],
                           "keyed_groups": [{"key": "istio_mesh_id", "prefix": "mesh"}],
                           "compose": {"release_wave": "'first' if istio_cluster_name == 'onprem' else 'later'"}})
    assert members(inv, "mesh_mesh1") == ["onprem"]
    assert members(inv, "mesh_other") == ["burst"]
    assert hostvars(inv, "burst")["release_wave"] == "later"


# Shared with the bad-input campaign (tests/reliability/test_bad_input.py).
BROKEN_INVENTORIES = [
    ({"clusters": [{"name": "a", "kubeconfig": "missing.kubeconfig"}]},
     "kubeconfig {tmp}/missing.kubeconfig does not exist"),
    ({"clusters": [{"name": "a", "context": "nope"}]},
     "cluster 'a': context 'nope' is not in kubeconfig {two} (it has: primary, burst)"),
    ({"clusters": [{"name": "Bad_Name", "context": "primary"}]}, "cluster name 'Bad_Name' is not valid"),
    ({"clusters": [{"name": "primary"}]}, "cluster 'primary' has the name of a group this inventory makes"),
    ({"clusters": [{"name": "a", "context": "primary", "role": "leader"}]},
     "role 'leader' is not one of primary, remote"),
    ({"clusters": [{"name": "a", "context": "primary"}, {"name": "a", "context": "burst"}]},
     "Two clusters are named 'a'"),
    ({"clusters": [{"name": "burst", "role": "remote"}]}, "the inventory has no primary cluster"),
    ({"clusters": [{"name": "x", "context": "primary"}, {"name": "y", "context": "primary"},
                   {"name": "burst", "role": "remote"}]}, "there are several primaries (x, y)"),
    ({"clusters": [{"name": "x", "context": "primary"}, {"name": "burst", "role": "remote", "primary": "z"}]},
     "primary 'z' is not a primary cluster of this inventory"),
    ({"clusters": [{"name": "a", "context": "primary", "api_server": "10.0.0.1:6443"}]},
     "api_server '10.0.0.1:6443' is not a URL"),
    ({"clusters": [{"name": "a", "context": "primary", "network": "net 1"}]}, "network 'net 1' is not valid"),
    ({"clusters": [{"name": "a", "context": "primary", "netwrok": "x"}]}, "clusters[0] has unknown key(s) netwrok"),
    ({"clusters": [{"context": "primary"}]}, "clusters[0] has no 'name'"),
    ({"contexts": "all", "context_defaults": {"name": "x"}}, "context_defaults cannot set 'name' with contexts: all"),
]


@pytest.mark.parametrize("config, message", BROKEN_INVENTORIES)
def test_broken_inventories_fail_with_a_message_naming_the_fix(tmp_path, two, config, message):
    config = dict(config)
    config.setdefault("kubeconfig", two)
    with pytest.raises(AnsibleParserError) as err:
        parse(tmp_path, config)
    assert message.format(tmp=tmp_path, two=two) in str(err.value)


def test_contexts_current_without_current_context(tmp_path):
    path = kubeconfig(tmp_path / "k", {"a": "https://a"})
    with pytest.raises(AnsibleParserError, match="has no current-context"):
        parse(tmp_path, {"kubeconfig": path, "contexts": "current"})


def test_not_a_kubeconfig(tmp_path):
    (tmp_path / "k").write_text("- just\n- a list\n")
    with pytest.raises(AnsibleParserError, match="cannot be read as a kubeconfig"):
        parse(tmp_path, {"kubeconfig": str(tmp_path / "k"), "clusters": [{"name": "a"}]})


def test_cache_serves_the_second_parse_without_reading_kubeconfig(tmp_path, two, monkeypatch):
    cache_dir = tmp_path / "cache"
    config = {"kubeconfig": two, "cache": True, "cache_plugin": "jsonfile",
              "cache_connection": str(cache_dir), "clusters": [{"name": "onprem", "context": "primary"}]}
    first = parse(tmp_path, config)
    assert list(first.hosts) == ["onprem"]
    assert any(cache_dir.iterdir())

    def no_read(self, path):
        raise AssertionError("kubeconfig read although the cache holds the clusters")
    monkeypatch.setattr(clusters.KubeconfigReader, "load", no_read)
    second = parse(tmp_path, config)
    assert hostvars(second, "onprem")["istio_api_server"] == "https://127.0.0.1:6443"


# -- through ansible-inventory, as a user runs it ---------------------------------------------

def ansible_inventory(*args, **env):
    proc = subprocess.run([ANSIBLE_INVENTORY, *args], capture_output=True, text=True, cwd=REPO,
                          env=ansible_env(ANSIBLE_INVENTORY_UNPARSED_FAILED="True", **env), timeout=120, check=False)
    # ansible-core before 2.19 wraps warnings at 80 columns, at spaces and after hyphens: unwrap them.
    proc.stderr = proc.stderr.replace("-\n", "-").replace("\n", " ")
    return proc


def test_sample_multicluster_inventory_graph(two):
    proc = ansible_inventory("-i", "inventories/multicluster", "--graph", KUBECONFIG=two, K8S_AUTH_KUBECONFIG="")
    assert proc.returncode == 0, proc.stderr
    graph = "\n".join(line.rstrip() for line in proc.stdout.strip().splitlines())
    assert graph == "\n".join([
        "@all:",
        "  |--@ungrouped:",
        "  |--@primary:",
        "  |  |--onprem",
        "  |--@remote:",
        "  |  |--burst",
        "  |--@network_network1:",
        "  |  |--onprem",
        "  |--@network_network2:",
        "  |  |--burst"])


def test_sample_multicluster_inventory_hostvars(two):
    proc = ansible_inventory("-i", "inventories/multicluster", "--host", "burst", KUBECONFIG=two,
                             K8S_AUTH_KUBECONFIG="")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    unwrap = {k: v.get("__ansible_unsafe", v) if isinstance(v, dict) else v for k, v in got.items()}
    assert unwrap["kubeconfig"] == two and unwrap["context"] == "burst"
    assert unwrap["istio_cluster_role"] == "remote" and unwrap["istio_primary_cluster"] == "onprem"
    assert unwrap["istio_api_server"] == "https://10.1.2.3:443"


def test_sample_local_inventory_graph(two):
    proc = ansible_inventory("-i", "inventories/local", "--graph", "primary", KUBECONFIG=two, K8S_AUTH_KUBECONFIG="")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["@primary:", "|--local"]


def test_ansible_inventory_reports_a_missing_context(tmp_path):
    only_primary = kubeconfig(tmp_path / "one", {"primary": "https://127.0.0.1:6443"})
    proc = ansible_inventory("-i", "inventories/multicluster", "--graph", KUBECONFIG=only_primary,
                             K8S_AUTH_KUBECONFIG="")
    assert proc.returncode != 0
    assert "cluster 'burst': context 'burst' is not in kubeconfig %s (it has: primary)" % only_primary in proc.stderr


def test_ansible_inventory_reports_a_missing_kubeconfig(tmp_path):
    proc = ansible_inventory("-i", "inventories/local", "--graph", KUBECONFIG=str(tmp_path / "nothing"),
                             K8S_AUTH_KUBECONFIG="")
    assert proc.returncode != 0
    assert "kubeconfig %s does not exist" % (tmp_path / "nothing") in proc.stderr


# -- kubernetes.core's auth from the environment (K8S_AUTH_*), no kubeconfig ------------------

ENV_HOST = "https://api.example.com:6443/"


@pytest.fixture
def env_auth(monkeypatch, tmp_path):
    for key in ("K8S_AUTH_KUBECONFIG", "K8S_AUTH_CONTEXT", "K8S_AUTH_USERNAME", "K8S_AUTH_PASSWORD",
                "K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE", "K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("K8S_AUTH_HOST", ENV_HOST)
    monkeypatch.setenv("K8S_AUTH_API_KEY", "secret-token-never-shown")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such.kubeconfig"))


@pytest.mark.parametrize("environ, server", [
    ({"K8S_AUTH_HOST": ENV_HOST, "K8S_AUTH_API_KEY": "t"}, "https://api.example.com:6443"),
    ({"K8S_AUTH_HOST": ENV_HOST, "K8S_AUTH_USERNAME": "u", "K8S_AUTH_PASSWORD": "p"}, "https://api.example.com:6443"),
    ({"K8S_AUTH_HOST": ENV_HOST, "K8S_AUTH_CERT_FILE": "c", "K8S_AUTH_KEY_FILE": "k"}, "https://api.example.com:6443"),
    ({"K8S_AUTH_HOST": ENV_HOST}, None),                       # no credentials: kubernetes.core loads the kubeconfig
    ({"K8S_AUTH_API_KEY": "t"}, None),
    ({"K8S_AUTH_HOST": ENV_HOST, "K8S_AUTH_USERNAME": "u"}, None),
])
def test_env_auth_server_follows_kubernetes_core(environ, server):
    assert clusters.env_auth_server(environ) == server


def test_env_auth_makes_one_host_without_kubeconfig(tmp_path, env_auth):
    inv = parse(tmp_path, {"contexts": "current", "context_defaults": {"name": "local"}})
    assert list(inv.hosts) == ["local"]
    got = hostvars(inv, "local")
    assert "kubeconfig" not in got and "context" not in got
    assert got["istio_api_server"] == "https://api.example.com:6443"
    assert got["istio_cluster_name"] == "local" and got["ansible_connection"] == "local"
    assert members(inv, "primary") == ["local"]
    assert "secret-token-never-shown" not in json.dumps({h: hostvars(inv, h) for h in inv.hosts}, default=str)


def test_env_auth_names_the_host_after_the_server_or_the_one_cluster(tmp_path, env_auth):
    assert list(parse(tmp_path, {"contexts": "current"}).hosts) == ["api-example-com"]
    inv = parse(tmp_path, {"clusters": [{"name": "onprem", "network": "lab", "api_server": "https://10.0.0.1:6443",
                                         "vars": {"release_wave": "first"}}]})
    got = hostvars(inv, "onprem")
    assert (got["istio_network"], got["istio_api_server"], got["release_wave"]) == (
        "lab", "https://10.0.0.1:6443", "first")


def test_env_auth_refuses_clusters_it_would_silently_merge(tmp_path, env_auth, two):
    with pytest.raises(AnsibleParserError, match="ignores kubeconfig and context, so the inventory can only be "
                                                 "that one cluster, not the 2 clusters listed"):
        parse(tmp_path, {"kubeconfig": two, "clusters": [{"name": "onprem", "context": "primary"},
                                                         {"name": "burst", "role": "remote"}]})
    with pytest.raises(AnsibleParserError, match="remove context from the cluster, or unset the K8S_AUTH_"):
        parse(tmp_path, {"clusters": [{"name": "onprem", "context": "primary"}]})


def test_ansible_inventory_with_env_auth_only(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    proc = ansible_inventory("-i", "inventories/local", "--host", "local", K8S_AUTH_HOST=ENV_HOST,
                             K8S_AUTH_API_KEY="secret-token-never-shown", K8S_AUTH_KUBECONFIG="",
                             KUBECONFIG=str(tmp_path / "missing"), HOME=str(home))
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    unwrap = {k: v.get("__ansible_unsafe", v) if isinstance(v, dict) else v for k, v in got.items()}
    assert "kubeconfig" not in unwrap and "context" not in unwrap
    assert unwrap["istio_api_server"] == "https://api.example.com:6443"
    assert "secret-token-never-shown" not in proc.stdout + proc.stderr
