# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this code is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.
"""istio_remote_secret's work: the reader account on the source cluster, and the Secret with a
kubeconfig for it on every target cluster (the objects themselves are built in multicluster)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.meshops.istio.plugins.module_utils import multicluster as mc
from ansible_collections.meshops.istio.plugins.module_utils import validation as val
from ansible_collections.meshops.istio.plugins.module_utils.kube import (
    ApplyReport,
    Cluster,
    KubeError,
)

TARGET_AUTH = ("kubeconfig", "context", "host", "api_key", "validate_certs", "ca_cert", "client_cert",
               "client_key", "proxy", "no_proxy", "impersonate_user", "impersonate_groups")


def target_label(target, index):
    return target.get("name") or target.get("context") or target.get("host") or "targets[%d]" % index


class RemoteSecretRun:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.namespace = self.params["namespace"]
        self.cluster = self.params["cluster"]
        self.result = dict(changed=False, secret_name=mc.remote_secret_name(self.cluster), rotated=False,
                           source=[], targets=[])
        self.diff = dict(before={}, after={})

    # -- helpers ----------------------------------------------------------------------------
    def _record(self, where, report):
        for key, obj in report.diff["before"].items():
            self.diff["before"]["%s:%s" % (where, key)] = obj
        for key, obj in report.diff["after"].items():
            self.diff["after"]["%s:%s" % (where, key)] = obj
        if report.changed:
            self.result["changed"] = True

    def _targets(self):
        for index, target in enumerate(self.params["targets"]):
            auth = dict((k, target.get(k)) for k in TARGET_AUTH)
            yield target_label(target, index), auth

    def _target_cluster(self, label, auth):
        return self._on_target(label, lambda: Cluster(self.module, auth=auth))

    @staticmethod
    def _on_target(label, action):
        """Run ``action``; an error says which target it came from."""
        try:
            return action()
        except KubeError as e:
            raise KubeError("Target %s: %s" % (label, e.message), e.kind, e.name, e.namespace, e.status,
                            e.reason) from None

    def _validate(self):
        """InputError for bad input, before the first request."""
        # The cluster name becomes part of the Secret name istio-remote-secret-<cluster> and its data key.
        problems = val.name_problems([(self.cluster, "cluster", "label"), (self.namespace, "namespace", "label"),
                                      (self.params["service_account"], "service_account", "subdomain")])
        if problems:
            raise val.InputError(" ".join(problems))
        for index, target in enumerate(self.params["targets"]):
            if not (target.get("kubeconfig") or target.get("context") or target.get("host")):
                # K8S_AUTH_* are the source's, so such a target would fall back to ~/.kube/config.
                raise val.InputError("targets[%d] (%s) gives no kubeconfig, context or host: say how to reach "
                                     "that cluster (its kubeconfig and context, or host, api_key and ca_cert)."
                                     % (index, target_label(target, index)))
        if self.params["wait_timeout"] < 1:
            raise val.InputError("wait_timeout must be at least 1 second, got %s." % self.params["wait_timeout"])
        if self.params["remove_reader"] and self.params["state"] != "absent":
            raise val.InputError("remove_reader only applies with state: absent.")
        if self.params["rotate"] and self.params["state"] != "present":
            raise val.InputError("rotate only applies with state: present.")
        if self.params["server"]:
            problem = mc.server_problem(self.params["server"])
            if problem and "not a URL" in problem:
                raise val.InputError("server: %s." % problem)

    def _reader_objects(self):
        objects = mc.reader_objects(self.namespace, self.params["service_account"])
        # Without manage_reader the account and its RBAC belong to someone else (Istio's charts).
        return objects if self.params["manage_reader"] else objects[-1:]

    # -- present ----------------------------------------------------------------------------
    def _connect_targets(self):
        """[(label, Cluster)] for every target, each checked (kubeconfig file, context, the API server
        answering, and for a real run the namespace being there) before anything is written anywhere:
        a bad last target must not leave the reader account and the first targets' secrets behind."""
        connected = []
        for label, auth in self._targets():
            try:
                target = self._target_cluster(label, auth)
            except KubeError as e:
                self.module.fail_json(msg="%s; nothing was changed on any cluster." % e.message.rstrip("."),
                                      error=e.as_dict())
            real_run = self.params["state"] == "present" and not self.module.check_mode
            if real_run and self._on_target(label, lambda t=target: t.get("v1", "Namespace", self.namespace)) is None:
                self.module.fail_json(msg="Target %s: namespace %s does not exist there. Install Istio on it "
                                          "first (its istiod is what reads the remote secret); nothing was "
                                          "changed on any cluster." % (label, self.namespace))
            connected.append((label, target))
        return connected

    def present(self):
        source = Cluster(self.module)
        targets = self._connect_targets()
        report = ApplyReport()
        objects = self._reader_objects()
        token_obj = objects[-1]
        token_name = token_obj["metadata"]["name"]
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        if source.get("v1", "Namespace", self.namespace) is None:
            # Created only when missing: applying a bare Namespace again would drop the labels
            # that other steps (network, injection) apply with the same field manager.
            source.apply_objects([namespace], report)
            if self.module.check_mode:
                # Dry runs of objects in a namespace that does not exist yet could only 404.
                for obj in objects:
                    report.add(obj, "created", None, obj)
                objects = []
        if self.params["rotate"]:
            existing = source.get("v1", "Secret", token_name, self.namespace)
            if existing is not None:
                source.delete_objects([token_obj], report)
                self.result["rotated"] = True
        source.apply_objects(objects, report)
        self.result["source"] = report.results
        self._record(self.params["cluster"], report)
        self.result["token_secret"] = "%s/%s" % (self.namespace, token_name)

        server = self.params["server"] or source.host
        self.result["server"] = server
        problem = mc.server_problem(server)
        if problem:
            self.module.warn("The remote secret for %s points at %s, and %s: other clusters' istiod cannot reach "
                             "it there. Set server (the inventory's api_server) to an address the other clusters "
                             "can reach." % (self.cluster, server, problem))

        token, ca_data = self._wait_for_token(source, token_name)
        if token is None:
            # Check mode before the token Secret exists: nothing to build a kubeconfig from.
            self._predict_targets(targets)
            return
        mc.no_log(self.module, token)
        kubeconfig = mc.build_kubeconfig(self.cluster, server, ca_data, token)
        secret = mc.remote_secret(self.cluster, kubeconfig, self.namespace)
        mc.no_log(self.module, secret["data"][self.cluster])
        for label, target in targets:
            target_report = self._apply_to_target(label, target, secret)
            self.result["targets"].append(dict(name=label, action=target_report.results[-1]["action"]))
            self._record(label, target_report)

    def _apply_to_target(self, label, target, secret):
        def apply():
            if target.get("v1", "Namespace", self.namespace) is None:
                if self.module.check_mode:
                    # An earlier step of the same (checked) run would have made it.
                    report = ApplyReport()
                    report.add(secret, "created", None, secret)
                    return report
                raise KubeError("namespace %s does not exist there. Install Istio on it first (its istiod is "
                                "what reads the remote secret)." % self.namespace, "Namespace", self.namespace,
                                reason="NotFound")
            return target.apply_objects([secret], ApplyReport())
        return self._on_target(label, apply)

    def _wait_for_token(self, source, token_name):
        deadline = time.time() + self.params["wait_timeout"]
        delay = 0.2
        while True:
            secret = source.get("v1", "Secret", token_name, self.namespace)
            token, ca_data = mc.token_from_secret(secret)
            if token:
                return token, ca_data
            if self.module.check_mode and (secret is None or self.result["rotated"]):
                return None, None
            if time.time() >= deadline:
                raise KubeError(
                    "The token Secret %s/%s on cluster %s still has no token and ca.crt after %ss. Kubernetes' "
                    "token controller fills it in; check that kube-controller-manager runs, that the "
                    "ServiceAccount %s exists, or raise wait_timeout."
                    % (self.namespace, token_name, self.cluster, self.params["wait_timeout"],
                       self.params["service_account"]), "Secret", token_name, self.namespace, reason="Timeout")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _predict_targets(self, targets):
        name = mc.remote_secret_name(self.cluster)
        for label, target in targets:
            exists = self._on_target(label, lambda t=target: t.get("v1", "Namespace", self.namespace)) is not None and (
                self._on_target(label, lambda t=target: t.get("v1", "Secret", name, self.namespace)) is not None)
            action = "updated" if exists else "created"
            self.result["targets"].append(dict(name=label, action=action))
            self.result["changed"] = True
            key = "%s:Secret/%s/%s" % (label, self.namespace, name)
            self.diff["before"][key] = {"data": {self.cluster: "<hidden>"}} if exists else {}
            self.diff["after"][key] = {"data": {self.cluster: "<new token, known after the run>"}}

    # -- absent -----------------------------------------------------------------------------
    def absent(self):
        secret = mc.remote_secret(self.cluster, "", self.namespace)
        # The source too is reached before any target is changed.
        source = Cluster(self.module) if self.params["remove_reader"] else None
        for label, target in self._connect_targets():
            report = self._on_target(label, lambda t=target: t.delete_objects([secret]))
            self.result["targets"].append(dict(name=label, action=report.results[-1]["action"]))
            self._record(label, report)
        if source is not None:
            report = source.delete_objects(self._reader_objects())
            self.result["source"] = report.results
            self._record(self.cluster, report)

    def execute(self):
        self._validate()
        if self.params["state"] == "present":
            self.present()
        else:
            self.absent()
        if self.module._diff:
            self.result["diff"] = self.diff
        return self.result


def run(module):
    """istio_remote_secret's result."""
    return RemoteSecretRun(module).execute()
