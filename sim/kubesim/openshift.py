"""OpenShift's APIs that the collection uses, for a KubeSim started with openshift=True.

- route.openshift.io/v1 Route, with what the API server and the default router do: a Route created
  without spec.host gets <name>-<namespace>.<apps domain> (annotation openshift.io/host.generated), an
  update that leaves the host out keeps it, and the router admits each Route in status.ingress (or
  refuses it with HostAlreadyClaimed when an older Route of another namespace holds the host).
- security.openshift.io/v1 SecurityContextConstraints (cluster-scoped, fields at the top level as
  OpenShift has them), seeded with restricted-v2, anyuid and privileged. Nothing enforces them: kubesim
  runs no kubelet that could refuse a pod.
- k8s.cni.cncf.io/v1 NetworkAttachmentDefinition, the Multus CRD every OpenShift cluster has.

The schemas are written here from the published API field lists (OpenShift's API reference and the
Multus CRD), kept to the fields and enums that matter; they are served as CRDs, so discovery,
validation, pruning and kubectl behave as for any other custom resource. A plain KubeSim serves none
of this, which is how the collection's check for a non-OpenShift cluster is tested.
"""
import copy
import datetime

from . import admission, controllers

ROUTES = ("route.openshift.io", "routes")
DEFAULT_APPS_DOMAIN = "apps.kubesim.example"
HOST_GENERATED = "openshift.io/host.generated"

_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_STRINGS = {"type": "array", "items": _STR}


def _crd(group, plural, kind, scope, schema, short=(), status=False, columns=()):
    version = {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}
    if status:
        version["subresources"] = {"status": {}}
    if columns:
        version["additionalPrinterColumns"] = list(columns)
    names = {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": kind + "List"}
    if short:
        names["shortNames"] = list(short)
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "%s.%s" % (plural, group)},
            "spec": {"group": group, "scope": scope, "names": names, "versions": [version]}}


def _object(properties, required=()):
    out = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    return out


_ROUTE_TARGET = _object({"kind": {"type": "string", "enum": ["Service", ""]}, "name": _STR,
                         "weight": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 256}},
                        ["name"])
_CONDITION = _object({"type": _STR, "status": _STR, "reason": _STR, "message": _STR,
                      "lastTransitionTime": {"type": "string", "format": "date-time"}}, ["type", "status"])
ROUTE_SCHEMA = _object({
    "apiVersion": _STR, "kind": _STR, "metadata": {"type": "object"},
    "spec": _object({
        "host": {"type": "string", "maxLength": 253},
        "subdomain": {"type": "string", "maxLength": 253},
        "path": _STR,
        "to": _ROUTE_TARGET,
        "alternateBackends": {"type": "array", "maxItems": 3, "items": _ROUTE_TARGET},
        "port": _object({"targetPort": {"x-kubernetes-int-or-string": True}}, ["targetPort"]),
        "tls": _object({
            "termination": {"type": "string", "enum": ["edge", "reencrypt", "passthrough"]},
            "certificate": _STR, "key": _STR, "caCertificate": _STR, "destinationCACertificate": _STR,
            "insecureEdgeTerminationPolicy": {"type": "string", "enum": ["Allow", "None", "Redirect", ""]},
            "externalCertificate": _object({"name": _STR}),
        }, ["termination"]),
        "wildcardPolicy": {"type": "string", "enum": ["None", "Subdomain", ""]},
        "httpHeaders": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    }, ["to"]),
    "status": _object({"ingress": {"type": "array", "items": _object({
        "host": _STR, "routerName": _STR, "wildcardPolicy": _STR, "routerCanonicalHostname": _STR,
        "conditions": {"type": "array", "items": _CONDITION}})}}),
}, ["spec"])

_RANGES = {"type": "array", "items": _object({"min": {"type": "integer", "format": "int64"},
                                               "max": {"type": "integer", "format": "int64"}})}
