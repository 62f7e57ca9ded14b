#!/usr/bin/python
# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this module is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: istio_info
short_description: Report the Istio control planes installed in a cluster
version_added: 0.1.0
author: meshops.istio developers (@meshops)
description:
  - Reads what Istio has installed in a cluster and reports it; changes nothing.
  - Reports the Kubernetes version, each istiod revision (version, image, replicas, readiness, webhooks),
    which revision serves namespaces labelled C(istio-injection=enabled), revision tags, the Istio CRDs
    and whether they are C(Established), every sidecar injector and validation webhook configuration,
    and which namespaces have sidecar injection turned on and from which revision.
  - With O(proxies=true) it also counts the pods running an C(istio-proxy) sidecar, per revision.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - meshops.istio.api_options
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
options:
  proxies:
    description:
      - Also list the pods that carry an C(istio-proxy) sidecar, grouped by revision (lists every pod in the cluster).
    type: bool
    default: false
  crds:
    description:
      - Read the Istio CRDs (those labelled C(app=istio-pilot)); they are large, so turn this off when it is not needed.
    type: bool
    default: true
  gateways:
    description:
      - Istio gateways (installed by the C(istio/gateway) chart, whose Deployment and Service are named after the
        release) whose Services to read as well, for their addresses (RV(gateways)); with O(wait), after their
        Deployments are available.
      - What a role needs after installing gateways, in this run rather than a task (and a process) per gateway.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the gateway (its Helm release, Deployment and Service).
        type: str
        required: true
      namespace:
        description: Namespace of the gateway.
        type: str
        default: istio-system
  workloads:
    description:
      - Istio's own workloads (istiod, the C(istio-cni-node) and C(ztunnel) node agents) for O(wait) to wait for.
    type: list
    elements: dict
    default: []
    suboptions:
      kind:
        description: Kind of the workload.
        type: str
        choices: [Deployment, DaemonSet]
        default: Deployment
      name:
        description: Name of the workload.
        type: str
        required: true
      namespace:
        description: Namespace of the workload.
        type: str
        default: istio-system
  wait:
    description:
      - Wait until the Deployment of every gateway of O(gateways) and every workload of O(workloads) is rolled out and
        available before reading, and fail naming those that are not after O(wait_timeout) seconds (a missing one
        included).
      - What a role's verify phase waits for, in the run that reads what it reports.
    type: bool
    default: false
  wait_timeout:
    description: How long O(wait) waits, in seconds.
    type: int
    default: 300
notes:
  - Reads C(/version), istiod Deployments (label C(app=istiod)), all mutating and validating webhook configurations,
    the Istio CRDs and the namespaces; with O(proxies=true) all pods; with O(gateways) each gateway's Service (and
    its Deployment while waiting), and the Nodes when a gateway is reached at a node port.
  - Waiting changes nothing either, the module reads until the workloads and gateways are available.
seealso:
  - module: meshops.istio.istio_precheck
"""

EXAMPLES = r"""
# test needs: istiod 1.27.3
# test expects: result: version == '1.27.3'
- name: Read the installed control planes
  meshops.istio.istio_info:
  register: istio

# test expects: result: starts_with(msg, 'Istio 1.27.3 (revision default) on Kubernetes ') == true
- name: Show the installed version
  ansible.builtin.debug:
    msg: "Istio {{ istio.version }} (revision {{ istio.default_revision }}) on Kubernetes {{ istio.kubernetes_version }}"

# test expects: result: revisions[0].available == true
- name: Wait for istiod to be available, then read the control plane
  meshops.istio.istio_info:
    workloads:
      - name: istiod
        namespace: istio-system
    wait: true
    wait_timeout: 120
  register: istio

# test expects: result: installed == true
- name: Count the sidecars still on the old revision
  meshops.istio.istio_info:
    proxies: true
    crds: false
  register: istio_proxies

# test expects: result: gateways[0].resources == []
- name: Read the address of the ingress gateway (none here, as no gateway is installed)
  meshops.istio.istio_info:
    crds: false
    gateways:
      - name: istio-ingressgateway
        namespace: istio-system
  register: istio_gateways
