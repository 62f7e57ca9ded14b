# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Istio's telemetry addons (samples/addons/*.yaml): what to apply, how to expose them, where to open them.

Pure functions: the addons role reads the manifests (from the Istio release by URL, or a local
directory), and these decide the objects to apply or delete and the URLs to report.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib

from ansible_collections.meshops.istio.plugins.module_utils import openshift

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    HAS_YAML = False

# Service, UI port and UI path of each addon as Istio's samples define them, in install order
# (Kiali last: it is told where the others are).
ADDONS = (
    ("prometheus", dict(file="prometheus.yaml", service="prometheus", port=9090, path="/", deployment="prometheus")),
    ("grafana", dict(file="grafana.yaml", service="grafana", port=3000, path="/", deployment="grafana")),
    ("jaeger", dict(file="jaeger.yaml", service="tracing", port=80, path="/jaeger", deployment="jaeger",
                    local_port=16686)),
    ("kiali", dict(file="kiali.yaml", service="kiali", port=20001, path="/kiali", deployment="kiali")),
)
ADDON_NAMES = tuple(addon[0] for addon in ADDONS)
EXPOSURES = ("clusterip", "nodeport", "ingress", "route")
PLATFORMS = ("kubernetes", "openshift")
RAW_URL = "https://raw.githubusercontent.com/istio/istio/release-%s/samples/addons"
CONFIG_CHECKSUM = "meshops.istio/config-checksum"
_CLUSTER_SCOPED = ("ClusterRole", "ClusterRoleBinding", "Namespace", "CustomResourceDefinition")


class AddonError(ValueError):
    """A request that cannot be carried out; the message says what to change."""


def _spec(name):
    for addon, spec in ADDONS:
        if addon == name:
            return spec
    raise AddonError("Unknown addon %r: the addons are %s." % (name, ", ".join(ADDON_NAMES)))


def source(base, version, name):
    """Where to read an addon's manifest: the Istio release's raw URL by default, else ``base``/<file>."""
    spec = _spec(name)
    if not base:
        parts = str(version or "").split(".")
        if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
            raise AddonError("The addon manifests come from the installed Istio release, but its version (%r) is "
                             "unknown. Install Istio first, or set addons_source to a directory or URL." % (version,))
        base = RAW_URL % ".".join(parts[:2])
    return "%s/%s" % (str(base).rstrip("/"), spec["file"])


def settings(name, given, platform="kubernetes"):
    """One addon's settings with defaults, checked: {state, exposure, node_port, host, tls}.

    On OpenShift a node port is not the way in: exposure nodeport becomes route there."""
    given = dict(given or {})
    out = dict(state=given.get("state") or "present", exposure=given.get("exposure") or "clusterip",
               node_port=given.get("node_port"), host=given.get("host"), tls=given.get("tls") or "none")
    if out["state"] not in ("present", "absent"):
        raise AddonError("addons_%s.state must be present or absent, not %r." % (name, out["state"]))
    if out["exposure"] not in EXPOSURES:
        raise AddonError("addons_%s.exposure must be one of %s, not %r." % (name, ", ".join(EXPOSURES), out["exposure"]))
    if (platform or "kubernetes") not in PLATFORMS:
        raise AddonError("The platform must be one of %s, not %r." % (", ".join(PLATFORMS), platform))
    if platform == "openshift" and out["exposure"] == "nodeport" and out["node_port"] is None:
        out["exposure"] = "route"
    if out["exposure"] == "route" and platform != "openshift":
        raise AddonError("addons_%s.exposure route makes an OpenShift Route, which this platform (%s) has not: set "
                         "addons_platform: openshift on OpenShift, or use nodeport or ingress." % (name, platform))
    if out["tls"] not in ("none", "edge"):
        raise AddonError("addons_%s.tls must be none or edge, not %r." % (name, out["tls"]))
    if out["tls"] != "none" and out["exposure"] != "route":
        raise AddonError("addons_%s.tls is for exposure route (the router ends TLS); exposure is %s." % (name, out["exposure"]))
    if out["node_port"] is not None:
        if out["exposure"] != "nodeport" or platform == "openshift":
            raise AddonError("addons_%s.node_port is only used with exposure nodeport (exposure is %s) off OpenShift "
                             "(where a Route exposes the addon); drop it or set exposure: nodeport." % (name, out["exposure"]))
        if not 30000 <= int(out["node_port"]) <= 32767:
            raise AddonError("addons_%s.node_port %s is outside Kubernetes' default node port range 30000-32767."
                             % (name, out["node_port"]))
        out["node_port"] = int(out["node_port"])
    if out["exposure"] == "ingress" and not out["host"]:
        raise AddonError("addons_%s.exposure is ingress, which needs a host name the ingress gateway answers for: "
                         "set addons_%s.host (for example %s.example.com)." % (name, name, name))
    return out


