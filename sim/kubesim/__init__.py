"""kubesim: an in-memory Kubernetes API server for tests (see docs/DEVELOPING.md)."""
from .sim import KubeSim

__all__ = ["KubeSim"]
