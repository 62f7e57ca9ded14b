"""In-process controllers: what kube-controller-manager and the kubelet would do, just enough
for waits to mean something.

Store events are queued and processed by `drain()`, which the API calls after each write (still
holding the store lock), so with no delay a Deployment is Available by the time the next request
arrives. With `available_delay`, pods turn Ready that many seconds after they are created
(a timer re-runs the reconcile), and LoadBalancer Services get their ingress IP after the delay.

One module per kind; `Controllers` combines them (they call each other through `self`, as the
controllers of one kube-controller-manager share its informers) and `_HANDLERS` routes store events.
"""
from .base import (CRDS, DAEMONSETS, DEPLOYMENTS, JOBS, MWCS, NAMESPACES, NODE_IP, NODE_NAME, NODES,  # noqa: F401
                   PODS, PVCS, REPLICASETS, SECRETS, SERVICEACCOUNTS, SERVICES, STATEFULSETS, VWCS, _HANDLERS,
                   ControllerBase, safe_encode, template_hash)
from .crds import CRDController
from .deployments import DeploymentController
from .jobs import JobController
from .namespaces import NamespaceController
from .nodes import Scheduler
from .pods import Kubelet
from .reviews import Reviews
from .serviceaccounts import TokenController
from .services import ServiceController
from .volumes import VolumeController
from .workloads import WorkloadController, _webhook_configuration


class Controllers(CRDController, NamespaceController, DeploymentController, WorkloadController, Scheduler, Kubelet,
                  ServiceController, JobController, VolumeController, TokenController, Reviews, ControllerBase):
    """All controllers of one simulated cluster."""


_HANDLERS.update({
    CRDS: Controllers._crd,
    NODES: Controllers._node,
    MWCS: _webhook_configuration,
    VWCS: _webhook_configuration,
    NAMESPACES: Controllers._namespace,
    DEPLOYMENTS: Controllers._deployment,
    REPLICASETS: Controllers._replicaset,
    STATEFULSETS: Controllers._workload(None, STATEFULSETS),
    DAEMONSETS: Controllers._workload(None, DAEMONSETS),
    PODS: Controllers._pod,
    SERVICES: Controllers._service,
    JOBS: Controllers._job,
    SECRETS: Controllers._secret,
    SERVICEACCOUNTS: Controllers._serviceaccount,
    PVCS: Controllers._pvc,
})