def _namespaced(obj, namespace):
    obj = copy.deepcopy(obj)
    if obj.get("kind") not in _CLUSTER_SCOPED:
        obj.setdefault("metadata", {})["namespace"] = namespace
    if obj.get("kind") in ("ClusterRoleBinding", "RoleBinding"):
        for subject in obj.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace
    return obj


def _expose(obj, spec, wanted):
    """The addon's UI Service with the wanted type and node port."""
    if obj.get("kind") != "Service" or obj["metadata"].get("name") != spec["service"]:
        return obj
    svc = obj.setdefault("spec", {})
    if wanted["exposure"] == "nodeport":
        svc["type"] = "NodePort"
        for port in svc.get("ports") or []:
            if port.get("port") == spec["port"] and wanted["node_port"]:
                port["nodePort"] = wanted["node_port"]
    else:
        svc["type"] = "ClusterIP"
        for port in svc.get("ports") or []:
            port.pop("nodePort", None)
    return obj


def internal_url(name, namespace):
    spec = _spec(name)
    return "http://%s.%s:%s%s" % (spec["service"], namespace, spec["port"], "" if spec["path"] == "/" else spec["path"])


def external_base(name, wanted, node_address=None, gateway_port=None):
    """Where a browser reaches the addon from outside, when that is known before applying."""
    if wanted["exposure"] == "route" and wanted["host"]:
        return "%s://%s" % ("https" if wanted["tls"] == "edge" else "http", wanted["host"])
    if wanted["exposure"] == "ingress":
        port = "" if gateway_port in (None, 80) else ":%s" % gateway_port
        return "http://%s%s" % (wanted["host"], port)
    if wanted["exposure"] == "nodeport" and wanted["node_port"] and node_address:
        return "http://%s:%s" % (node_address, wanted["node_port"])
    return None


