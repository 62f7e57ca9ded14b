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
  istio_api_version:
    description:
      - Apply every C(networking.istio.io) object at this version of the API, whatever version it gives.
        V(auto) picks V(v1) when the cluster serves it (Istio 1.22 and later), else V(v1beta1).
      - With O(state=present) the task fails before any write when the cluster serves no such version
        (Istio is not installed, so pods cannot get sidecars either), even when no object is an Istio one; in
        check mode the Istio objects are listed in RV(pending) instead.
      - Not given, the objects are applied at the version they name.
    type: str
    choices: [auto, v1, v1beta1, v1alpha3]
  namespace_injection:
    description:
      - A namespace to create (or label) for sidecar injection before the objects, as
        M(meshops.istio.istio_namespace) does it; its result is the first of RV(results).
      - Only with O(state=present); the namespace is never deleted by this module.
    type: dict
    suboptions:
      name:
        description: The namespace.
        type: str
        required: true
      injection:
        description: V(enabled) labels C(istio-injection=enabled), V(revision) labels C(istio.io/rev=<revision>);
          the other label is removed.
        type: str
        choices: [enabled, disabled, revision, absent]
        default: enabled
      revision:
        description: The istiod revision, with O(namespace_injection.injection=revision).
        type: str
  sidecars:
    description:
      - After the apply (and its wait), look for pods of the applied Deployments in
        O(namespace_injection.name) that do not match its injection setting (no C(istio-proxy) sidecar, or one
        of another revision) and list them in RV(without_sidecar).
      - V(restart) also restarts those Deployments (as C(kubectl rollout restart) does), waits for them with
        O(wait_timeout) and looks again.
      - Needs O(namespace_injection). Skipped in check mode when the namespace would be created.
    type: str
    choices: [skip, report, restart]
    default: skip
  ingress_service:
    description:
      - After the apply, read this Service (the ingress gateway) and, when it has no load balancer address,
        the Nodes, and return them in RV(ingress) for the C(meshops.istio.gateway_url) filter.
    type: dict
    suboptions:
      name:
        description: The Service's name.
        type: str
        required: true
      namespace:
        description: The Service's namespace.
        type: str
        default: istio-system
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

# The whole phase of an application role in one task (one module process): Istio's API version, the
# injected namespace, the apply and its wait, the sidecar check and the ingress gateway's address.
# test expects: result: results[*].action == [created, created, created]
# test expects: result: ingress == {resources: [], nodes: [], routes: []}
# test expects: Namespace webshop: metadata.labels."istio-injection" == enabled
# test expects: VirtualService webshop/web: apiVersion == networking.istio.io/v1
- name: Deploy into an injected namespace, check the sidecars and read where the gateway is reached
  meshops.istio.istio_apply:
    objects:
      - apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: webshop, labels: {app: web}}
        spec:
          replicas: 1
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
                - {name: web, image: docker.io/mccutchen/go-httpbin:v2.15.0}
      - apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: web, namespace: webshop}
        spec:
          hosts: [web]
          http: [{route: [{destination: {host: web}}]}]
    istio_api_version: auto
    namespace_injection: {name: webshop, injection: enabled}
    wait: true
    sidecars: report
    ingress_service: {name: istio-ingressgateway, namespace: istio-system}
  register: shop

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
without_sidecar:
  description: With O(sidecars), the applied Deployments whose pods do not match the namespace's injection setting.
  returned: always
  type: list
  elements: dict
  sample: [{name: reviews-v1, reason: no istio-proxy sidecar, pods: [reviews-v1-5d8f7c9b4-x2x7q]}]
restarted:
  description: With O(sidecars=restart), the Deployments restarted (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [reviews-v1]
ingress:
  description:
    - With O(ingress_service), C(resources) holds the Service (none when it does not exist), C(nodes) the
      Nodes when the address is a node port, and C(routes) the OpenShift Routes of the Service's namespace when
      it is a ClusterIP Service on a cluster that serves them.
  returned: always
  type: dict
  sample: {resources: [], nodes: [], routes: []}
diff:
  description: The objects that change, before and after, keyed by C(kind/namespace/name); only with C(--diff).
  returned: when diff mode is on and something changed
  type: dict
  sample: {before: {}, after: {"ServiceAccount/store/reviews": {kind: ServiceAccount}}}
"""

from ansible_collections.meshops.istio.plugins.module_utils import injection as inj
from ansible_collections.meshops.istio.plugins.module_utils import mesh_app, mesh_apply
from ansible_collections.meshops.istio.plugins.module_utils.module_run import run_module


def argspec():
    return dict(
        objects=dict(type="raw", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        field_manager=dict(type="str", default="meshops-istio"),
        create_only=dict(type="dict", default={}),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
        wait_sleep=dict(type="float", default=1.0),
        istio_api_version=dict(type="str", choices=list(mesh_app.ISTIO_API_VERSIONS)),
        namespace_injection=dict(type="dict", options=dict(
            name=dict(type="str", required=True),
            injection=dict(type="str", choices=list(inj.INJECTION_MODES), default="enabled"),
            revision=dict(type="str"),
        )),
        sidecars=dict(type="str", choices=["skip", "report", "restart"], default="skip"),
        ingress_service=dict(type="dict", options=dict(
            name=dict(type="str", required=True),
            namespace=dict(type="str", default="istio-system"),
        )),
    )


def main():
    run_module(argspec(), mesh_apply.run)


if __name__ == "__main__":
    main()
