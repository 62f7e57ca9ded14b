#!/usr/bin/python
# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this module is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: istio_precheck
short_description: Check that an Istio version can be installed or upgraded to, before changing anything
version_added: 0.1.0
author: meshops.istio developers (@meshops)
description:
  - Reads the cluster and decides what installing Istio O(version) as O(revision) would be - a fresh
    install, an in-place upgrade or downgrade, a canary (a new revision beside the running ones), or nothing
    to do - and fails with every reason not to go ahead.
  - Refuses when the Kubernetes version is outside the range the Istio minor version supports; when an in-place
    change would move more than one minor version (a canary may span two); when the revision name is not valid,
    is C(default), is already used by a revision tag, or (for a canary) already runs another version; and when
    the credentials lack the permissions an install needs (checked with C(SelfSubjectAccessReview)).
  - Changes nothing (an access review is a C(POST), but the API server stores nothing for it).
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - meshops.istio.api_options
attributes:
  check_mode:
    support: full
    description: Reads only (access reviews store nothing), the same as without check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
options:
  version:
    description: The Istio version to install, as C(MAJOR.MINOR.PATCH).
    type: str
    required: true
  revision:
    description:
      - Revision of the control plane to install; empty for a control plane without a revision (C(istiod)).
    type: str
    default: ""
  mode:
    description:
      - V(in_place) installs, upgrades or downgrades the control plane of O(revision) itself.
      - V(canary) installs O(revision) beside the control planes already running; O(revision) is required.
    type: str
    choices: [in_place, canary]
    default: in_place
  namespace:
    description: Namespace of the control plane (for the permission check).
    type: str
    default: istio-system
  allow_untested_kubernetes:
    description: Go ahead on a Kubernetes version newer than the newest one the Istio version supports.
    type: bool
    default: false
  check_permissions:
    description: Check with C(SelfSubjectAccessReview) that the credentials may create what an install creates.
    type: bool
    default: true
notes:
  - The supported Kubernetes ranges come from one table in C(plugins/module_utils/control_plane.py); an Istio minor
    version that is not in the table is not range-checked.
seealso:
  - module: meshops.istio.istio_info
  - name: Istio supported releases
    description: Kubernetes versions each Istio release supports.
    link: https://istio.io/latest/docs/releases/supported-releases/
"""

EXAMPLES = r"""
# test needs: istiod 1.27.3
# test expects: result: action == upgrade
# test expects: result: from_version == '1.27.3'
- name: Check that Istio 1.28.0 can go on this cluster
  meshops.istio.istio_precheck:
    version: 1.28.0
  register: precheck

# test needs: istiod 1.27.3
# test expects: result: action == canary
- name: Check a canary upgrade to a new revision
  meshops.istio.istio_precheck:
    version: 1.28.0
    revision: 1-28-0
    mode: canary
"""

RETURN = r"""
action:
  description: What installing would do - C(install), C(upgrade), C(downgrade), C(canary) or C(unchanged).
  returned: success
  type: str
  sample: upgrade
from_version:
  description: Version the revision runs now, if it exists.
  returned: success
  type: str
  sample: 1.23.0
problems:
  description: Reasons not to go ahead (empty on success; on failure they are also in C(msg)).
  returned: always
  type: list
  elements: str
  sample: []
checks_skipped:
  description: Checks that could not be made, and why.
  returned: always
  type: list
  elements: str
  sample: ["permissions: the API server does not serve SelfSubjectAccessReview"]
installed:
  description: What M(meshops.istio.istio_info) reports for the cluster (revisions, version, webhooks, CRDs, namespaces).
  returned: always
  type: dict
  sample: {installed: true, version: 1.23.0, default_revision: default, kubernetes_version: 1.30.0}
"""

from ansible_collections.meshops.istio.plugins.module_utils import control_plane as cp
from ansible_collections.meshops.istio.plugins.module_utils import mesh_info
from ansible_collections.meshops.istio.plugins.module_utils.module_run import run_module


def argspec():
    return dict(
        version=dict(type="str", required=True),
        revision=dict(type="str", default=""),
        mode=dict(type="str", choices=["in_place", "canary"], default="in_place"),
        namespace=dict(type="str", default=cp.DEFAULT_NAMESPACE),
        allow_untested_kubernetes=dict(type="bool", default=False),
        check_permissions=dict(type="bool", default=True),
    )


def main():
    run_module(argspec(), mesh_info.precheck)


if __name__ == "__main__":
    main()
