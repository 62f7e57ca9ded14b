# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this code is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.
"""istio_namespace's work: namespaces with the injection label Istio reads, and which of their
workloads still run without the sidecar (or with another revision's)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils import injection as inj
from ansible_collections.meshops.istio.plugins.module_utils import validation as val
from ansible_collections.meshops.istio.plugins.module_utils.kube import Cluster
from ansible_collections.meshops.istio.plugins.module_utils.mesh_app import ensure_namespace, restart


def check_options(params):
    """InputError for options that cannot work together or names Kubernetes would refuse."""
    try:
        inj.validate(params["injection"], params["revision"])
    except inj.InjectionError as e:
        raise val.InputError(str(e)) from None
    # Every name before the first write: a bad one further down the list must not leave
    # the ones before it created.
    val.require_names(val.list_checks(params["name"], "namespace") + [(params["revision"], "revision", "label")])


def _meta_view(namespace):
    meta = (namespace or {}).get("metadata") or {}
    return dict(labels=meta.get("labels") or {}, annotations=meta.get("annotations") or {})


class NamespaceRun:
    def __init__(self, module, cluster):
        self.module = module
        self.cluster = cluster
        self.params = module.params
        self.diff = dict(before={}, after={})

    def execute(self):
        existing = dict((ns["metadata"]["name"], ns) for ns in self.cluster.list("v1", "Namespace"))
        names = list(dict.fromkeys(self.params["name"]))
        if self.params["state"] == "absent":
            return [self.remove(name, existing.get(name)) for name in names]
        return [self.ensure(name, existing.get(name)) for name in names]

    def remove(self, name, live):
        if live is None:
            return dict(name=name, action="absent")
        self.cluster.delete_objects([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}])
        self.diff["before"][name] = _meta_view(live)
        self.diff["after"][name] = None
        return dict(name=name, action="deleted")

    def ensure(self, name, live):
        labels = dict((k, str(v)) for k, v in self.params["labels"].items())
        labels.update(inj.label_changes(self.params["injection"], self.params["revision"]))
        annotations = dict((k, str(v)) for k, v in self.params["annotations"].items())
        result = dict(name=name)
        result["action"], after, change = ensure_namespace(self.cluster, name, live, labels, annotations)
        result.update(
            labels_set=dict((k, v) for k, v in (change.get("labels") or {}).items() if v is not None),
            labels_removed=sorted(k for k, v in (change.get("labels") or {}).items() if v is None),
            annotations_set=change.get("annotations") or {},
        )
        if result["action"] != "unchanged":
            self.diff["before"][name] = _meta_view(live) if live else None
            self.diff["after"][name] = _meta_view(after)
        if self.params["restart_workloads"] or self.params["report_workloads"]:
            self.inspect_workloads(name, live is None, result)
        return result

    def inspect_workloads(self, name, created, result):
        result["workloads_out_of_date"] = []
        result["restarted"] = []
        if created:
            return
        deployments = self.cluster.list("apps/v1", "Deployment", namespace=name)
        if not deployments:
            return
        pods = self.cluster.list("v1", "Pod", namespace=name)
        stale = inj.workloads_out_of_date(deployments, pods, self.params["injection"], self.params["revision"])
        result["workloads_out_of_date"] = stale
        if not self.params["restart_workloads"]:
            return
        result["restarted"] = [workload["name"] for workload in stale]
        restart(self.cluster, name, result["restarted"])


def run(module):
    """istio_namespace's result: every namespace's action, and the diff when asked."""
    check_options(module.params)
    worker = NamespaceRun(module, Cluster(module))
    results = worker.execute()
    changed = any(r["action"] in ("created", "updated", "deleted") or r.get("restarted") for r in results)
    output = dict(changed=changed, namespaces=results)
    if module._diff and changed:
        output["diff"] = worker.diff
    return output
