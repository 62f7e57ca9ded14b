# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this code is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: clusters
short_description: Kubernetes clusters of an Istio mesh as inventory hosts
version_added: 0.1.0
author: meshops.istio developers (@meshops)
description:
  - Reads a YAML file that lists the clusters of a mesh and makes one host per cluster, so plays run
    once per cluster (with forks, or in waves with C(serial)).
  - Every host gets C(ansible_connection=local), the auth variables C(kubeconfig) and C(context)
    that the modules of this collection and of kubernetes.core take, and the mesh facts
    C(istio_cluster_name), C(istio_cluster_role), C(istio_network), C(istio_mesh_id),
    C(istio_api_server) and, for remote clusters, C(istio_primary_cluster).
  - Hosts are grouped by role (C(primary), C(remote)) and by network (C(network_<name>)).
  - Optionally adds one host for the current context, or for every context, of a kubeconfig.
  - Each kubeconfig is read (never written) to check that the context exists and to learn the API
    server URL; nothing contacts the clusters.
  - With kubernetes.core's auth in the environment - C(K8S_AUTH_HOST) with C(K8S_AUTH_API_KEY) (what AWX's
    "OpenShift or Kubernetes API Bearer Token" credential sets), with C(K8S_AUTH_USERNAME) and
    C(K8S_AUTH_PASSWORD), or with a client certificate and key - kubernetes.core connects every module to
    that server and ignores kubeconfig and context. The inventory is then that one cluster - one host
    without C(kubeconfig) and C(context) variables, named after the single entry of O(clusters) (which may
    not name a kubeconfig or context), else C(name) in O(context_defaults), else the server's host name -
    and no kubeconfig is read. C(istio_api_server) defaults to C(K8S_AUTH_HOST).
  - The file name must end in C(.clusters.yml) or C(.clusters.yaml).
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin; it must be V(meshops.istio.clusters).
    type: str
    required: true
    choices: [meshops.istio.clusters]
  kubeconfig:
    description:
      - Kubeconfig used by clusters that do not name their own, and by O(contexts).
      - Several files may be joined with C(:) as in C(KUBECONFIG).
      - Relative paths are relative to the directory of the inventory file.
    type: str
    default: ~/.kube/config
    env:
      # The last variable set wins: K8S_AUTH_KUBECONFIG (an AWX kubeconfig credential) over KUBECONFIG, as in
      # kubernetes.core.
      - name: KUBECONFIG
      - name: K8S_AUTH_KUBECONFIG
  mesh_id:
    description: Mesh ID (Istio's C(global.meshID)) of clusters that do not set one.
    type: str
    default: mesh1
  default_network:
    description:
      - Network of clusters that do not set one. Clusters on the same network reach each other's
        pods directly; clusters on different networks go through east-west gateways.
    type: str
    default: network1
  contexts:
    description:
      - Add hosts for contexts of O(kubeconfig) that no entry of O(clusters) uses.
      - V(none) adds nothing, V(current) adds the kubeconfig's current context, V(all) adds every context.
      - Such a host is named after its context, lower-cased, with characters that cannot be in a
        cluster name replaced by C(-). With V(current), C(name) in O(context_defaults) names the host;
        otherwise list the context in O(clusters) to choose another name.
    type: str
    choices: [none, current, all]
    default: none
  context_defaults:
    description: Keys (as in O(clusters)) given to hosts added by O(contexts).
    type: dict
    default: {}
  clusters:
    description:
      - The clusters of the mesh.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Cluster name; also the inventory host name and Istio's C(global.multiCluster.clusterName).
          - Lower-case letters, digits and C(-); it ends up in Secret names such as C(istio-remote-secret-<name>).
        type: str
        required: true
      kubeconfig:
        description: Kubeconfig for this cluster (default O(kubeconfig)).
        type: str
      context:
        description: Context in the kubeconfig (default the cluster name).
        type: str
      role:
        description:
          - V(primary) runs its own istiod; V(remote) is controlled by the istiod of a primary.
        type: str
        choices: [primary, remote]
        default: primary
      network:
        description: Network name (Istio's C(global.network)); default O(default_network).
        type: str
      mesh_id:
        description: Mesh ID; default O(mesh_id).
        type: str
      api_server:
        description:
          - URL of this cluster's API server as the other clusters reach it; it goes into the remote
            secrets that other clusters' istiod use.
          - Defaults to the server URL in the kubeconfig, which is often only reachable from where
            Ansible runs (C(127.0.0.1), a tunnel, a private DNS name).
        type: str
      primary:
        description:
          - For a remote cluster, the name of the primary cluster whose istiod controls it.
          - Not needed when the inventory has exactly one primary.
        type: str
      vars:
        description: More host variables for this cluster.
        type: dict
"""

EXAMPLES = r"""
# With K8S_AUTH_HOST + K8S_AUTH_API_KEY (+ K8S_AUTH_SSL_CA_CERT) set, for example by an AWX bearer
# token credential, this is one host called "local" for that API server; no kubeconfig is needed.
plugin: meshops.istio.clusters
contexts: current
context_defaults:
  name: local
---
# inventories/multicluster/mesh.clusters.yml -- the codelab's two clusters on two networks
plugin: meshops.istio.clusters
kubeconfig: ~/.kube/config
mesh_id: mesh1
clusters:
  - name: primary
    network: network1
    api_server: https://primary.k8s.example.com:6443
  - name: burst
    role: remote
    network: network2
    api_server: https://burst.k8s.example.com:6443
---
# A single cluster: whatever the kubeconfig's current context points at
plugin: meshops.istio.clusters
contexts: current
---
# Every context of a fleet kubeconfig, all primaries, grouped by a label of our own
plugin: meshops.istio.clusters
kubeconfig: fleet.kubeconfig
contexts: all
keyed_groups:
  - key: istio_mesh_id
    prefix: mesh
"""

import os
import re

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.six.moves.urllib.parse import urlparse
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var as make_unsafe

from ansible_collections.meshops.istio.plugins.module_utils.multicluster import NAME_RE

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19 templates every inventory string
    def trust_as_template(value):
        return value

try:
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigMerger
    HAS_KUBERNETES = True
except ImportError:
    HAS_KUBERNETES = False

ROLES = ("primary", "remote")
CLUSTER_KEYS = ("name", "kubeconfig", "context", "role", "network", "mesh_id", "api_server",
                "primary", "vars")
# Networks and mesh IDs end up in label values and group names.
LABEL_VALUE_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


class KubeconfigReader:
    """Contexts and server URLs of kubeconfig files, read once per path."""

    def __init__(self):
        self._configs = {}

    def load(self, path):
        if path not in self._configs:
            missing = [p for p in path.split(os.pathsep) if p and not os.path.isfile(p)]
            if missing:
                raise AnsibleParserError(
                    "kubeconfig %s does not exist. Create it (for example with your cloud's "
                    "'get-credentials' command), or point the cluster's 'kubeconfig' key or the "
                    "plugin's 'kubeconfig' option (K8S_AUTH_KUBECONFIG, KUBECONFIG) at the right file."
                    % ", ".join(missing))
            if not HAS_KUBERNETES:
                raise AnsibleParserError("The meshops.istio.clusters inventory needs the 'kubernetes' Python "
                                         "library on the controller: pip install kubernetes")
            try:
                merged = KubeConfigMerger(path).config
                if merged is None or not isinstance(merged.value, dict):
                    raise ValueError("no YAML mapping found")
            except Exception as e:  # YAML errors, unreadable files, a list where a mapping belongs
                raise AnsibleParserError("kubeconfig %s cannot be read as a kubeconfig (%s). It must be a YAML "
                                         "mapping with clusters, contexts and users." % (path, to_native(e))) from e
            self._configs[path] = merged
        return self._configs[path]

    def contexts(self, path):
        config = self.load(path)
        contexts = config.safe_get("contexts") or []
        names = [c.safe_get("name") if hasattr(c, "safe_get") else (c or {}).get("name") for c in contexts]
        return [n for n in names if n], config.safe_get("current-context")

    def server(self, path, context):
        """The API server URL a context points at; fails with the contexts there are."""
        config = self.load(path)
        names = self.contexts(path)[0]
        if context not in names:
            raise AnsibleParserError(
                "context %r is not in kubeconfig %s (it has: %s). Fix the cluster's 'context' key, or "
                "add the context to the kubeconfig." % (context, path, ", ".join(names) or "no contexts"))
        try:
            cluster_name = config["contexts"].get_with_name(context)["context"]["cluster"]
            return config["clusters"].get_with_name(cluster_name)["cluster"]["server"]
        except (ConfigException, KeyError, TypeError) as e:
            raise AnsibleParserError("context %r in kubeconfig %s does not lead to a cluster with a server "
                                     "URL: %s" % (context, path, to_native(e))) from e


def env_auth_server(environ):
    """K8S_AUTH_HOST when the environment holds enough of kubernetes.core's auth to connect without a
    kubeconfig (kubernetes.core then never loads one), else None."""
    def given(*names):
        return any(environ.get("K8S_AUTH_%s" % n) for n in names)
    host = environ.get("K8S_AUTH_HOST")
    if host and (given("API_KEY") or (given("USERNAME") and given("PASSWORD"))
                 or (given("CLIENT_CERT", "CERT_FILE") and given("CLIENT_KEY", "KEY_FILE"))):
        return host.rstrip("/")
    return None


def host_name_for_context(context):
    name = re.sub(r"[^a-z0-9-]+", "-", context.lower()).strip("-")
    return name[:63].rstrip("-")


def resolve_clusters(spec, base_dir, reader, env_server=None):
    """Turn the plugin options into a list of cluster records (plain dicts), or raise
    AnsibleParserError naming the entry and the key at fault. ``env_server``: the API server of
    kubernetes.core's auth in the environment (env_auth_server), which makes the one cluster."""
    default_kubeconfig = spec["kubeconfig"]
    records = []
    entries = list(spec.get("clusters") or [])
    if env_server:
        return [_env_record(spec, entries, env_server)]
    for index, entry in enumerate(entries):
        where = "clusters[%d]" % index
        if not isinstance(entry, dict):
            raise AnsibleParserError("%s must be a mapping with at least 'name', got %r." % (where, entry))
        unknown = sorted(set(entry) - set(CLUSTER_KEYS))
        if unknown:
            raise AnsibleParserError("%s has unknown key(s) %s; the keys are %s."
                                     % (where, ", ".join(unknown), ", ".join(CLUSTER_KEYS)))
        if not entry.get("name"):
            raise AnsibleParserError("%s has no 'name'. Give every cluster a name." % where)
        records.append(_record(entry, where, spec, base_dir, default_kubeconfig, reader))

    mode = spec.get("contexts") or "none"
    if mode != "none":
        kubeconfig = _path(default_kubeconfig, base_dir)
        names, current = reader.contexts(kubeconfig)
        if mode == "current":
            if not current:
                raise AnsibleParserError("kubeconfig %s has no current-context, so 'contexts: current' has "
                                         "nothing to add. Set one (kubectl config use-context NAME) or list "
                                         "the cluster under 'clusters'." % kubeconfig)
            names = [current]
        used = set((r["kubeconfig"], r["context"]) for r in records)
        defaults = dict(spec.get("context_defaults") or {})
        fixed = ("context", "kubeconfig") if mode == "current" else ("name", "context", "kubeconfig")
        for key in fixed:
            if key in defaults:
                raise AnsibleParserError("context_defaults cannot set %r with contexts: %s; it differs per "
                                         "context. List the context under 'clusters' instead." % (key, mode))
        for context in names:
            if (kubeconfig, context) in used:
                continue
            entry = dict(defaults, context=context, kubeconfig=kubeconfig)
            entry.setdefault("name", host_name_for_context(context))
            records.append(_record(entry, "context %r of %s" % (context, kubeconfig), spec, base_dir,
                                   default_kubeconfig, reader, from_kubeconfig=True))

    _check_mesh(records)
    return records


def _env_record(spec, entries, server):
    """The one cluster of kubernetes.core's environment auth."""
    where = "K8S_AUTH_HOST is %s with credentials in the environment" % server
    why = ("kubernetes.core then connects every module to that server and ignores kubeconfig and context, so the "
           "inventory can only be that one cluster")
    if len(entries) > 1:
        raise AnsibleParserError("%s: %s, not the %d clusters listed. Unset the K8S_AUTH_* variables to use the "
                                 "kubeconfigs, or list one cluster." % (where, why, len(entries)))
    entry = dict(spec.get("context_defaults") or {})
    if entries:
        if not isinstance(entries[0], dict):
            raise AnsibleParserError("clusters[0] must be a mapping with at least 'name', got %r." % (entries[0],))
        entry = dict(entries[0])
    unknown = sorted(set(entry) - set(CLUSTER_KEYS))
    if unknown:
        raise AnsibleParserError("clusters[0] has unknown key(s) %s; the keys are %s."
                                 % (", ".join(unknown), ", ".join(CLUSTER_KEYS)))
    given = [k for k in ("kubeconfig", "context") if entry.get(k)]
    if given:
        raise AnsibleParserError("%s: %s; remove %s from the cluster, or unset the K8S_AUTH_* variables."
                                 % (where, why, " and ".join(given)))
    entry.setdefault("name", host_name_for_context(urlparse(server).hostname or "") or "cluster")
    entry.setdefault("api_server", server)
    records = [_record(entry, where, spec, None, None, None, env_server=server)]
    _check_mesh(records)
    return records[0]


def _check_group_clash(records):
    groups = set(ROLES) | set(group_name("network", r["network"]) for r in records) | set(("all", "ungrouped"))
    for record in records:
        if record["name"] in groups:
            raise AnsibleParserError(
                "cluster %r has the name of a group this inventory makes (%s); Ansible cannot have a host "
                "and a group of the same name. Rename the cluster (its context can keep the name, "
                "e.g. name: onprem, context: %s)."
                % (record["name"], ", ".join(sorted(groups)), record["context"] or record["name"]))


def _path(value, base_dir):
    parts = []
    for part in value.split(os.pathsep):
        if part:
            part = os.path.expanduser(os.path.expandvars(part))
            parts.append(part if os.path.isabs(part) else os.path.normpath(os.path.join(base_dir, part)))
    return os.pathsep.join(parts)


def _record(entry, where, spec, base_dir, default_kubeconfig, reader, from_kubeconfig=False, env_server=None):
    name = entry["name"]
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise AnsibleParserError(
            "%s: cluster name %r is not valid: use lower-case letters, digits and '-', at most 63 "
            "characters, starting and ending with a letter or digit (it is used in Secret names)."
            % (where, name))
    where = "cluster %r" % name if not from_kubeconfig else where
    role = entry.get("role") or "primary"
    if role not in ROLES:
        raise AnsibleParserError("%s: role %r is not one of %s." % (where, role, ", ".join(ROLES)))
    network = entry.get("network") or spec["default_network"]
    mesh_id = entry.get("mesh_id") or spec["mesh_id"]
    for key, value in (("network", network), ("mesh_id", mesh_id)):
        if not isinstance(value, str) or not LABEL_VALUE_RE.match(value):
            raise AnsibleParserError(
                "%s: %s %r is not valid: it becomes a Kubernetes label value (letters, digits, '-', '_', "
                "'.', at most 63 characters)." % (where, key, value))
    if env_server:
        kubeconfig = context = None
        server = env_server
    else:
        kubeconfig = _path(entry.get("kubeconfig") or default_kubeconfig, base_dir)
        context = entry.get("context") or name
        try:
            server = reader.server(kubeconfig, context)
        except AnsibleParserError as e:
            raise AnsibleParserError("%s: %s" % (where, e.message)) from None
    api_server = entry.get("api_server") or server
    parsed = urlparse(api_server or "")
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise AnsibleParserError("%s: api_server %r is not a URL such as https://api.example.com:6443."
                                 % (where, api_server))
    extra = entry.get("vars") or {}
    if not isinstance(extra, dict):
        raise AnsibleParserError("%s: 'vars' must be a mapping of host variables." % where)
    primary = entry.get("primary")
    if primary and role != "remote":
        raise AnsibleParserError("%s: 'primary' only applies to role: remote clusters." % where)
    return dict(name=name, kubeconfig=kubeconfig, context=context, role=role, network=network,
                mesh_id=mesh_id, api_server=api_server, primary=primary, vars=extra,
                from_kubeconfig=from_kubeconfig)


def _check_mesh(records):
    seen = {}
    for record in records:
        if record["name"] in seen:
            raise AnsibleParserError(
                "Two clusters are named %r (contexts %r and %r). Cluster names must be unique; rename one."
                % (record["name"], seen[record["name"]]["context"], record["context"]))
        seen[record["name"]] = record
    _check_group_clash(records)
    primaries = [r["name"] for r in records if r["role"] == "primary"]
    for record in records:
        if record["role"] != "remote":
            continue
        if record["primary"]:
            if record["primary"] not in primaries:
                raise AnsibleParserError(
                    "cluster %r: primary %r is not a primary cluster of this inventory (primaries: %s)."
                    % (record["name"], record["primary"], ", ".join(primaries) or "none"))
        elif len(primaries) == 1:
            record["primary"] = primaries[0]
        else:
            raise AnsibleParserError(
                "cluster %r is remote but %s; set its 'primary' key to the cluster whose istiod controls it."
                % (record["name"], "the inventory has no primary cluster" if not primaries
                   else "there are several primaries (%s)" % ", ".join(primaries)))


def host_vars(record):
    """The variables of one cluster's host."""
    hostvars = {
        "ansible_connection": "local",
        # Modules run on the controller and need the kubernetes library Ansible itself runs with.
        "ansible_python_interpreter": trust_as_template("{{ ansible_playbook_python }}"),
        "istio_cluster_name": record["name"],
        "istio_cluster_role": record["role"],
        "istio_network": record["network"],
        "istio_mesh_id": record["mesh_id"],
        "istio_api_server": record["api_server"],
    }
    # Without them (auth from K8S_AUTH_*) the playbooks leave kubeconfig and context out of the modules.
    for key in ("kubeconfig", "context"):
        if record[key]:
            hostvars[key] = record[key]
    if record["primary"]:
        hostvars["istio_primary_cluster"] = record["primary"]
    hostvars.update(record["vars"])
    return hostvars


def group_name(prefix, value):
    return "%s_%s" % (prefix, re.sub(r"[^A-Za-z0-9_]", "_", value))


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "meshops.istio.clusters"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(
            (".clusters.yml", ".clusters.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        env_server = env_auth_server(os.environ)
        # The environment decides what the clusters are; nothing is read for them, nothing to cache.
        use_cache = self.get_option("cache") and cache and not env_server
        records = None
        if use_cache:
            try:
                records = self._cache[cache_key]
            except KeyError:
                records = None
        if records is None:
            spec = dict((key, self.get_option(key)) for key in (
                "kubeconfig", "mesh_id", "default_network", "contexts", "context_defaults", "clusters"))
            # An empty K8S_AUTH_KUBECONFIG (set to clear it) leaves the choice to KUBECONFIG, as in kubernetes.core.
            spec["kubeconfig"] = spec["kubeconfig"] or os.environ.get("KUBECONFIG") or "~/.kube/config"
            records = resolve_clusters(spec, os.path.dirname(os.path.abspath(path)), KubeconfigReader(), env_server)
            if self.get_option("cache") and not env_server:
                self._cache[cache_key] = records
        self._populate(records)

    def _populate(self, records):
        strict = self.get_option("strict")
        for group in ROLES:
            self.inventory.add_group(group)
        for record in records:
            name = self.inventory.add_host(record["name"])
            self.inventory.add_child(record["role"], name)
            network_group = self.inventory.add_group(group_name("network", record["network"]))
            self.inventory.add_child(network_group, name)
            hostvars = host_vars(record)
            for key, value in hostvars.items():
                # Names and URLs read from kubeconfig files are data, never templates; the interpreter is
                # the plugin's own template, which must be rendered (else no module can start).
                if key != "ansible_python_interpreter" and (
                        record["from_kubeconfig"] or key in ("kubeconfig", "context", "istio_api_server")):
                    value = make_unsafe(value)
                self.inventory.set_variable(name, key, value)
            self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)
