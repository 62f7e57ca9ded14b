"""Namespaces: the default ServiceAccount and kube-root-ca.crt, and deletion that cascades."""
from .base import CONFIGMAPS, NAMESPACES, SERVICEACCOUNTS


class NamespaceController:
    """The namespace lifecycle."""

    def _namespace(self, event):
        ns = event.obj
        name = ns["metadata"]["name"]
        if event.type == "ADDED":
            if self.store.peek(SERVICEACCOUNTS, name, "default") is None:
                self._create(SERVICEACCOUNTS, {"metadata": {"name": "default", "namespace": name}})
            if self.store.peek(CONFIGMAPS, name, "kube-root-ca.crt") is None:
                self._create(CONFIGMAPS, {"metadata": {"name": "kube-root-ca.crt", "namespace": name,
                                                       "annotations": {"kubernetes.io/description": (
                                                           "Contains a CA bundle that can be used to verify the "
                                                           "kube-apiserver when using internal endpoints such as "
                                                           "the internal service IP or kubernetes.default.svc. No "
                                                           "other usage is guaranteed across distributions of "
                                                           "Kubernetes clusters.")}},
                                          "data": {"ca.crt": self.sim.ca_pem}})
        if event.type == "MODIFIED" and (ns["metadata"].get("labels") != ((event.old or {}).get("metadata") or {})
                                         .get("labels")):
            self._retry_failed_creates()    # webhook namespaceSelectors may now match differently
        if event.type == "DELETED" or not ns["metadata"].get("deletionTimestamp"):
            return
        for key in self.store.kinds():
            if key == NAMESPACES:
                continue
            for obj in self.store.scan(key, name):
                self.store.remove(key, name, obj["metadata"]["name"])
        current = self.store.get(NAMESPACES, None, name)
        if current is None:
            return
        before = list(current.setdefault("spec", {}).get("finalizers") or [])
        current["spec"]["finalizers"] = [f for f in before if f != "kubernetes"]
        if current["spec"]["finalizers"] or current["metadata"].get("finalizers"):
            if current["spec"]["finalizers"] != before:
                self._put(NAMESPACES, current)
        else:
            self.store.remove(NAMESPACES, None, name)
