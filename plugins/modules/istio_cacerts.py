#!/usr/bin/python
# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this code is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: istio_cacerts
short_description: Give a cluster an intermediate CA under the mesh's shared root (the cacerts Secret)
version_added: 0.1.0
author: meshops.istio developers (@meshops)
description:
  - Clusters of one mesh must trust each other's workload certificates, so every istiod signs with an
    intermediate CA issued by one shared root. istiod reads it from the Secret C(cacerts) in its
    namespace (keys C(ca-cert.pem), C(ca-key.pem), C(root-cert.pem), C(cert-chain.pem)) when it
    starts; run this module before installing istiod.
  - The root CA lives in O(root_dir) on the machine that runs Ansible, as C(root-cert.pem) and
    C(root-key.pem) (the names Istio's C(tools/certs) use). When they are missing the module makes
    them (key file mode 0600); to use your own root, put those two files there.
  - A cluster whose C(cacerts) already hold an intermediate of this root that is not about to expire
    is left alone. C(cacerts) from another root are only replaced with O(force=true), because
    workloads with certificates from the old root stop trusting the rest of the mesh until they restart.
  - Private keys never appear in the result, the diff or the log.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - meshops.istio.api_options
attributes:
  check_mode:
    support: full
    description:
      - Nothing is written on disk, and the Secret is sent as a server-side dry run.
  diff_mode:
    support: full
    description:
      - The Secret appears with its keys, never their values.
requirements:
  - cryptography
options:
  cluster:
    description: Name of the cluster; it goes into the intermediate CA's subject (C(L=<cluster>)).
    type: str
    required: true
  state:
    description:
      - V(present) makes sure the cluster has C(cacerts) issued by the root.
      - V(absent) removes the C(cacerts) Secret (istiod falls back to its self-signed CA on its next start).
    type: str
    choices: [present, absent]
    default: present
  root_dir:
    description:
      - Directory for C(root-cert.pem) and C(root-key.pem) on the machine running Ansible. Created if missing.
      - Required with O(state=present). Keep it safe, it holds the key of the whole mesh's trust.
    type: path
  namespace:
    description: Namespace of istiod.
    type: str
    default: istio-system
  organization:
    description: Organization (C(O=)) of the certificates made.
    type: str
    default: Istio
  key_type:
    description: Key algorithm for new CAs.
    type: str
    choices: [rsa, ec]
    default: rsa
  key_size:
    description: Key size; RSA 2048 or more (default 4096, as Istio's C(tools/certs)), EC 256 or 384 (default 256).
    type: int
  root_days:
    description: Validity of a new root CA, in days.
    type: int
    default: 3650
  days:
    description: Validity of a new intermediate CA, in days.
    type: int
    default: 730
  renew_within_days:
    description: Issue a new intermediate when the current one expires within this many days.
    type: int
    default: 30
  rotate:
    description: Issue a new intermediate even though the current one is fine.
    type: bool
    default: false
  force:
    description: Replace C(cacerts) that another root issued (or that are incomplete) instead of failing.
    type: bool
    default: false
seealso:
  - name: Plug in CA certificates
    description: Istio's guide to the cacerts Secret.
    link: https://istio.io/latest/docs/tasks/security/cert-management/plugin-ca-cert/
  - module: meshops.istio.istio_remote_secret
"""

EXAMPLES = r"""
# test needs: clusters inventory, istio-system on both clusters
# test expects: Secret istio-system/cacerts in primary: length(data) == 4
# test expects: Secret istio-system/cacerts in burst: sort(keys(data)) == [ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem]
- name: Give each cluster of the inventory an intermediate CA of the mesh root
  meshops.istio.istio_cacerts:
    cluster: "{{ istio_cluster_name }}"
    root_dir: "{{ playbook_dir }}/../certs"

# test needs: mesh root in ~/mesh-ca, istio-system on both clusters
# test expects: result: secret_action == updated
# test expects: result: root.subject == 'CN=Mesh Root CA,O=Example'
- name: >-
    Move the burst cluster to a root made elsewhere (root-cert.pem and root-key.pem copied into ~/mesh-ca);
    force replaces the CA of the old root: restart istiod and workloads afterwards
  meshops.istio.istio_cacerts:
    context: burst
    cluster: burst
    root_dir: ~/mesh-ca
    key_type: ec
    force: true

# test expects: Secret istio-system/cacerts in burst absent
- name: Take the CA away (istiod falls back to its self-signed CA on its next start)
  meshops.istio.istio_cacerts:
    context: burst
    cluster: burst
    state: absent
"""

RETURN = r"""
secret_action:
  description: What happened to the C(cacerts) Secret.
  returned: always
  type: str
  sample: created
  choices: [created, updated, unchanged, deleted, absent]
reason:
  description: Why a new intermediate CA was issued.
  returned: when one was
  type: str
  sample: there was no cacerts Secret
root_created:
  description: Whether the root CA was made in this run (or would be, in check mode).
  returned: when O(state=present)
  type: bool
  sample: false
root:
  description: The root CA (public facts only).
  returned: when O(state=present)
  type: dict
  sample: {subject: "CN=Root CA,O=Istio", issuer: "CN=Root CA,O=Istio", serial: 4f1a,
           not_after: "2035-01-01T00:00:00+00:00", sha256: 9c0f}
intermediate:
  description: The cluster's intermediate CA now in C(cacerts) (public facts only).
  returned: when O(state=present)
  type: dict
  sample: {subject: "CN=Intermediate CA,L=burst,O=Istio", issuer: "CN=Root CA,O=Istio", serial: 77b2,
           not_after: "2027-01-01T00:00:00+00:00", sha256: 1d2e}
diff:
  description: The Secret before and after, keys only.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.meshops.istio.plugins.module_utils import cacerts
from ansible_collections.meshops.istio.plugins.module_utils import multicluster as mc
from ansible_collections.meshops.istio.plugins.module_utils.module_run import run_module


def argspec():
    return dict(
        cluster=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        root_dir=dict(type="path"),
        namespace=dict(type="str", default=mc.DEFAULT_NAMESPACE),
        organization=dict(type="str", default="Istio"),
        key_type=dict(type="str", choices=["rsa", "ec"], default="rsa"),
        key_size=dict(type="int"),
        root_days=dict(type="int", default=3650),
        days=dict(type="int", default=730),
        renew_within_days=dict(type="int", default=30),
        rotate=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
    )


def main():
    run_module(argspec(), cacerts.run, required_if=[("state", "present", ("root_dir",))])


if __name__ == "__main__":
    main()
