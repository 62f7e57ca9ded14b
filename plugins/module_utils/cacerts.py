# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this code is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.
"""istio_cacerts' work: the mesh's root CA on the controller (made once, under a lock) and the
cacerts Secret with an intermediate of it on each cluster (the certificates are made in
multicluster)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import os

from ansible_collections.meshops.istio.plugins.module_utils import multicluster as mc
from ansible_collections.meshops.istio.plugins.module_utils import validation as val
from ansible_collections.meshops.istio.plugins.module_utils.kube import (
    ApplyReport,
    Cluster,
    KubeError,
)

ROOT_CERT = "root-cert.pem"
ROOT_KEY = "root-key.pem"


class CacertsRun:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.key_size = self.params["key_size"] or (256 if self.params["key_type"] == "ec" else 4096)

    def _validate(self):
        """InputError for bad input, before the first request."""
        p = self.params
        problems = val.name_problems([(p["cluster"], "cluster", "label"), (p["namespace"], "namespace", "label")])
        if problems:
            raise val.InputError(" ".join(problems))
        for key in ("root_days", "days"):
            if p[key] < 1:
                raise val.InputError("%s must be at least 1 day, got %s." % (key, p[key]))
        if p["renew_within_days"] < 0 or p["renew_within_days"] >= p["days"]:
            raise val.InputError("renew_within_days (%s) must be 0 or more and less than days (%s), or every "
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


def run(module):
    """istio_cacerts' result."""
    return CacertsRun(module).execute()
