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

import fcntl
import os

from ansible_collections.meshops.istio.plugins.module_utils import multicluster as mc
from ansible_collections.meshops.istio.plugins.module_utils import validation as val
from ansible_collections.meshops.istio.plugins.module_utils.kube import (
    ApplyReport,
    Cluster,
    KubeError,
    new_module,
    run,
)

ROOT_CERT = "root-cert.pem"
ROOT_KEY = "root-key.pem"


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


class CacertsRun:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.key_size = self.params["key_size"] or (256 if self.params["key_type"] == "ec" else 4096)

    def _validate(self):
        p = self.params
        problems = val.name_problems([(p["cluster"], "cluster", "label"), (p["namespace"], "namespace", "label")])
        if problems:
            self.module.fail_json(msg=" ".join(problems))
        for key in ("root_days", "days"):
            if p[key] < 1:
                self.module.fail_json(msg="%s must be at least 1 day, got %s." % (key, p[key]))
        if p["renew_within_days"] < 0 or p["renew_within_days"] >= p["days"]:
            self.module.fail_json(msg="renew_within_days (%s) must be 0 or more and less than days (%s), or every "
                                      "run would issue a new intermediate." % (p["renew_within_days"], p["days"]))

    def _root(self):
        """(cert_pem, key_pem, created) of the mesh root, made under a lock so that parallel
        hosts (forks) share one root instead of racing to make two."""
        root_dir = self.params["root_dir"]
        cert_path, key_path = os.path.join(root_dir, ROOT_CERT), os.path.join(root_dir, ROOT_KEY)
        if self.module.check_mode:
            if os.path.exists(cert_path) or os.path.exists(key_path):
                return self._read_root(cert_path, key_path) + (False,)
            cert, key = self._new_root()
            return cert, key, True
        try:
            os.makedirs(root_dir, mode=0o700, exist_ok=True)
        except OSError as e:
            self.module.fail_json(msg="Cannot create root_dir %s: %s" % (root_dir, e))
        with open(os.path.join(root_dir, ".root.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if os.path.exists(cert_path) or os.path.exists(key_path):
                return self._read_root(cert_path, key_path) + (False,)
            cert, key = self._new_root()
            self._write(key_path, key, 0o600)
            self._write(cert_path, cert, 0o644)
            return cert, key, True

    def _new_root(self):
        return mc.new_root_ca(self.params["organization"], days=self.params["root_days"],
                              key_type=self.params["key_type"], key_size=self.key_size)

    def _write(self, path, text, mode):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    def _read_root(self, cert_path, key_path):
        missing = [p for p in (cert_path, key_path) if not os.path.exists(p)]
        if missing:
            msg = ("%s is missing beside the other root CA file. Put both %s and %s in %s (or neither, to have a new "
                   "root made)." % (missing[0], ROOT_CERT, ROOT_KEY, self.params["root_dir"]))
            self.module.fail_json(msg=msg)
        with open(cert_path) as f:
            cert = f.read()
        with open(key_path) as f:
            key = f.read()
        mc.no_log(self.module, key)
        try:
            mc.check_root_pair(cert, key)
        except mc.MulticlusterError as e:
            self.module.fail_json(msg="Root CA in %s cannot be used: %s" % (self.params["root_dir"], e))
        return cert, key

    def present(self, cluster):
        p = self.params
        root_cert, root_key, root_created = self._root()
        mc.no_log(self.module, root_key)
        result = dict(changed=False, root_created=root_created, root=mc.describe_cert(root_cert))
        live = cluster.get("v1", "Secret", mc.CACERTS_SECRET, p["namespace"])
        files = mc.files_of(live)
        for value in files.values():
            mc.no_log(self.module, value)
        problem = mc.cacerts_problem(files, root_cert, p["renew_within_days"]) if live else "there was no cacerts Secret"
        foreign = live is not None and problem and files.get("root-cert.pem", "").strip() != root_cert.strip()
        if foreign and not p["force"]:
            msg = ("The cacerts Secret in %s/%s on cluster %s was not issued by the root CA in %s: %s. Replacing it "
                   "splits trust until istiod and every workload restart. Run with force: true to replace it, or put "
                   "the root it came from in root_dir."
                   % (p["namespace"], mc.CACERTS_SECRET, p["cluster"], p["root_dir"], problem))
            self.module.fail_json(msg=msg)
        if problem is None and not p["rotate"]:
            result.update(secret_action="unchanged", intermediate=mc.describe_cert(files["ca-cert.pem"]))
            return result
        files = mc.new_intermediate_ca(root_cert, root_key, p["cluster"], organization=p["organization"],
                                       days=p["days"], key_type=p["key_type"], key_size=self.key_size,
                                       namespace=p["namespace"])
        mc.no_log(self.module, files["ca-key.pem"])
        secret = mc.cacerts_secret(files, p["namespace"])
        for value in secret["data"].values():
            mc.no_log(self.module, value)
        if live is None and self.module.check_mode and cluster.get("v1", "Namespace", p["namespace"]) is None:
            # The namespace is made earlier in the same (checked) run; a dry run here could only 404.
            report = ApplyReport()
            report.add(secret, "created", None, secret)
        else:
            report = cluster.apply_objects([secret])
        result.update(changed=True, secret_action=report.results[0]["action"], reason=problem or "rotate was asked",
                      intermediate=mc.describe_cert(files["ca-cert.pem"]))
        if live is not None:
            self.module.warn("cacerts on cluster %s were replaced (%s). istiod reads them when it starts: restart "
                             "istiod, then the workloads, so that they get certificates from the new intermediate."
                             % (p["cluster"], result["reason"]))
        if self.module._diff:
            result["diff"] = report.diff
        return result

    def absent(self, cluster):
        secret = {"apiVersion": "v1", "kind": "Secret",
                  "metadata": {"name": mc.CACERTS_SECRET, "namespace": self.params["namespace"]}}
        report = cluster.delete_objects([secret])
        result = dict(changed=report.changed, secret_action=report.results[0]["action"])
        if self.module._diff:
            result["diff"] = report.diff
        return result

    def execute(self):
        self._validate()
        cluster = Cluster(self.module)
        try:
            if self.params["state"] == "present":
                return self.present(cluster)
            return self.absent(cluster)
        except mc.MulticlusterError as e:
            raise KubeError(str(e)) from None


def main():
    module = new_module(argspec(), required_if=[("state", "present", ("root_dir",))])
    result = run(module, CacertsRun(module).execute)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
