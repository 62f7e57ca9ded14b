"""meshsim: simulated Istio traffic and metrics, following the routing stored in a cluster."""
from .sim import KubeReader, MeshSim

__all__ = ["KubeReader", "MeshSim"]