def _plain(value):
    """``value`` with Ansible's tagged str/dict/list subclasses turned into the plain types YAML dumps."""
    if isinstance(value, dict):
        return dict((_plain(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def kiali_config(text, namespace, prometheus=None, grafana=None, tracing=None):
    """Kiali's config.yaml told where Prometheus, Grafana and the tracing UI are.

    ``prometheus`` is a URL; ``grafana``/``tracing`` are {internal, external} or None (addon off)."""
    config = yaml.safe_load(text) or {}
    services = config.setdefault("external_services", {})
    services.setdefault("istio", {})["root_namespace"] = namespace
    if prometheus:
        services.setdefault("prometheus", {}).update({"enabled": True, "url": prometheus})
    graf = services.setdefault("grafana", {})
    if grafana:
        graf.update({"enabled": True, "internal_url": grafana["internal"]})
        if grafana.get("external"):
            graf["external_url"] = grafana["external"]
    else:
        graf["enabled"] = False
    trace = services.setdefault("tracing", {})
    if tracing:
        trace.update({"enabled": True, "provider": "jaeger", "use_grpc": False, "internal_url": tracing["internal"]})
        if tracing.get("external"):
            trace["external_url"] = tracing["external"]
    else:
        trace["enabled"] = False
    deployment = config.get("deployment")
    if isinstance(deployment, dict):
        deployment["namespace"] = namespace
    return yaml.safe_dump(_plain(config), default_flow_style=False, sort_keys=True)


def _configure_kiali(objects, namespace, prometheus, grafana, tracing):
    """Rewrite the kiali ConfigMap and roll the Kiali pods when that config changes."""
    checksum = None
    for obj in objects:
        if obj.get("kind") == "ConfigMap" and obj["metadata"].get("name") == "kiali":
            data = obj.setdefault("data", {})
            data["config.yaml"] = kiali_config(data.get("config.yaml", ""), namespace, prometheus, grafana, tracing)
            checksum = hashlib.sha256(data["config.yaml"].encode("utf-8")).hexdigest()[:16]
    for obj in objects:
        if checksum and obj.get("kind") == "Deployment" and obj["metadata"].get("name") == "kiali":
            template_meta = obj.setdefault("spec", {}).setdefault("template", {}).setdefault("metadata", {})
            template_meta.setdefault("annotations", {})[CONFIG_CHECKSUM] = checksum
    return objects


def ingress_objects(name, namespace, wanted, api_version, selector, gateway_port):
    """A Gateway and VirtualService that publish the addon on the ingress gateway under its host."""
    spec = _spec(name)
    gateway = {
        "apiVersion": api_version, "kind": "Gateway",
        "metadata": {"name": "%s-gateway" % name, "namespace": namespace},
        "spec": {"selector": dict(selector),
                 "servers": [{"port": {"number": int(gateway_port), "name": "http-%s" % name, "protocol": "HTTP"},
                              "hosts": [wanted["host"]]}]},
    }
    virtual_service = {
        "apiVersion": api_version, "kind": "VirtualService",
        "metadata": {"name": "%s-ui" % name, "namespace": namespace},
        "spec": {"hosts": [wanted["host"]], "gateways": ["%s-gateway" % name],
                 "http": [{"route": [{"destination": {
                     "host": "%s.%s.svc.cluster.local" % (spec["service"], namespace),
                     "port": {"number": spec["port"]}}}]}]},
    }
    return [gateway, virtual_service]


def route_object(name, namespace, wanted, objects):
    """The OpenShift Route to the addon's UI Service port (by its name, as Routes name ports)."""
    spec = _spec(name)
    target = spec["port"]
    for obj in objects:
        if obj.get("kind") == "Service" and obj["metadata"].get("name") == spec["service"]:
            for port in (obj.get("spec") or {}).get("ports") or []:
                if port.get("port") == spec["port"] and port.get("name"):
                    target = port["name"]
    return openshift.route(name, namespace, spec["service"], target, wanted.get("host") or "", wanted.get("tls"))


def plan(manifests, addon_settings, namespace="istio-system", api_version="networking.istio.io/v1",
         gateway_selector=None, gateway_port=8080, gateway_external_port=None, node_address=None,
         istio_installed=True, platform="kubernetes"):
    """What to do for every addon.

    ``manifests``: {addon: [objects of its samples/addons file]} for the addons that are read;
    ``addon_settings``: {addon: given settings}. Returns {apply, remove, addons} where ``apply`` and
    ``remove`` are object lists in a safe order and ``addons`` the normalised settings. Without
    Istio (``istio_installed`` false) there are no Gateway/VirtualService kinds to use or delete."""
    wanted = dict((name, settings(name, addon_settings.get(name), platform)) for name in ADDON_NAMES)
    if not istio_installed:
        ingress = [n for n in ADDON_NAMES if wanted[n]["state"] == "present" and wanted[n]["exposure"] == "ingress"]
        if ingress:
            raise AddonError("Exposure ingress (%s) needs Istio's Gateway and VirtualService, but Istio is not installed "
                             "in this cluster. Install it first (playbooks/install.yml) or use exposure nodeport."
                             % ", ".join(ingress))
    selector = gateway_selector or {"istio": "ingressgateway"}
    present = [n for n in ADDON_NAMES if wanted[n]["state"] == "present"]
    for name in ADDON_NAMES:
        if name not in manifests:
            raise AddonError("No manifest was read for the %s addon." % name)

    def ext(name):
        return external_base(name, wanted[name], node_address, gateway_external_port) if name in present else None

    apply_objects, remove_objects = [], []
    for name in ADDON_NAMES:
        spec = _spec(name)
        objects = [_expose(_namespaced(o, namespace), spec, wanted[name]) for o in manifests[name] or [] if o]
        if not any(o.get("kind") == "Deployment" and o["metadata"].get("name") == spec["deployment"] for o in objects):
            raise AddonError("The %s manifest has no Deployment %s: is it Istio's samples/addons/%s?"
                             % (name, spec["deployment"], spec["file"]))
        if name == "kiali":
            graf = dict(internal=internal_url("grafana", namespace), external=ext("grafana")) if "grafana" in present else None
            trace = dict(internal=internal_url("jaeger", namespace), external=ext("jaeger")) if "jaeger" in present else None
            prom = internal_url("prometheus", namespace) if "prometheus" in present else None
            objects = _configure_kiali(objects, namespace, prom, graf, trace)
        extra = ingress_objects(name, namespace, wanted[name], api_version, selector, gateway_port) \
            if istio_installed else []
        # Only OpenShift has the Route kind to apply or delete.
        route = [route_object(name, namespace, wanted[name], objects)] if platform == "openshift" else []
        if wanted[name]["state"] == "present":
            apply_objects += objects
            for exposure, exposing in (("ingress", extra), ("route", route)):
                if wanted[name]["exposure"] == exposure:
                    apply_objects += exposing
                else:
                    remove_objects += exposing
        else:
            remove_objects += objects + extra + route
    return dict(apply=apply_objects, remove=list(reversed(remove_objects)), addons=wanted)


def urls(addon_settings, services, namespace, node_address=None, gateway_address=None, gateway_port=None,
         routes=None, platform="kubernetes"):
    """Where the user opens each addon that is present: {addon: {url, via, internal_url, note}}."""
    out = {}
    by_name = dict(((s.get("metadata") or {}).get("name"), s) for s in services or [])
    for name in ADDON_NAMES:
        wanted = settings(name, addon_settings.get(name), platform)
        if wanted["state"] != "present":
            continue
        spec = _spec(name)
        path = spec["path"] if spec["path"] != "/" else "/"
        entry = dict(internal_url=internal_url(name, namespace), via=wanted["exposure"])
        if wanted["exposure"] == "route":
            found = openshift.route_for_service(routes, namespace, spec["service"])
            reach = openshift.route_url(found or {}, path)
            entry["url"] = reach["url"] or external_base(name, wanted)
            entry["note"] = ("Route %s/%s, admitted by the router" % (namespace, name) if reach["admitted"] else
                             "Route %s/%s, not admitted by a router yet" % (namespace, name))
        elif wanted["exposure"] == "ingress":
            port = "" if gateway_port in (None, 80) else ":%s" % gateway_port
            entry["url"] = "http://%s%s%s" % (wanted["host"], port, path)
            entry["note"] = ("through the ingress gateway; %s must resolve to %s" %
                             (wanted["host"], gateway_address or "the ingress gateway's address"))
        elif wanted["exposure"] == "nodeport":
            svc = by_name.get(spec["service"]) or {}
            node_port = next((p.get("nodePort") for p in (svc.get("spec") or {}).get("ports") or []
                              if p.get("port") == spec["port"]), None) or wanted["node_port"]
            entry["url"] = "http://%s:%s%s" % (node_address or "<node-address>", node_port, path)
            entry["note"] = "node port %s on any node" % node_port
        else:
            # Privileged local ports need root; forward those to the container's own port number instead.
            local = spec["port"] if spec["port"] >= 1024 else spec.get("local_port", 8080)
            entry["url"] = "http://localhost:%s%s" % (local, path)
            entry["note"] = "run first: kubectl -n %s port-forward svc/%s %s:%s" % (
                namespace, spec["service"], local, spec["port"])
        out[name] = entry
    return out
