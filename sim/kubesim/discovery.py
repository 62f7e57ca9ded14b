"""Discovery documents (legacy and aggregated) and the OpenAPI documents kubectl reads.

kubectl 1.32 asks /api and /apis for the aggregated format (apidiscovery.k8s.io/v2) and reads
/openapi/v3 to learn whether PATCH accepts `fieldValidation` (server-side validation) and which
patch types a kind supports; the Python client reads the legacy per-group-version lists.
"""
import hashlib
import json
import re
import threading

from . import schema as schemas_module
from .resources import VIRTUAL

VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.4",
    "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
    "gitTreeState": "clean",
    "buildDate": "2025-04-22T16:03:39Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

_SUB_VERBS = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"], "token": ["create"],
              "finalize": ["update"], "log": ["get"]}


def _subresource_kind(t, sub):
    if sub == "scale":
        return ("autoscaling", "v1", "Scale")
    if sub == "token":
        return ("authentication.k8s.io", "v1", "TokenRequest")
    return (t.group, t.version, t.kind)


def api_versions(host):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}


def api_group_list(registry):
    groups = []
    for group, versions in registry.groups():
        if not group:
            continue
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        groups.append({"name": group, "versions": gvs, "preferredVersion": gvs[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry, group):
    for name, versions in registry.groups():
        if name == group and group:
            gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
            return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs,
                    "preferredVersion": gvs[0]}
    return None


def api_resource_list(registry, group, version):
    types = [t for t in registry.all() if t.group == group and t.version == version]
    if not types:
        return None
    resources = []
    for t in types:
        entry = {"name": t.plural, "singularName": t.singular, "namespaced": t.namespaced, "kind": t.kind,
                 "verbs": list(t.verbs)}
        if t.short_names:
            entry["shortNames"] = list(t.short_names)
        if t.categories:
            entry["categories"] = list(t.categories)
        resources.append(entry)
        for sub in t.subresources:
            g, v, k = _subresource_kind(t, sub)
            sub_entry = {"name": f"{t.plural}/{sub}", "singularName": "", "namespaced": t.namespaced, "kind": k,
                         "verbs": _SUB_VERBS[sub]}
            if (g, v) != (t.group, t.version):
                sub_entry.update(group=g, version=v)
            resources.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources}


def _aggregated_group(registry, group, versions):
    out_versions = []
    for version in versions:
        resources = []
        for t in registry.all():
            if t.group != group or t.version != version:
                continue
            entry = {"resource": t.plural, "responseKind": {"group": t.group, "version": t.version, "kind": t.kind},
                     "scope": "Namespaced" if t.namespaced else "Cluster", "singularResource": t.singular,
                     "verbs": list(t.verbs)}
            if t.short_names:
                entry["shortNames"] = list(t.short_names)
            if t.categories:
                entry["categories"] = list(t.categories)
            if t.subresources:
                entry["subresources"] = []
                for sub in t.subresources:
                    g, v, k = _subresource_kind(t, sub)
                    entry["subresources"].append({"subresource": sub,
                                                  "responseKind": {"group": g, "version": v, "kind": k},
                                                  "verbs": _SUB_VERBS[sub]})
            resources.append(entry)
        out_versions.append({"version": version, "resources": resources, "freshness": "Current"})
    meta = {"creationTimestamp": None}
    if group:
        meta["name"] = group
    return {"metadata": meta, "versions": out_versions}


def aggregated(registry, legacy_core, api_version="apidiscovery.k8s.io/v2"):
    """APIGroupDiscoveryList for /api (legacy_core=True) or /apis."""
    items = [_aggregated_group(registry, group, versions) for group, versions in registry.groups()
             if (group == "") == legacy_core]
    return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}


# OpenAPI --------------------------------------------------------------------------------------
_PATCH_TYPES_BUILTIN = ("application/json-patch+json", "application/merge-patch+json",
                        "application/strategic-merge-patch+json", "application/apply-patch+yaml")
_PATCH_TYPES_CR = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")
_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _gv_path(t):
    return f"api/{t.version}" if not t.group else f"apis/{t.group}/{t.version}"


def _schema_name(t):
    group = t.group or "core"
    return f"kubesim.{group}.{t.version}.{t.kind}"


def openapi_v3_root(registry):
    paths = {}
    for t in registry.all():
        gv = _gv_path(t)
        paths.setdefault(gv, {"serverRelativeURL": f"/openapi/v3/{gv}?hash={_hash(registry, t.group, t.version)}"})
    return {"paths": paths}


