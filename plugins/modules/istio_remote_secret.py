#!/usr/bin/python
# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this code is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: istio_remote_secret
short_description: Let the istiod of other clusters read this cluster (Istio remote secrets)
version_added: 0.1.0
author: meshops.istio developers (@meshops)
description:
  - Does what C(istioctl create-remote-secret | kubectl apply) does, idempotently and for several
    primaries at once.
  - On the cluster the module connects to (the I(source), chosen with the usual auth options) it
    ensures the reader ServiceAccount C(istio-reader-service-account), a read-only ClusterRole and its
    binding, and a C(kubernetes.io/service-account-token) Secret for the account (Kubernetes 1.24 and
    later no longer create one), then waits until the token controller has filled in the token.
  - It builds a kubeconfig that reaches the source with that token (server URL, CA data, token) and
    writes it into each target cluster as Secret C(istio-remote-secret-<cluster>) in C(istio-system),
    labelled C(istio/multiCluster=true) and annotated C(networking.istio.io/cluster=<cluster>), with
    one data key named after the cluster, the shape C(istioctl create-remote-secret) writes.
  - A second run changes nothing; the token is only replaced with O(rotate=true).
  - The token and the kubeconfig never appear in the module's result, its diff or its log.
  - With O(state=absent) the remote secret is removed from the targets without contacting the source
    (it may be gone already); O(remove_reader=true) also removes from the source the objects
    O(manage_reader) made and the token Secret.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - meshops.istio.api_options
attributes:
  check_mode:
    support: full
    description:
      - Writes are sent as server-side dry runs. When the token Secret does not exist yet, the
        kubeconfig cannot be built, and the result says which secrets would be created.
  diff_mode:
    support: full
    description:
      - Secrets appear with their keys, never their values.
