"""The kinds kubesim serves: built-in resources plus those that CustomResourceDefinitions add.

One `ResourceType` per served group/version/resource. Objects are stored per group/resource, so
a CRD with several served versions shares one set of objects (conversion strategy None).
"""
import re
import threading
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple = ()
    categories: tuple = ()
    subresources: tuple = ()           # "status", "scale", "token", "finalize", "log"
    generation: bool = False           # whether metadata.generation is tracked
    verbs: tuple = ALL_VERBS
    crd: str = ""                      # name of the defining CRD, "" for built-ins
    schema: dict = field(default=None, compare=False, hash=False)      # CRD openAPIV3Schema
    printer_columns: tuple = field(default=(), compare=False, hash=False)
    scale_paths: dict = field(default=None, compare=False, hash=False)

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self):
        return self.api_version

    @property
    def singular(self):
        return self.kind.lower()

    @property
    def list_kind(self):
        return self.kind + "List"

    @property
    def key(self):
        """Storage key: versions of one group/resource share their objects."""
        return (self.group, self.plural)

    @property
    def builtin(self):
        return not self.crd


def _b(gv, kind, plural, namespaced=True, short=(), cats=(), sub=(), gen=False, verbs=ALL_VERBS):
    group, _, version = gv.rpartition("/")
    return ResourceType(group, version, kind, plural, namespaced, tuple(short), tuple(cats), tuple(sub), gen,
                        tuple(verbs))


_CREATE_ONLY = ("create",)

