"""PersistentVolumeClaims: bound at once."""
from ..store import clone
from .base import PVCS


class VolumeController:
    """Claims are bound when created."""

    def _pvc(self, event):
        """Claims bind at once, as with a default StorageClass and an instant provisioner."""
        if event.type == "DELETED" or (event.obj.get("status") or {}).get("phase") == "Bound":
            return
        pvc = clone(event.obj)
        spec = pvc.get("spec") or {}
        status = {"phase": "Bound", "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                  "capacity": {"storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")}}
        self._set_status(PVCS, pvc, status)