options:
  cluster:
    description:
      - The name of the source cluster in the mesh (Istio's C(global.multiCluster.clusterName) there).
      - Names the Secret C(istio-remote-secret-<cluster>), its data key and the kubeconfig's cluster, user and context.
    type: str
    required: true
  state:
    description:
      - V(present) makes sure every target holds a current remote secret for the source.
      - V(absent) removes the remote secret from every target.
    type: str
    choices: [present, absent]
    default: present
  targets:
    description:
      - The clusters whose istiod must read the source (the primaries, other than the source).
      - Each item takes the auth options of the module (C(kubeconfig), C(context), C(host), C(api_key), ...)
        for that cluster, and a C(name) used in the result.
      - An item's auth is only what the item gives. The C(K8S_AUTH_*) environment variables describe the
        source cluster (the module's own auth) and are not used for targets.
      - An empty list only prepares the reader account and token on the source.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the target cluster, for the result. Defaults to its context or host.
        type: str
      kubeconfig:
        description: Path of a kubeconfig, or a kubeconfig as a dict.
        type: raw
      context:
        description: Context in the kubeconfig.
        type: str
      host:
        description: API server URL.
        type: str
      api_key:
        description: Bearer token.
        type: str
      validate_certs:
        description: Verify the API server's certificate.
        type: bool
        aliases: [verify_ssl]
      ca_cert:
        description: CA bundle that signed the API server's certificate.
        type: path
        aliases: [ssl_ca_cert]
      client_cert:
        description: Client certificate.
        type: path
        aliases: [cert_file]
      client_key:
        description: Client key.
        type: path
        aliases: [key_file]
      proxy:
        description: HTTP proxy URL.
        type: str
      no_proxy:
        description: Hosts not to reach through O(targets[].proxy).
        type: str
      impersonate_user:
        description: User to impersonate.
        type: str
      impersonate_groups:
        description: Groups to impersonate.
        type: list
        elements: str
  server:
    description:
      - The source's API server URL as the targets' istiod reach it.
      - Defaults to the URL the module itself connects to. That is often an address only the machine
        running Ansible can use (C(127.0.0.1), a tunnel); the module warns when it is a loopback address.
    type: str
  namespace:
    description: Namespace of Istio's control plane, on the source and the targets.
    type: str
    default: istio-system
  service_account:
    description: The reader ServiceAccount on the source.
    type: str
    default: istio-reader-service-account
  manage_reader:
    description:
      - Create the reader ServiceAccount and its ClusterRole and ClusterRoleBinding (named
        C(meshops-istio-reader-<namespace>)) on the source.
      - Set to V(false) when Istio's charts already made the account and its RBAC; the token Secret is
        made either way.
    type: bool
    default: true
  rotate:
    description:
      - Replace the reader token (delete the token Secret and let Kubernetes issue a new one), then
        update every target. The old token stops working.
    type: bool
    default: false
  remove_reader:
    description:
      - With O(state=absent), also remove the token Secret and the reader objects this module made on
        the source. The source must then be reachable.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for the token controller to fill the token Secret.
    type: int
    default: 60
notes:
  - When nothing changes, the module reads each reader object and the token once on the source, and the
    namespace and the Secret once on each target; it writes nothing.
seealso:
  - name: Install multi-primary on different networks
    description: Where Istio's documentation uses C(istioctl create-remote-secret).
    link: https://istio.io/latest/docs/setup/install/multicluster/multi-primary_multi-network/
  - module: meshops.istio.istio_cacerts
"""

EXAMPLES = r"""
# test needs: clusters primary and burst in ~/.kube/config
# test expects: Secret istio-system/istio-remote-secret-burst in primary: metadata.labels."istio/multiCluster" == 'true'
# test expects: Secret istio-system/istio-remote-secret-burst in primary: kubeconfig(data.burst).clusters[0].cluster.server == 'https://burst.example.com:6443'
- name: Let the primary's istiod read the burst cluster
  meshops.istio.istio_remote_secret:
    kubeconfig: ~/.kube/config
    context: burst
    cluster: burst
    server: https://burst.example.com:6443
    targets:
      - name: onprem
        kubeconfig: ~/.kube/config
        context: primary

# test needs: clusters inventory
# test expects: Secret istio-system/istio-remote-secret-onprem in burst: kubeconfig(data.onprem).clusters[0].cluster.server == 'https://onprem.example.com:6443'
# test expects: Secret istio-system/istio-remote-secret-burst in primary: kubeconfig(data.burst).clusters[0].cluster.server == 'https://burst.example.com:6443'
- name: Multi-primary, from the meshops.istio.clusters inventory - each cluster to the other primaries
  meshops.istio.istio_remote_secret:
    kubeconfig: "{{ kubeconfig }}"
    context: "{{ context }}"
    cluster: "{{ istio_cluster_name }}"
    server: "{{ istio_api_server }}"
    targets:
      - name: "{{ item }}"
        kubeconfig: "{{ hostvars[item].kubeconfig }}"
        context: "{{ hostvars[item].context }}"
  loop: "{{ groups['primary'] | difference([inventory_hostname]) }}"

# test expects: result: rotated == true
# test expects: Secret istio-system/istio-remote-secret-burst in primary: kubeconfig(data.burst).clusters[0].cluster.server == 'https://burst.example.com:6443'
- name: Issue a new token and update the primaries (give the server again, or the kubeconfig's is written)
  meshops.istio.istio_remote_secret:
    context: burst
    cluster: burst
    server: https://burst.example.com:6443
    rotate: true
    targets:
      - context: primary

# test expects: Secret istio-system/istio-remote-secret-burst in primary absent
- name: The burst cluster left the mesh; remove its secret from the primary
  meshops.istio.istio_remote_secret:
    cluster: burst
    state: absent
    targets:
      - context: primary
"""

RETURN = r"""
secret_name:
  description: Name of the remote secret in the targets.
  returned: always
  type: str
  sample: istio-remote-secret-burst
server:
  description: The API server URL written into the kubeconfig.
  returned: when O(state=present)
  type: str
  sample: https://burst.example.com:6443
token_secret:
  description: Namespace/name of the reader token Secret on the source.
  returned: when O(state=present)
  type: str
  sample: istio-system/istio-reader-service-account-istio-remote-secret-token
rotated:
  description: Whether the token was replaced in this run.
  returned: always
  type: bool
  sample: false
source:
  description: What was done on the source cluster, per object.
  returned: always
  type: list
  elements: dict
  sample: [{kind: ServiceAccount, name: istio-reader-service-account, namespace: istio-system, action: unchanged}]
targets:
  description: What was done to the remote secret in each target.
  returned: always
  type: list
  elements: dict
  sample: [{name: onprem, action: created}]
  contains:
    name:
      description: The target's name.
      type: str
    action:
      description: C(created), C(updated), C(unchanged), C(deleted) or C(absent).
      type: str
diff:
  description: Objects before and after, Secrets with their keys only.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.meshops.istio.plugins.module_utils import multicluster as mc
from ansible_collections.meshops.istio.plugins.module_utils import remote_secret
from ansible_collections.meshops.istio.plugins.module_utils.module_run import run_module


def argspec():
    target = dict(
        name=dict(type="str"),
        kubeconfig=dict(type="raw", no_log=True),
        context=dict(type="str"),
        host=dict(type="str"),
        api_key=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", aliases=["verify_ssl"]),
        ca_cert=dict(type="path", aliases=["ssl_ca_cert"]),
        client_cert=dict(type="path", aliases=["cert_file"]),
        client_key=dict(type="path", aliases=["key_file"]),
        proxy=dict(type="str"),
        no_proxy=dict(type="str"),
        impersonate_user=dict(type="str"),
        impersonate_groups=dict(type="list", elements="str"),
    )
    return dict(
        cluster=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        targets=dict(type="list", elements="dict", options=target, default=[]),
        server=dict(type="str"),
        namespace=dict(type="str", default=mc.DEFAULT_NAMESPACE),
        service_account=dict(type="str", default=mc.READER_SERVICE_ACCOUNT),
        manage_reader=dict(type="bool", default=True),
        rotate=dict(type="bool", default=False),
        remove_reader=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=60),
    )


def main():
    run_module(argspec(), remote_secret.run)


if __name__ == "__main__":
    main()
