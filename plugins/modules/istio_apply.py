#!/usr/bin/python
# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this module is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: istio_apply
short_description: Apply a list of Kubernetes objects, writing only what changes, and wait for them
version_added: 0.2.0
author: meshops.istio developers (@meshops)
description:
  - Server-side applies O(objects) in the order given (so DestinationRules come before the VirtualServices that
    name their subsets, CRDs before their objects), or deletes them in reverse order.
  - Reads what exists one kind and namespace at a time (one LIST for several objects of a kind, a GET for a
    single one) and sends no write at all for an object that already holds every field it would apply;
    C(kubernetes.core.k8s) sends a PATCH for every object, changed or not.
  - One task for a whole phase of a role - apply, then wait for what was applied - so a role starts one process
    where it used to start one per step.
  - Objects named in O(create_only) are created when missing and otherwise left as they are, for objects that
    another owner moves once they exist (a release moving a VirtualService's weights).
  - The roles of this collection apply their objects with it; M(kubernetes.core.k8s) remains the module for
    everything it offers beyond this (templates, merge types, label selectors on deletion).
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - meshops.istio.api_options
attributes:
  check_mode:
    support: full
    description:
      - Writes are sent as server-side dry runs; nothing is stored.
      - An object the API cannot dry-run because an earlier object of the same run was only dry-run (its namespace
        would be created first, or its kind's CRD would) is reported as created and listed in RV(pending).
  diff_mode:
    support: full
    description: Shows every object that changes, before and after; Secrets show their keys, never their values.
options:
  objects:
    description:
      - The objects, in the order they are applied. A list of objects, a string of YAML documents (a
        manifest, for example from a template lookup), or a list mixing both; a C(List) object is unpacked and empty
        documents are skipped.
      - Every object needs C(apiVersion), C(kind) and C(metadata.name); namespaced ones need
        C(metadata.namespace).
    type: raw
    required: true
  state:
    description:
      - V(present) applies the objects.
      - V(absent) deletes them, last first; objects that do not exist, or whose kind the API does not serve, count
        as absent.
    type: str
    choices: [present, absent]
    default: present
  field_manager:
    description:
      - The field manager of the server-side apply. A manager that applies an object again without some of its
        fields removes them, so give each owner of an object its own manager.
    type: str
    default: meshops-istio
  create_only:
    description:
      - "Objects created when missing and then left as they are, by kind, for example
        C({VirtualService: [reviews], DestinationRule: [reviews]}). The ones that exist are listed in RV(kept)."
    type: dict
    default: {}
  wait:
    description:
      - After applying, wait until every applied Deployment, DaemonSet and StatefulSet has rolled out and is
        available (the rules of C(kubernetes.core.k8s)'s wait) and every CustomResourceDefinition is
        Established. Objects that are ready already cost no further request.
      - The task fails, naming the objects and their state, when they are not ready within O(wait_timeout).
      - Nothing is waited for in check mode (nothing was applied).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait with O(wait).
    type: int
    default: 300
  wait_sleep:
    description: Seconds between two reads while waiting.
    type: float
    default: 1
notes:
  - Requests for N objects of K kinds (and namespaces) that exist and do not change - at most K reads and no write.
    Each object that changes costs one server-side apply.
seealso:
  - module: kubernetes.core.k8s
"""

EXAMPLES = r"""
# A manifest as one string (here inline; a lookup of a template or file gives the same), applied in order:
# the Namespace before what lives in it.
# test expects: result: results[*].action == [created, created, created]
# test expects: Deployment store/ratings: metadata.labels.app == ratings
- name: Apply an application and wait until its Deployment is available
  meshops.istio.istio_apply:
    objects: |
      apiVersion: v1
      kind: Namespace
      metadata: {name: store, labels: {istio-injection: enabled}}
      ---
      apiVersion: v1
      kind: Service
      metadata: {name: ratings, namespace: store, labels: {app: ratings}}
      spec:
        selector: {app: ratings}
        ports: [{name: http, port: 9080}]
      ---
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: ratings, namespace: store, labels: {app: ratings}}
      spec:
        replicas: 1
        selector: {matchLabels: {app: ratings, version: v1}}
        template:
          metadata: {labels: {app: ratings, version: v1}}
          spec:
            containers:
              - name: ratings
                image: docker.io/istio/examples-bookinfo-ratings-v1:1.20.3
                ports: [{containerPort: 9080}]
    field_manager: meshops-istio-store
    wait: true
    wait_timeout: 300

# test expects: result: kept == []
# test expects: VirtualService store/ratings: spec.http[0].route[0].destination.host == ratings
- name: Create the routes once; a release moves them afterwards
  meshops.istio.istio_apply:
    objects:
      - apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: ratings, namespace: store}
        spec:
          hosts: [ratings]
          http: [{route: [{destination: {host: ratings}}]}]
    create_only:
      VirtualService: [ratings]

# test expects: result: results[*].action == [deleted, deleted]
# test expects: Deployment store/ratings absent
- name: Remove the application again (the Namespace stays)
  meshops.istio.istio_apply:
    objects:
      - {apiVersion: v1, kind: Service, metadata: {name: ratings, namespace: store}}
      - {apiVersion: apps/v1, kind: Deployment, metadata: {name: ratings, namespace: store}}
    state: absent
"""

RETURN = r"""
results:
  description: What was done to each object, in the order given.
  returned: always
  type: list
  elements: dict
  sample:
    - {kind: Deployment, apiVersion: apps/v1, name: reviews-v1, namespace: store, action: unchanged}
  contains:
    kind:
      description: The object's kind.
      type: str
    apiVersion:
      description: The object's API version.
      type: str
    name:
      description: The object's name.
      type: str
    namespace:
      description: The object's namespace; absent for cluster-scoped objects.
      type: str
    action:
      description: One of C(created), C(updated), C(unchanged), C(kept), C(deleted), C(absent).
      type: str
kept:
  description: Objects of O(create_only) that exist and were left as they are, as C(Kind/name).
  returned: always
  type: list
  elements: str
  sample: [VirtualService/reviews]
pending:
  description:
    - In check mode, the objects the API could not dry-run because an earlier step of the run was only dry-run,
      with the reason. They are reported as created.
  returned: always
  type: list
  elements: dict
  sample:
    - {kind: Deployment, apiVersion: apps/v1, name: reviews-v1, namespace: store,
       reason: namespace store does not exist yet (it would be created first)}
diff:
  description: The objects that change, before and after, keyed by C(kind/namespace/name); only with C(--diff).
  returned: when diff mode is on and something changed
  type: dict
  sample: {before: {}, after: {"ServiceAccount/store/reviews": {kind: ServiceAccount}}}
"""

from ansible_collections.meshops.istio.plugins.module_utils.apply import (
    ApplyRun,
    ObjectsError,
    hidden_objects,
    load_objects,
)
from ansible_collections.meshops.istio.plugins.module_utils.kube import (
    Cluster,
    KubeError,
    new_module,
)


def argspec():
    return dict(
        objects=dict(type="raw", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        field_manager=dict(type="str", default="meshops-istio"),
        create_only=dict(type="dict", default={}),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
        wait_sleep=dict(type="float", default=1.0),
    )


def main():
    module = new_module(argspec())
    params = module.params
    try:
        objects = load_objects(params["objects"])
        for kind, names in params["create_only"].items():
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ObjectsError("create_only.%s is %r; give a list of object names." % (kind, names))
        if params["wait_timeout"] < 0 or params["wait_sleep"] <= 0:
            raise ObjectsError("wait_timeout must be 0 or more and wait_sleep more than 0 seconds.")
    except ObjectsError as e:
        module.fail_json(msg=str(e))
    # The objects may hold Secrets: what Ansible shows of the task's arguments gets them without values.
    invocation = dict(module_args=dict(params, objects=hidden_objects(objects)))

    def act():
        cluster = Cluster(module, field_manager=params["field_manager"])
        worker = ApplyRun(cluster, objects, create_only=params["create_only"])
        if params["state"] == "absent":
            worker.absent()
        else:
            worker.present(wait=params["wait"], wait_timeout=params["wait_timeout"], wait_sleep=params["wait_sleep"])
        return worker.result(diff=module._diff)

    try:
        output = act()
    except KubeError as e:
        module.fail_json(msg=e.message, error=e.as_dict(), invocation=invocation)
    module.exit_json(invocation=invocation, **output)


if __name__ == "__main__":
    main()
