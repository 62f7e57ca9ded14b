"""CustomResourceDefinitions: names accepted and Established, their API served (or removed with its objects)."""
from ..store import clone
from .base import CRDS, _condition


class CRDController:
    """Establishes CRDs and removes a deleted CRD's objects."""

    def _crd(self, event):
        name = event.obj["metadata"]["name"]
        if event.type == "DELETED":
            removed = self.registry.remove_crd(name)
            for key in {t.key for t in removed}:
                for obj in self.store.scan(key):
                    self.store.remove(key, obj["metadata"].get("namespace"), obj["metadata"]["name"])
            return
        crd = clone(event.obj)
        spec = crd.get("spec") or {}
        names = dict(spec.get("names") or {})
        names.setdefault("singular", names.get("kind", "").lower())
        names.setdefault("listKind", names.get("kind", "") + "List")
        old_types = self.registry.crd_types(name)
        self.registry.set_crd(crd)
        if old_types and {t.key for t in old_types} != {t.key for t in self.registry.crd_types(name)}:
            pass  # a CRD cannot change group/plural (the name is plural.group), nothing to move
        status = clone(crd.get("status") or {})
        conditions = status.setdefault("conditions", [])
        _condition(conditions, "NamesAccepted", "True", "NoConflicts", "no conflicts found")
        _condition(conditions, "Established", "True", "InitialNamesAccepted", "the initial names have been accepted")
        for cond in conditions:
            cond.pop("lastUpdateTime", None)
        status["acceptedNames"] = names
        stored = list(status.get("storedVersions") or [])
        for version in spec.get("versions") or []:
            if version.get("storage") and version["name"] not in stored:
                stored.append(version["name"])
        status["storedVersions"] = stored
        self._set_status(CRDS, crd, status)
