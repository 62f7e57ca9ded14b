# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this code is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.
"""The work of the two modules that read the control plane and change nothing: istio_info (what
is installed) and istio_precheck (whether a version can be installed here, before any change)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils import control_plane as cp
from ansible_collections.meshops.istio.plugins.module_utils import validation as val
from ansible_collections.meshops.istio.plugins.module_utils.kube import Cluster


def info(module):
    """istio_info's result."""
    params = module.params
    found = cp.Inspector(Cluster(module)).gather(pods=params["proxies"], crds=params["crds"])
    if not params["proxies"]:
        found.pop("proxies", None)
    return dict(changed=False, **found)


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