"""

RETURN = r"""
installed:
  description: Whether any istiod Deployment exists.
  returned: always
  type: bool
  sample: true
version:
  description: Istio version of the default revision (the one serving C(istio-injection=enabled)), else of the first revision.
  returned: always
  type: str
  sample: 1.24.0
default_revision:
  description: Name of that revision (C(default) for a control plane installed without a revision).
  returned: always
  type: str
  sample: default
kubernetes_version:
  description: Version the API server reports.
  returned: always
  type: str
  sample: 1.30.2
revisions:
  description: One entry per istiod Deployment.
  returned: always
  type: list
  elements: dict
  sample:
    - revision: default
      name: istiod
      namespace: istio-system
      version: 1.24.0
      image: docker.io/istio/pilot:1.24.0
      replicas: 1
      ready_replicas: 1
      available: true
      default: true
      webhooks: [istio-sidecar-injector, istio-validator-istio-system]
revision_tags:
  description: Revision tags (tag name to revision).
  returned: always
  type: dict
  sample: {prod: 1-24-0}
crds:
  description: The Istio CRDs found (only when O(crds=true)).
  returned: always
  type: dict
  sample: {count: 15, established: 15, names: [virtualservices.networking.istio.io]}
webhooks:
  description: Istio's mutating (sidecar injector) and validating webhook configurations.
  returned: always
  type: dict
  sample:
    mutating: [{name: istio-sidecar-injector, revision: default, tag: null, serves_default: true,
                webhooks: [namespace.sidecar-injector.istio.io]}]
    validating: [{name: istio-validator-istio-system, revision: default, webhooks: [rev.validation.istio.io]}]
namespaces:
  description: Namespaces with an injection label, and the revision whose sidecars they get.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: bookinfo, injection: enabled, revision: default}
    - {name: shop, injection: revision, revision: 1-24-0, label: 1-24-0}
namespace_names:
  description: Every namespace in the cluster.
  returned: always
  type: list
  elements: str
  sample: [default, istio-system, kube-system]
gateways:
  description:
    - The gateways of O(gateways), in their order, each with its Service as C(resources) (empty when it has none), as
      the M(meshops.istio.istio_apply) C(ingress) return and the P(meshops.istio.gateway_url#filter) filter take it.
  returned: when O(gateways) is not empty
  type: list
  elements: dict
  sample:
    - name: istio-ingressgateway
      namespace: istio-system
      resources: [{apiVersion: v1, kind: Service, metadata: {name: istio-ingressgateway, namespace: istio-system}}]
nodes:
  description: The cluster's Nodes, when a Service of RV(gateways) is reached at a node port (else empty).
  returned: when O(gateways) is not empty
  type: list
  elements: dict
  sample: [{apiVersion: v1, kind: Node, metadata: {name: node-1}, status: {addresses: [{type: InternalIP, address: 10.0.0.5}]}}]
proxies:
  description: Pods with an C(istio-proxy) sidecar as C(namespace/name), per revision (only with O(proxies=true)).
  returned: when O(proxies=true)
  type: dict
  sample: {default: [bookinfo/reviews-v1-5d8f7-abcde]}
"""

from ansible_collections.meshops.istio.plugins.module_utils import mesh_info
from ansible_collections.meshops.istio.plugins.module_utils.module_run import run_module


def argspec():
    return dict(
        proxies=dict(type="bool", default=False),
        crds=dict(type="bool", default=True),
        gateways=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            namespace=dict(type="str", default="istio-system"),
        )),
        workloads=dict(type="list", elements="dict", default=[], options=dict(
            kind=dict(type="str", choices=["Deployment", "DaemonSet"], default="Deployment"),
            name=dict(type="str", required=True),
            namespace=dict(type="str", default="istio-system"),
        )),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
    )


def main():
    run_module(argspec(), mesh_info.info)


if __name__ == "__main__":
    main()
