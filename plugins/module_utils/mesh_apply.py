# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this code is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.
"""istio_apply's work: an application's objects applied (apply.ApplyRun) with what its role needs
around them in the same run (mesh_app): the Istio API version, the injected namespace, the sidecar
check or restart and the ingress address."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils import injection as inj
from ansible_collections.meshops.istio.plugins.module_utils import mesh_app
from ansible_collections.meshops.istio.plugins.module_utils import validation as val
from ansible_collections.meshops.istio.plugins.module_utils.apply import (
    ApplyRun,
    ObjectsError,
    hidden_objects,
    load_objects,
    not_ready_message,
)
from ansible_collections.meshops.istio.plugins.module_utils.kube import Cluster, KubeError


def _check_options(params):
    """Option combinations the argspec cannot express; raises ObjectsError."""
    for kind, names in params["create_only"].items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ObjectsError("create_only.%s is %r; give a list of object names." % (kind, names))
    if params["wait_timeout"] < 0 or params["wait_sleep"] <= 0:
        raise ObjectsError("wait_timeout must be 0 or more and wait_sleep more than 0 seconds.")
    ns = params["namespace_injection"]
    if params["sidecars"] != "skip" and not ns:
        raise ObjectsError("sidecars=%s needs namespace_injection (the namespace whose injection setting the pods "
                           "must match)." % params["sidecars"])
    if ns:
        try:
            inj.validate(ns["injection"], ns["revision"])
        except inj.InjectionError as e:
            raise ObjectsError("namespace_injection: %s" % e) from e


def _sidecar_phase(cluster, params, objects, wait_sleep):
    """(without_sidecar, restarted) for the applied Deployments of the injected namespace."""
    ns = params["namespace_injection"]
    deployments = [o for o in objects if o["kind"] == "Deployment" and o["metadata"].get("namespace") == ns["name"]]
    stale = mesh_app.without_sidecar(cluster, ns["name"], deployments, ns["injection"], ns["revision"])
    if params["sidecars"] != "restart" or not stale:
        return stale, []
    restarted = [w["name"] for w in stale]
    mesh_app.restart(cluster, ns["name"], restarted)
    if cluster.check_mode:
        return stale, restarted
    waited = [o for o in deployments if o["metadata"]["name"] in restarted]
    not_ready = cluster.wait_ready(waited, params["wait_timeout"], sleep=wait_sleep)
    if not_ready:
        raise KubeError(not_ready_message(not_ready, params["wait_timeout"]), reason="NotReady")
    return mesh_app.without_sidecar(cluster, ns["name"], deployments, ns["injection"], ns["revision"]), restarted


def _apply(module, objects):
    params = module.params
    cluster = Cluster(module, field_manager=params["field_manager"])
    todo = objects
    wanted = params["istio_api_version"]
    if wanted:
        version = mesh_app.served_istio_version(cluster, wanted)
        if version:
            todo = mesh_app.with_istio_version(objects, version)
        elif params["state"] == "present" and not cluster.check_mode:
            # Before any write: half an application (workloads without their routing) helps nobody.
            ns = params["namespace_injection"] or {}
            raise KubeError(mesh_app.istio_missing_message(wanted, ns.get("name") or "of the objects"),
                            reason="IstioNotInstalled")
    ns = params["namespace_injection"]
    if params["state"] == "absent":
        output = ApplyRun(cluster, todo, create_only=params["create_only"]).absent().result(diff=module._diff)
        output.update(without_sidecar=[], restarted=[], ingress=dict(resources=[], nodes=[], routes=[]))
        return output
    namespace = (ns["name"], inj.label_changes(ns["injection"], ns["revision"])) if ns else None
    worker = ApplyRun(cluster, todo, create_only=params["create_only"], namespace=namespace)
    worker.present(wait=params["wait"], wait_timeout=params["wait_timeout"], wait_sleep=params["wait_sleep"])
    output = worker.result(diff=module._diff)
    output.update(without_sidecar=[], restarted=[], ingress=dict(resources=[], nodes=[], routes=[]))
    if params["sidecars"] != "skip" and not (cluster.check_mode and worker.namespace_action == "created"):
        output["without_sidecar"], output["restarted"] = _sidecar_phase(cluster, params, todo, params["wait_sleep"])
        output["changed"] = output["changed"] or bool(output["restarted"])
    if params["ingress_service"]:
        svc = params["ingress_service"]
        output["ingress"] = mesh_app.ingress(cluster, svc["name"], svc["namespace"])
    return output


def run(module):
    """istio_apply's result."""
    params = module.params
    try:
        objects = load_objects(params["objects"])
        _check_options(params)
    except ObjectsError as e:
        raise val.InputError(str(e)) from None
    # The objects may hold Secrets: what Ansible shows of the task's arguments gets them without values.
    invocation = dict(module_args=dict(params, objects=hidden_objects(objects)))
    try:
        output = _apply(module, objects)
    except KubeError as e:
        module.fail_json(msg=e.message, error=e.as_dict(), invocation=invocation)
    return dict(output, invocation=invocation)