def _hash(registry, group, version):
    names = sorted(f"{t.plural}:{t.kind}:{t.crd}:{id(t.schema)}" for t in registry.all()
                   if t.group == group and t.version == version)
    return hashlib.sha256("|".join(names).encode()).hexdigest()[:32].upper()


_REF = re.compile(r'"#/\$defs/([^"]+)"')
_components_cache = {}
_components_lock = threading.Lock()


def _openapi_node(node):
    """A kubernetes-validate JSON-schema node in the OpenAPI v3 shape kube-apiserver publishes:
    nullable type lists collapsed, closed objects opened, int-or-string unions as the extension."""
    if isinstance(node, list):
        return [_openapi_node(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            # Property names are data, not keywords (JSONSchemaProps has properties named "$ref", "type"...).
            out[key] = {name: _openapi_node(sub) for name, sub in value.items()}
        elif key == "type" and isinstance(value, list):
            kinds = [v for v in value if v != "null"]
            if len(kinds) == 1:
                out["type"] = kinds[0]
        elif key == "additionalProperties" and value is False or key in ("$schema", "$id"):
            continue
        elif key == "oneOf" and all(set(o.get("type") if isinstance(o.get("type"), list) else [o.get("type")])
                                    <= {"string", "integer", "number", "null"} for o in value):
            out["x-kubernetes-int-or-string"] = True
        elif key == "$ref" and isinstance(value, str):
            out[key] = value.replace("#/$defs/", "#/components/schemas/")
        else:
            out[key] = _openapi_node(value)
    return out


def _builtin_components(api_version, kind):
    """(definition name, components) for a built-in kind: its definition and all it references."""
    key = (api_version, kind)
    with _components_lock:
        if key in _components_cache:
            return _components_cache[key]
    name, defs = schemas_module.builtin_definitions(api_version, kind)
    components = {}
    todo = [name] if name else []
    while todo:
        current = todo.pop()
        if current in components:
            continue
        components[current] = _openapi_node(defs[current])
        todo.extend(_REF.findall(json.dumps(defs[current])))
    with _components_lock:
        _components_cache[key] = (name, components)
    return name, components


def openapi_v3_group_version(registry, group, version):
    """Paths carrying PATCH operations with their GVK and query parameters, and component schemas.

    Built-in kinds carry the Kubernetes schemas (with the x-kubernetes-patch-* metadata kubectl's
    client-side apply and `kubectl explain` read); custom resources carry their CRD's schema.
    """
    types = [t for t in registry.all() if t.group == group and t.version == version]
    if not types:
        return None
    paths, schemas = {}, {}
    params = [{"name": p, "in": "query", "schema": {"type": "string" if p != "force" else "boolean"},
               "uniqueItems": True} for p in _QUERY_PARAMS]
    for t in types:
        if (t.group, t.plural) in VIRTUAL:
            continue
        base = "/" + _gv_path(t) + ("/namespaces/{namespace}/" if t.namespaced else "/") + t.plural + "/{name}"
        gvk = {"group": t.group, "version": t.version, "kind": t.kind}
        name, components = (None, {}) if t.crd else _builtin_components(t.api_version, t.kind)
        if name:
            schemas.update(components)
            body_types = _PATCH_TYPES_BUILTIN
        else:
            name = _schema_name(t)
            schema = dict(t.schema) if t.schema is not None else {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True}
            schema["x-kubernetes-group-version-kind"] = [gvk]
            schemas[name] = schema
            # Strategic merge needs Go struct tags: the real server refuses it for custom resources.
            body_types = _PATCH_TYPES_CR
        ref = {"$ref": f"#/components/schemas/{name}"}
        op = {
            "operationId": f"patch{t.kind}",
            "requestBody": {"content": {ct: {"schema": {"type": "object"}} for ct in body_types}, "required": True},
            "responses": {"200": {"content": {"application/json": {"schema": ref}}}},
            "parameters": params,
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
        }
        get_op = {"operationId": f"read{t.kind}", "responses": {"200": {"content": {"application/json": {"schema": ref}}}},
                  "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk}
        paths[base] = {"get": get_op, "patch": op}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
            "paths": paths, "components": {"schemas": schemas}}


def openapi_v2(registry):
    """A small swagger 2.0 document; clients only probe it, kubectl prefers v3."""
    definitions = {}
    for t in registry.all():
        definitions[_schema_name(t)] = {"type": "object",
                                        "x-kubernetes-group-version-kind": [{"group": t.group, "version": t.version,
                                                                             "kind": t.kind}]}
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
            "paths": {}, "definitions": definitions}