_STRATEGY_GROUPS = _object({"type": {"type": "string", "enum": ["MustRunAs", "RunAsAny"]}, "ranges": _RANGES})
SCC_SCHEMA = _object({
    "apiVersion": _STR, "kind": _STR, "metadata": {"type": "object"},
    "priority": {"type": "integer", "format": "int32", "nullable": True},
    "allowPrivilegedContainer": _BOOL, "allowPrivilegeEscalation": {"type": "boolean", "nullable": True},
    "defaultAllowPrivilegeEscalation": {"type": "boolean", "nullable": True},
    "allowHostDirVolumePlugin": _BOOL, "allowHostIPC": _BOOL, "allowHostNetwork": _BOOL, "allowHostPID": _BOOL,
    "allowHostPorts": _BOOL, "readOnlyRootFilesystem": _BOOL,
    "allowedCapabilities": {"type": "array", "nullable": True, "items": _STR},
    "defaultAddCapabilities": {"type": "array", "nullable": True, "items": _STR},
    "requiredDropCapabilities": {"type": "array", "nullable": True, "items": _STR},
    "allowedUnsafeSysctls": {"type": "array", "nullable": True, "items": _STR},
    "forbiddenSysctls": {"type": "array", "nullable": True, "items": _STR},
    "allowedFlexVolumes": {"type": "array", "nullable": True, "items": _object({"driver": _STR}, ["driver"])},
    "volumes": {"type": "array", "nullable": True, "items": _STR},
    "seccompProfiles": {"type": "array", "nullable": True, "items": _STR},
    "users": {"type": "array", "nullable": True, "items": _STR},
    "groups": {"type": "array", "nullable": True, "items": _STR},
    "runAsUser": _object({"type": {"type": "string",
                                   "enum": ["MustRunAs", "MustRunAsRange", "MustRunAsNonRoot", "RunAsAny"]},
                          "uid": {"type": "integer", "format": "int64"},
                          "uidRangeMin": {"type": "integer", "format": "int64"},
                          "uidRangeMax": {"type": "integer", "format": "int64"}}),
    "seLinuxContext": _object({"type": {"type": "string", "enum": ["MustRunAs", "RunAsAny"]},
                               "seLinuxOptions": _object({"user": _STR, "role": _STR, "type": _STR, "level": _STR})}),
    "fsGroup": _STRATEGY_GROUPS,
    "supplementalGroups": _STRATEGY_GROUPS,
    "userNamespaceLevel": {"type": "string", "enum": ["AllowHostLevel", "RequirePodLevel"]},
}, ["allowHostDirVolumePlugin", "allowHostIPC", "allowHostNetwork", "allowHostPID", "allowHostPorts",
    "allowPrivilegedContainer", "readOnlyRootFilesystem"])

NAD_SCHEMA = _object({"apiVersion": _STR, "kind": _STR, "metadata": {"type": "object"},
                      "spec": _object({"config": _STR})})

CRDS = (
    _crd("route.openshift.io", "routes", "Route", "Namespaced", ROUTE_SCHEMA, status=True, columns=(
        {"name": "Host", "type": "string", "jsonPath": ".status.ingress[0].host"},
        {"name": "Admitted", "type": "string", "jsonPath": ".status.ingress[0].conditions[0].status"},
        {"name": "Service", "type": "string", "jsonPath": ".spec.to.name"},
        {"name": "TLS", "type": "string", "jsonPath": ".spec.tls.termination"})),
    _crd("security.openshift.io", "securitycontextconstraints", "SecurityContextConstraints", "Cluster", SCC_SCHEMA,
         short=["scc"], columns=(
             {"name": "Priv", "type": "string", "jsonPath": ".allowPrivilegedContainer"},
             {"name": "RunAsUser", "type": "string", "jsonPath": ".runAsUser.type"},
             {"name": "SELinux", "type": "string", "jsonPath": ".seLinuxContext.type"})),
    _crd("k8s.cni.cncf.io", "network-attachment-definitions", "NetworkAttachmentDefinition", "Namespaced", NAD_SCHEMA,
         short=["net-attach-def"]),
)


def _scc(name, privileged, run_as_user, selinux, volumes, capabilities=None, drop=None, users=(), groups=()):
    return {"apiVersion": "security.openshift.io/v1", "kind": "SecurityContextConstraints",
            "metadata": {"name": name}, "priority": None,
            "allowPrivilegedContainer": privileged, "allowPrivilegeEscalation": privileged or None,
            "allowHostDirVolumePlugin": privileged, "allowHostIPC": privileged, "allowHostNetwork": privileged,
            "allowHostPID": privileged, "allowHostPorts": privileged, "readOnlyRootFilesystem": False,
            "allowedCapabilities": capabilities, "requiredDropCapabilities": drop,
            "runAsUser": {"type": run_as_user}, "seLinuxContext": {"type": selinux},
            "fsGroup": {"type": "RunAsAny" if privileged or run_as_user == "RunAsAny" else "MustRunAs"},
            "supplementalGroups": {"type": "RunAsAny"}, "volumes": list(volumes),
            "users": list(users), "groups": list(groups)}


