#!/usr/bin/python
# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this module is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: istio_namespace
short_description: Ensure namespaces exist with the right Istio sidecar injection setting
version_added: 0.1.0
author: meshops.istio developers (@meshops)
description:
  - Creates, labels or deletes namespaces for Istio sidecar injection.
  - O(injection=enabled) sets C(istio-injection=enabled), O(injection=revision) sets
    C(istio.io/rev=<revision>) for a revisioned control plane. The module never leaves both labels
    on a namespace, because Istio lets C(istio-injection) win and the revision would be silently ignored.
  - Pods only get (or lose) the sidecar when they are recreated. With O(restart_workloads=true) the module
    rolls the Deployments whose pods do not match the namespace's setting, the way
    C(kubectl rollout restart) does.
  - Labels and annotations other than the two injection labels are only added or updated, never removed.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - meshops.istio.api_options
attributes:
  check_mode:
    support: full
    description: Writes are sent as server-side dry runs; nothing is stored.
  diff_mode:
    support: full
    description: Shows the namespaces' labels and annotations before and after.
options:
  name:
    description:
      - Namespace name, or a list of names that all get the same settings.
    type: list
    elements: str
    required: true
    aliases: [names, namespace]
  state:
    description:
      - V(present) creates the namespaces if needed and sets their labels.
      - V(absent) deletes them, and with them everything they hold.
    type: str
    choices: [present, absent]
    default: present
  injection:
    description:
      - V(enabled) labels C(istio-injection=enabled) and removes C(istio.io/rev).
      - V(disabled) labels C(istio-injection=disabled) and removes C(istio.io/rev).
      - V(revision) labels C(istio.io/rev=<revision>) and removes C(istio-injection).
      - V(absent) removes both labels (the mesh's default policy then applies).
    type: str
    choices: [enabled, disabled, revision, absent]
    default: enabled
  revision:
    description:
      - The istiod revision to inject from; required with O(injection=revision), refused otherwise.
    type: str
  labels:
    description: Extra labels to set on the namespaces.
    type: dict
    default: {}
  annotations:
    description: Extra annotations to set on the namespaces.
    type: dict
    default: {}
  restart_workloads:
    description:
      - Restart Deployments whose pods do not match the injection setting (no sidecar although injection
        is on, a sidecar although it is off, or a sidecar from another revision).
      - Deployments whose pod template says C(sidecar.istio.io/inject=false) are left alone.
    type: bool
    default: false
  report_workloads:
    description:
      - Report the Deployments whose pods do not match the injection setting, without restarting them.
      - Implied by O(restart_workloads).
    type: bool
    default: false
notes:
  - Uses the namespace list, one merge patch per namespace that changes, and two lists (Deployments,
    Pods) per namespace when workloads are inspected.
seealso:
  - name: Istio sidecar injection
    description: How Istio decides whether a pod gets a sidecar.
    link: https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/
"""

EXAMPLES = r"""
# test expects: Namespace bookinfo: metadata.labels."istio-injection" == enabled
- name: Enable sidecar injection for the Bookinfo namespace
  meshops.istio.istio_namespace:
    name: bookinfo

# test needs: workloads in frontend and backend
# test expects: Namespace frontend: metadata.labels."istio.io/rev" == 1-28-0
# test expects: Deployment backend/api: spec.template.metadata.annotations."kubectl.kubernetes.io/restartedAt" != null
- name: Move two namespaces to the canary revision and restart their workloads
  meshops.istio.istio_namespace:
    name: [frontend, backend]
    injection: revision
    revision: 1-28-0
    restart_workloads: true

# test expects: Namespace legacy: metadata.labels."istio-injection" == disabled
# test expects: Namespace legacy: metadata.labels.team == payments
- name: Turn injection off and label the namespace for the team
  meshops.istio.istio_namespace:
    name: legacy
    injection: disabled
    labels:
      team: payments

# test needs: namespace scratch with a ConfigMap
# test expects: Namespace scratch absent
- name: Remove a namespace and everything in it
  meshops.istio.istio_namespace:
    name: scratch
    state: absent
"""

RETURN = r"""
namespaces:
  description: What was done to each namespace, in the order given.
  returned: always
  type: list
  elements: dict
  sample:
    - name: bookinfo
      action: updated
      labels_set: {istio-injection: enabled}
      labels_removed: [istio.io/rev]
      annotations_set: {}
      workloads_out_of_date: [{name: reviews-v1, reason: no istio-proxy sidecar, pods: [reviews-v1-5d8f-abcde]}]
      restarted: [reviews-v1]
  contains:
    name:
      description: Namespace name.
      type: str
    action:
      description: One of C(created), C(updated), C(unchanged), C(deleted), C(absent).
      type: str
    labels_set:
      description: Labels added or changed.
      type: dict
    labels_removed:
      description: Labels removed.
      type: list
    annotations_set:
      description: Annotations added or changed.
      type: dict
    workloads_out_of_date:
      description: Deployments whose pods do not match the injection setting (only when workloads are inspected).
      type: list
    restarted:
      description: Deployments restarted (or that would be, in check mode).
      type: list
diff:
  description: Namespaces before and after, when run with C(--diff).
  returned: when diff mode is on and something changed
  type: dict
  sample: {before: {bookinfo: {labels: {}}}, after: {bookinfo: {labels: {istio-injection: enabled}}}}
"""


from ansible_collections.meshops.istio.plugins.module_utils import injection as inj
from ansible_collections.meshops.istio.plugins.module_utils import namespace
from ansible_collections.meshops.istio.plugins.module_utils.module_run import run_module


def argspec():
    return dict(
        name=dict(type="list", elements="str", required=True, aliases=["names", "namespace"]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        injection=dict(type="str", choices=list(inj.INJECTION_MODES), default="enabled"),
        revision=dict(type="str"),
        labels=dict(type="dict", default={}),
        annotations=dict(type="dict", default={}),
        restart_workloads=dict(type="bool", default=False),
        report_workloads=dict(type="bool", default=False),
    )


def main():
    run_module(argspec(), namespace.run, required_if=[("injection", "revision", ("revision",))])


if __name__ == "__main__":
    main()
