# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this code is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.
"""The work of the two modules that read the control plane and change nothing: istio_info (what
is installed, and the gateways' Services, waited for in the same run) and istio_precheck (whether a
version can be installed here, before any change)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils import control_plane as cp
from ansible_collections.meshops.istio.plugins.module_utils import mesh_app
from ansible_collections.meshops.istio.plugins.module_utils import validation as val
from ansible_collections.meshops.istio.plugins.module_utils.apply import not_ready_message
from ansible_collections.meshops.istio.plugins.module_utils.kube import Cluster, KubeError


def info(module):
    """istio_info's result."""
    params = module.params
    gateways, workloads = params["gateways"], params["workloads"]
    val.require_names([(gw[key], "%s[%d].%s" % (option, index, key), "label")
                       for option in ("gateways", "workloads") for index, gw in enumerate(params[option])
                       for key in ("name", "namespace")])
    if params["wait_timeout"] < 0:
        raise val.InputError("wait_timeout must be 0 or more seconds.")
    cluster = Cluster(module)
    if params["wait"]:
        wait_ready(cluster, [_workload("Deployment", gw) for gw in gateways]
                   + [_workload(w["kind"], w) for w in workloads], params["wait_timeout"])
    found = cp.Inspector(cluster).gather(pods=params["proxies"], crds=params["crds"])
    if not params["proxies"]:
        found.pop("proxies", None)
    if gateways:
        found["gateways"], found["nodes"] = gateway_services(cluster, gateways)
    return dict(changed=False, **found)


def _workload(kind, ref):
    # A gateway's Deployment is named after it, as the istio/gateway chart names it.
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": ref["name"], "namespace": ref["namespace"]}}


def wait_ready(cluster, workloads, timeout):
    """Wait until every workload is rolled out and available (kubernetes.core's rules); KubeError naming
    those that are not (missing ones included) after ``timeout`` seconds."""
    not_ready = cluster.wait_ready(workloads, timeout)
    if not_ready:
        raise KubeError(not_ready_message(not_ready, timeout), reason="NotReady")


def gateway_services(cluster, gateways):
    """([{name, namespace, resources: [Service] or []}], Nodes): what the gateway_url filter needs for each
    gateway; the Nodes are listed once, and only when a Service is reached at a node port."""
    found = []
    for gw in gateways:
        service = cluster.get("v1", "Service", gw["name"], gw["namespace"])
        found.append(dict(name=gw["name"], namespace=gw["namespace"], resources=[service] if service else []))
    reached_at_nodes = any(mesh_app.needs_nodes(s) for gw in found for s in gw["resources"])
    return found, cluster.list("v1", "Node") if reached_at_nodes else []


def precheck(module):
    """istio_precheck's result; fails with every problem found, and what was found, when the
    version cannot be installed."""
    params = module.params
    # A missing revision with mode=canary is reported by plan() together with any other problem.
    val.require_names([(params["namespace"], "namespace", "label"), (params["revision"] or None, "revision", "label")])
    inspector = cp.Inspector(Cluster(module))
    installed = inspector.gather(crds=False)
    decision = cp.plan(installed, params["version"], params["revision"] or None, params["mode"],
                       params["allow_untested_kubernetes"])
    skipped = []
    problems = list(decision["problems"])
    if params["check_permissions"]:
        # An access review is a POST but stores nothing, so it is made in check mode too.
        denied = inspector.denied_permissions(params["namespace"])
        if denied is None:
            skipped.append("permissions: the API server does not serve SelfSubjectAccessReview")
        elif denied:
            problems.append(cp.permission_problem(denied))
    result = dict(changed=False, action=decision["action"], from_version=decision["from_version"],
                  problems=problems, checks_skipped=skipped, installed=installed)
    if problems:
        module.fail_json(msg="Istio %s%s cannot be installed here: %s" % (
            params["version"], " (revision %s)" % params["revision"] if params["revision"] else "",
            " ".join(problems)), **result)
    return result