BUILTINS = (
    _b("v1", "ConfigMap", "configmaps", short=["cm"]),
    _b("v1", "Endpoints", "endpoints", short=["ep"]),
    _b("v1", "Event", "events", short=["ev"]),
    _b("v1", "LimitRange", "limitranges", short=["limits"]),
    _b("v1", "Namespace", "namespaces", False, ["ns"], sub=["status", "finalize"],
       verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _b("v1", "Node", "nodes", False, ["no"], sub=["status"]),
    _b("v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=["pvc"], sub=["status"]),
    _b("v1", "PersistentVolume", "persistentvolumes", False, ["pv"], sub=["status"]),
    _b("v1", "Pod", "pods", short=["po"], cats=["all"], sub=["status", "log"]),
    _b("v1", "PodTemplate", "podtemplates"),
    _b("v1", "ReplicationController", "replicationcontrollers", short=["rc"], cats=["all"],
       sub=["status", "scale"], gen=True),
    _b("v1", "ResourceQuota", "resourcequotas", short=["quota"], sub=["status"]),
    _b("v1", "Secret", "secrets"),
    _b("v1", "ServiceAccount", "serviceaccounts", short=["sa"], sub=["token"]),
    _b("v1", "Service", "services", short=["svc"], cats=["all"], sub=["status"]),
    _b("apps/v1", "ControllerRevision", "controllerrevisions"),
    _b("apps/v1", "DaemonSet", "daemonsets", short=["ds"], cats=["all"], sub=["status"], gen=True),
    _b("apps/v1", "Deployment", "deployments", short=["deploy"], cats=["all"], sub=["status", "scale"], gen=True),
    _b("apps/v1", "ReplicaSet", "replicasets", short=["rs"], cats=["all"], sub=["status", "scale"], gen=True),
    _b("apps/v1", "StatefulSet", "statefulsets", short=["sts"], cats=["all"], sub=["status", "scale"], gen=True),
    _b("batch/v1", "Job", "jobs", cats=["all"], sub=["status"], gen=True),
    _b("batch/v1", "CronJob", "cronjobs", short=["cj"], cats=["all"], sub=["status"], gen=True),
    _b("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=["hpa"], cats=["all"],
       sub=["status"], gen=True),
    _b("autoscaling/v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=["hpa"], cats=["all"],
       sub=["status"], gen=True),
    _b("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", short=["pdb"], sub=["status"], gen=True),
    _b("networking.k8s.io/v1", "Ingress", "ingresses", short=["ing"], sub=["status"], gen=True),
    _b("networking.k8s.io/v1", "IngressClass", "ingressclasses", False, gen=True),
    _b("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", short=["netpol"], gen=True),
    _b("rbac.authorization.k8s.io/v1", "Role", "roles"),
    _b("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    _b("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False),
    _b("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _b("storage.k8s.io/v1", "StorageClass", "storageclasses", False, ["sc"]),
    _b("storage.k8s.io/v1", "CSIDriver", "csidrivers", False),
    _b("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", False,
       ["crd", "crds"], cats=["api-extensions"], sub=["status"], gen=True),
    _b("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", False,
       cats=["api-extensions"], gen=True),
    _b("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations",
       False, cats=["api-extensions"], gen=True),
    _b("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", False,
       cats=["api-extensions"], sub=["status"], gen=True),
    _b("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding",
       "validatingadmissionpolicybindings", False, cats=["api-extensions"], gen=True),
    _b("coordination.k8s.io/v1", "Lease", "leases"),
    _b("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
    _b("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", False, ["pc"], gen=True),
    _b("certificates.k8s.io/v1", "CertificateSigningRequest", "certificatesigningrequests", False, ["csr"],
       sub=["status"]),
    _b("authentication.k8s.io/v1", "TokenReview", "tokenreviews", False, verbs=_CREATE_ONLY),
    _b("authorization.k8s.io/v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False,
       verbs=_CREATE_ONLY),
    _b("authorization.k8s.io/v1", "SubjectAccessReview", "subjectaccessreviews", False, verbs=_CREATE_ONLY),
)

# Preferred version first; kubectl and client-go pick the first listed as preferred.
GROUP_VERSION_ORDER = {"autoscaling": ("v2", "v1")}

# Resources that exist only as a request/response (never stored).
VIRTUAL = {("authentication.k8s.io", "tokenreviews"), ("authorization.k8s.io", "selfsubjectaccessreviews"),
           ("authorization.k8s.io", "subjectaccessreviews")}


def types_from_crd(crd):
    """The ResourceTypes a CustomResourceDefinition serves."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        subs = tuple(s for s in ("status", "scale") if s in subresources)
        out.append(ResourceType(
            group=spec["group"], version=version["name"], kind=names["kind"], plural=names["plural"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            subresources=subs, generation=True, crd=crd["metadata"]["name"],
            schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
            scale_paths=subresources.get("scale"),
        ))
    return out


class Registry:
    """Thread-safe index of the served resource types."""

    def __init__(self):
        self._lock = threading.RLock()
        self._types = list(BUILTINS)
        self._crd_types = {}          # crd name -> [ResourceType]
        self._reindex()

    def _reindex(self):
        types = list(BUILTINS)
        for crd_types in self._crd_types.values():
            types.extend(crd_types)
        by_path = {}
        by_gvk = {}
        for t in types:
            by_path[(t.group, t.version, t.plural)] = t
            by_gvk[(t.group, t.version, t.kind)] = t
        self._types, self._by_path, self._by_gvk = types, by_path, by_gvk

    def set_crd(self, crd):
        with self._lock:
            self._crd_types[crd["metadata"]["name"]] = types_from_crd(crd)
            self._reindex()

    def remove_crd(self, name):
        with self._lock:
            removed = self._crd_types.pop(name, [])
            self._reindex()
            return removed

    def crd_types(self, name):
        return list(self._crd_types.get(name, ()))

    def all(self):
        return list(self._types)

    def by_path(self, group, version, plural):
        return self._by_path.get((group, version, plural))

    def by_gvk(self, group, version, kind):
        return self._by_gvk.get((group, version, kind))

    def by_api_version_kind(self, api_version, kind):
        group, _, version = api_version.rpartition("/")
        return self.by_gvk(group, version, kind)

    def versions_of(self, group, plural):
        return [t for t in self._types if t.group == group and t.plural == plural]

    def groups(self):
        """[(group, [versions in preference order])], core group first."""
        seen = {}
        for t in self._types:
            seen.setdefault(t.group, [])
            if t.version not in seen[t.group]:
                seen[t.group].append(t.version)
        out = []
        for group, versions in seen.items():
            order = GROUP_VERSION_ORDER.get(group)
            if order:
                versions.sort(key=lambda v: order.index(v) if v in order else len(order))
            else:
                versions.sort(key=version_priority)
            out.append((group, versions))
        return out


def version_priority(version):
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first (as a sort key)."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (3, 0, 0, version)
    major = int(m.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor, version)