# The three a fresh cluster has that Istio's charts and docs name.
DEFAULT_SCCS = (
    _scc("restricted-v2", False, "MustRunAsRange", "MustRunAs",
         ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"],
         capabilities=["NET_BIND_SERVICE"], drop=["ALL"]),
    _scc("anyuid", False, "RunAsAny", "MustRunAs",
         ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"],
         drop=["MKNOD"], groups=["system:cluster-admins"]),
    _scc("privileged", True, "RunAsAny", "RunAsAny", ["*"], capabilities=["*"],
         users=["system:admin", "system:serviceaccount:openshift-infra:build-controller"],
         groups=["system:cluster-admins", "system:nodes", "system:masters"]),
)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _route_admission(adm, operation, obj, old):
    """The API server's part: a host for a Route that has none, kept across updates that leave it out."""
    spec = obj.setdefault("spec", {})
    if spec.get("host"):
        return
    meta = obj.setdefault("metadata", {})
    if operation == "UPDATE" and old and (old.get("spec") or {}).get("host"):
        spec["host"] = old["spec"]["host"]
        generated = ((old.get("metadata") or {}).get("annotations") or {}).get(HOST_GENERATED)
        if generated:
            meta.setdefault("annotations", {})[HOST_GENERATED] = generated
        return
    domain = getattr(adm.sim, "apps_domain", DEFAULT_APPS_DOMAIN)
    spec["host"] = "%s-%s.%s" % (meta.get("name") or "", meta.get("namespace") or "default", domain)
    meta.setdefault("annotations", {})[HOST_GENERATED] = "true"


def _route_router(ctl, event):
    """The default router: admit every Route whose host no older Route of another namespace holds (a
    deletion can free a host, so every event looks at all Routes)."""
    domain = getattr(ctl.sim, "apps_domain", DEFAULT_APPS_DOMAIN)
    for route in ctl.store.scan(ROUTES):
        host = (route.get("spec") or {}).get("host") or ""
        meta = route["metadata"]
        # creationTimestamp has whole seconds; within one, the store's insertion order says which came
        # first (OpenShift's router compares UIDs there, which would make the winner random).
        holder = min((r for r in ctl.store.scan(ROUTES) if (r.get("spec") or {}).get("host") == host),
                     key=lambda r: r["metadata"].get("creationTimestamp", ""))
        admitted = holder["metadata"]["uid"] == meta["uid"] or holder["metadata"].get("namespace") == meta.get("namespace")
        old = ((route.get("status") or {}).get("ingress") or [{}])[0]
        old_condition = (old.get("conditions") or [{}])[0]
        condition = {"type": "Admitted", "status": "True" if admitted else "False"}
        if not admitted:
            condition.update(reason="HostAlreadyClaimed", message="route %s already exposes %s and is older"
                             % (holder["metadata"]["name"], host))
        unchanged = (old.get("host") == host and
                     {k: old_condition.get(k) for k in condition} == condition)
        if unchanged:
            continue
        condition["lastTransitionTime"] = _now()
        status = {"ingress": [{"host": host, "routerName": "default", "wildcardPolicy": "None",
                               "routerCanonicalHostname": "router-default." + domain, "conditions": [condition]}]}
        updated = copy.deepcopy(route)
        ctl._set_status(ROUTES, updated, status)


def install(sim, apps_domain=DEFAULT_APPS_DOMAIN):
    """Make ``sim`` an OpenShift cluster: the CRDs, the default SCCs, the Route host allocator and router."""
    sim.apps_domain = apps_domain
    admission._HANDLERS[ROUTES] = _route_admission
    controllers._HANDLERS[ROUTES] = _route_router
    sim.create_objects(copy.deepcopy(list(CRDS)))
    with sim.store.lock:
        sim.controllers.drain()
    sim.create_objects(copy.deepcopy(list(DEFAULT_SCCS)))
