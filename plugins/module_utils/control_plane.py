# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""What is Istio's about installing, upgrading and inspecting a control plane.

Pure functions first (versions, support ranges, revision names, chart values, the IstioOperator
file, the precheck decisions, summarising what the API returned); ``Inspector`` at the end does
the few reads they need through ``kube.Cluster``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.meshops.istio.plugins.module_utils import openshift

ISTIO_CHART_REPO = "https://istio-release.storage.googleapis.com/charts"
DEFAULT_NAMESPACE = "istio-system"
DEFAULT_REVISION = "default"
REVISION_LABEL = "istio.io/rev"
INJECTION_LABEL = "istio-injection"
TAG_LABEL = "istio.io/tag"
ISTIOD_LABEL_SELECTOR = "app=istiod"
PROFILES = ("default", "demo", "minimal", "remote", "empty", "preview", "ambient")
# Where each chart sits in an unpacked Istio release (manifests/charts), when not at <chart>/.
RELEASE_CHART_DIRS = {"istiod": "istio-control/istio-discovery", "cni": "istio-cni"}

# Kubernetes minors each Istio minor is supported on (istio.io "Supported releases" table, as
# published for each release). The only copy of this table in the collection: the precheck, the
# docs (docs/control-plane.md points here) and the tests read it from here.
SUPPORTED_KUBERNETES = {
    "1.20": ("1.25", "1.29"),
    "1.21": ("1.26", "1.29"),
    "1.22": ("1.27", "1.30"),
    "1.23": ("1.27", "1.30"),
    "1.24": ("1.28", "1.31"),
    "1.25": ("1.29", "1.32"),
    "1.26": ("1.29", "1.33"),
    "1.27": ("1.29", "1.33"),
    "1.28": ("1.30", "1.34"),
    "1.29": ("1.31", "1.35"),
}

# Istio supports in-place upgrades one minor at a time; revision (canary) upgrades may skip one
# minor (two minors apart), because both control planes run side by side while workloads move.
MAX_MINOR_SKEW = {"in_place": 1, "canary": 2}

# Revisions become object names (istiod-<rev>) and label values, so they must be DNS labels.
_REVISION_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


class ControlPlaneError(ValueError):
    """A request that cannot be carried out; the message says what to change."""


# -- versions -------------------------------------------------------------------------------------
def parse_version(text):
    """(major, minor, patch) from "1.24.0", "v1.30.2-eks-1a2b", "1.24"; None when unreadable."""
    match = _VERSION_RE.match(str(text or "").strip())
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def minor_of(version):
    parsed = parse_version(version)
    return "%d.%d" % parsed[:2] if parsed else None


def validate_version(version):
    """Raise ControlPlaneError unless ``version`` is an Istio release number like 1.24.0."""
    if not re.match(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$", str(version or "")):
        raise ControlPlaneError(
            "Istio version %r is not a release number: give it as MAJOR.MINOR.PATCH, for example 1.24.0."
            % (version,))


def minor_distance(a, b):
    pa, pb = parse_version(a), parse_version(b)
    if pa is None or pb is None:
        return None
    if pa[0] != pb[0]:
        return 100
    return abs(pa[1] - pb[1])


def kubernetes_version_problem(istio_version, kubernetes_version, allow_untested=False):
    """Why ``istio_version`` should not be installed on ``kubernetes_version`` (None when fine)."""
    minor = minor_of(istio_version)
    support = SUPPORTED_KUBERNETES.get(minor)
    if support is None:
        return None
    k8s = parse_version(kubernetes_version)
    if k8s is None:
        return None
    low, high = (parse_version(v) for v in support)
    here = "Kubernetes %d.%d" % k8s[:2]
    if k8s[:2] < low[:2]:
        return ("Istio %s supports Kubernetes %s to %s, but this cluster runs %s. Upgrade the cluster, or "
                "choose an Istio version that supports %s." % (minor, support[0], support[1], here, here))
    if k8s[:2] > high[:2] and not allow_untested:
        return ("Istio %s supports Kubernetes %s to %s, but this cluster runs %s, which that release was not "
                "tested on. Choose a newer Istio version, or set control_plane_allow_untested_kubernetes=true "
                "(allow_untested_kubernetes) to install anyway." % (minor, support[0], support[1], here))
    return None


def networking_api_version(istio_version):
    """networking.istio.io/v1 is served from Istio 1.22; older releases need v1beta1."""
    parsed = parse_version(istio_version)
    if parsed and parsed[:2] < (1, 22):
        return "networking.istio.io/v1beta1"
    return "networking.istio.io/v1"


# -- revisions and names ------------------------------------------------------------------------
def revision_label(revision):
    """The value of istio.io/rev for a control plane: ``default`` when it has no revision."""
    return revision or DEFAULT_REVISION


def validate_revision(revision):
    if not revision:
        return
    if revision == DEFAULT_REVISION:
        raise ControlPlaneError(
            "revision 'default' is the name Istio gives a control plane without a revision: leave the "
            "revision empty for it, or pick another name (for example 1-24-0).")
    if not _REVISION_RE.match(revision):
        raise ControlPlaneError(
            "revision %r is not a valid revision name: use lower-case letters, digits and '-', at most 63 "
            "characters, starting and ending with a letter or digit (for example 1-24-0 or canary)." % revision)


def version_revision(version):
    """The revision name Istio's docs use for a version: 1.24.0 -> 1-24-0."""
    return str(version).replace(".", "-")


def istiod_name(revision):
    """Name of the istiod Deployment/Service (and Helm release) of a revision."""
    return "istiod-%s" % revision if revision and revision != DEFAULT_REVISION else "istiod"


# -- chart sources and values -----------------------------------------------------------------
def chart_source(source, chart, version, exists=None, isdir=None, listdir=None, read=None):
    """Where helm finds ``chart`` at ``version``: {chart_ref, chart_repo_url, chart_version, local}.

    ``source`` is a Helm repository URL (Istio's by default), an oci:// registry, or a local
    directory holding ``<chart>-<version>.tgz`` or an unpacked ``<chart>/`` (air-gapped installs).
    A local directory that holds the chart only at other versions is refused, naming them: helm would
    otherwise install the version it found and the run would fail only at verify.
    ``exists``/``isdir``/``listdir``/``read`` are injected so this stays testable without touching the disk."""
    import os

    exists = exists or os.path.exists
    isdir = isdir or os.path.isdir
    listdir = listdir or os.listdir
    read = read or _read_text
    source = str(source or ISTIO_CHART_REPO).rstrip("/")
    if source.startswith(("http://", "https://")):
        return dict(chart_ref=chart, chart_repo_url=source, chart_version=version, local=False)
    if source.startswith("oci://"):
        return dict(chart_ref="%s/%s" % (source, chart), chart_repo_url=None, chart_version=version, local=False)
    tarball = os.path.join(source, "%s-%s.tgz" % (chart, version))
    if exists(tarball):
        return dict(chart_ref=tarball, chart_repo_url=None, chart_version=None, local=True)
    found = []
    # <chart>/ as `helm pull --untar` leaves it, or the layout of an Istio release's manifests/charts.
    for sub in dict.fromkeys((chart, RELEASE_CHART_DIRS.get(chart, chart))):
        unpacked = os.path.join(source, sub)
        chart_yaml = os.path.join(unpacked, "Chart.yaml")
        if isdir(unpacked) and exists(chart_yaml):
            have = chart_yaml_version(read(chart_yaml))
            # A Chart.yaml without a version cannot be told apart: helm is left to judge it.
            if have is None or have == str(version):
                return dict(chart_ref=unpacked, chart_repo_url=None, chart_version=None, local=True)
            found.append("%s (%s/Chart.yaml)" % (have, sub))
    if not isdir(source):
        raise ControlPlaneError(
            "Chart source %r is neither a Helm repository URL (https://..., oci://...) nor a directory on "
            "the controller. Set it to Istio's repository %s or to a directory holding the charts."
            % (source, ISTIO_CHART_REPO))
    packaged = re.compile(r"^%s-(\d[^/]*)\.tgz$" % re.escape(chart))
    found.extend("%s (%s)" % (m.group(1), m.group(0)) for m in sorted(
        filter(None, (packaged.match(name) for name in listdir(source))), key=lambda m: m.group(0)))
    if found:
        raise ControlPlaneError(
            "Istio %s was asked for, but the chart directory %s holds the %s chart only at %s. Put the %s charts "
            "there (for example with: helm pull istio/%s --version %s), or ask for a version the directory holds."
            % (version, source, chart, ", ".join(found), version, chart, version))
    release_dir = RELEASE_CHART_DIRS.get(chart)
    raise ControlPlaneError(
        "The chart directory %s holds neither %s nor %s/Chart.yaml%s. Put the Istio %s charts there (for "
        "example with: helm pull istio/%s --version %s), or point the chart source at the right directory "
        "(the manifests/charts directory of an unpacked Istio release works too)."
        % (source, os.path.basename(tarball), chart,
           " (nor %s/Chart.yaml, as in an Istio release)" % release_dir if release_dir else "", version, chart, version))


def _read_text(path):
    with open(path) as f:
        return f.read()


def chart_yaml_version(text):
    """The version a Chart.yaml declares, or None when it declares none (or is not YAML)."""
    import yaml

    try:
        meta = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    version = meta.get("version") if isinstance(meta, dict) else None
    return None if version is None else str(version)


# -- CRDs ----------------------------------------------------------------------------------------
def is_istio_group(group):
    """Istio's APIs are the istio.io group and its subgroups (networking.istio.io, ...)."""
    group = str(group or "")
    return group == "istio.io" or group.endswith(".istio.io")


def is_istio_crd(obj):
    """A CustomResourceDefinition of an Istio API group (by what it defines, not by its labels, which
    changed when the base chart moved its CRDs into templates)."""
    return ((obj or {}).get("kind") == "CustomResourceDefinition"
            and is_istio_group(((obj or {}).get("spec") or {}).get("group")))


_SOURCE_RE = re.compile(r"^# Source: (\S+)", re.MULTILINE)
_SEPARATOR_RE = re.compile(r"^---[ \t]*$", re.MULTILINE)


def rendered_crds(rendered):
    """The Istio CRDs in ``helm template --include-crds`` output: {crds, static, names}.

    ``static`` are those from the chart's crds/ folder (Istio before 1.24), which Helm installs once
    and never upgrades; the others come from templates (templates/crds.yaml since 1.24) and belong
    to the Helm release. helm prints one ``# Source:`` line per template document but only one for a
    whole crds/ file, so a document without one comes from the file named before it."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crds, static, source = [], [], ""
    for text in _SEPARATOR_RE.split(str(rendered or "")):
        found = _SOURCE_RE.search(text)
        if found:
            source = found.group(1)
        if "CustomResourceDefinition" not in text:
            continue
        obj = yaml.load(text, Loader=loader)
        if isinstance(obj, dict) and is_istio_crd(obj):
            crds.append(obj)
            if "/crds/" in "/" + source:
                static.append(obj)
    return dict(crds=crds, static=static, names=sorted(c["metadata"]["name"] for c in crds))


def istio_crd_refs(crds):
    """Just enough of each Istio CRD among ``crds`` (API objects) to delete it: apiVersion, kind, name."""
    return [{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
             "metadata": {"name": c["metadata"]["name"]}}
            for c in crds or [] if is_istio_crd(dict(c, kind="CustomResourceDefinition"))]


def crd_wait_status(expected, crds):
    """Which of the ``expected`` CRD names are missing or not Established among ``crds`` (API objects)."""
    found = dict(((c.get("metadata") or {}).get("name"), c) for c in crds or [])
    missing = sorted(n for n in expected or [] if n not in found)
    pending = sorted(n for n in expected or [] if n in found and not _condition(found[n], "Established"))
    return dict(expected=len(expected or []), established=len(expected or []) - len(missing) - len(pending),
                missing=missing, pending=pending)


def _set_path(values, path, value):
    node = values
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def deep_merge(base, override):
    """``override`` merged over ``base`` (dicts recursively; lists and scalars replaced)."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# Kubernetes distributions with a platform profile in Istio's charts that the roles support.
PLATFORMS = ("kubernetes", "openshift")


def chart_values(chart, settings, extra=None):
    """Helm values for Istio's ``base``, ``istiod`` or ``gateway`` chart from our settings.

    ``settings`` keys (all optional): namespace, revision, default_revision, profile, platform, hub,
    tag, mesh_config, pilot_env, mesh_id, cluster_name, network. Only what the user set is passed, so
    the charts' own defaults stay in charge of everything else; ``extra`` is merged over ours."""
    settings = settings or {}
    namespace = settings.get("namespace") or DEFAULT_NAMESPACE
    platform = settings.get("platform") or "kubernetes"
    if platform not in PLATFORMS:
        raise ControlPlaneError("Platform %r is not one of %s." % (platform, ", ".join(PLATFORMS)))
    values = {}
    if chart == "base":
        _set_path(values, ("global", "istioNamespace"), namespace)
        if settings.get("default_revision"):
            values["defaultRevision"] = settings["default_revision"]
    elif chart == "istiod":
        _set_path(values, ("global", "istioNamespace"), namespace)
        if settings.get("revision"):
            values["revision"] = settings["revision"]
        profile = settings.get("profile")
        if profile and profile != "default":
            values["profile"] = profile
        for key, path in (("hub", ("global", "hub")), ("tag", ("global", "tag")),
                          ("mesh_id", ("global", "meshID")),
                          ("cluster_name", ("global", "multiCluster", "clusterName")),
                          ("network", ("global", "network"))):
            if settings.get(key):
                _set_path(values, path, str(settings[key]))
        if settings.get("mesh_config"):
            values["meshConfig"] = copy.deepcopy(settings["mesh_config"])
        if settings.get("pilot_env"):
            _set_path(values, ("pilot", "env"), dict((k, str(v)) for k, v in settings["pilot_env"].items()))
    elif chart in ("cni", "ztunnel"):
        # Ambient mode's node agents: the profile switches them to ambient; ztunnel finds istiod by
        # revision and namespace, and takes its image settings at the top level, not under global.
        # OpenShift's sidecar mode runs istio-cni without ambient.
        if platform != "openshift" or settings.get("profile") == "ambient":
            values["profile"] = "ambient"
        if settings.get("revision"):
            values["revision"] = settings["revision"]
        if chart == "ztunnel":
            values["istioNamespace"] = namespace
        for key in ("hub", "tag"):
            if settings.get(key):
                _set_path(values, (key,) if chart == "ztunnel" else ("global", key), str(settings[key]))
    elif chart == "gateway":
        values = gateway_values(settings)
    else:
        raise ControlPlaneError("Unknown Istio chart %r: expected base, istiod, gateway, cni or ztunnel." % (chart,))
    if platform != "kubernetes":
        # Every chart merges its files/profile-platform-<platform>.yaml over its defaults (zzz_profile.yaml);
        # ztunnel's own templates read the top-level key, the others global.platform.
        _set_path(values, ("platform",) if chart == "ztunnel" else ("global", "platform"), platform)
    return deep_merge(values, extra or {})


GATEWAY_SERVICE_TYPES = ("LoadBalancer", "NodePort", "ClusterIP")
# Like istioctl's ingress gateway: Service 80/443 onto unprivileged pod ports 8080/8443, so a
# Gateway server listens on 8080/8443 and the pod needs no privileged-port setting.
DEFAULT_GATEWAY_PORTS = (
    {"name": "status-port", "port": 15021, "target_port": 15021},
    {"name": "http2", "port": 80, "target_port": 8080},
    {"name": "https", "port": 443, "target_port": 8443},
)


def gateway_ports(ports, service_type):
    """Service ports for the istio/gateway chart; node ports only where the Service type has them."""
    out = []
    seen = set()
    for port in ports or DEFAULT_GATEWAY_PORTS:
        if "port" not in port or "name" not in port:
            raise ControlPlaneError("Each gateway port needs a name and a port, got %r." % (port,))
        if port["name"] in seen:
            raise ControlPlaneError("Gateway port name %r is used twice; port names must be unique." % port["name"])
        seen.add(port["name"])
        entry = {"name": str(port["name"]), "port": int(port["port"]),
                 "protocol": str(port.get("protocol") or "TCP"),
                 "targetPort": int(port.get("target_port") or port.get("targetPort") or port["port"])}
        node_port = port.get("node_port") or port.get("nodePort")
        if node_port:
            if service_type == "ClusterIP":
                raise ControlPlaneError(
                    "Gateway port %s asks for node port %s, but the Service type is ClusterIP, which has no node "
                    "ports. Use service_type NodePort (or LoadBalancer), or drop node_port." % (port["name"], node_port))
            if not 30000 <= int(node_port) <= 32767:
                raise ControlPlaneError(
                    "Node port %s of gateway port %s is outside Kubernetes' default node port range 30000-32767."
                    % (node_port, port["name"]))
            entry["nodePort"] = int(node_port)
        out.append(entry)
    return out


def gateway_values(settings):
    """Values for Istio's istio/gateway chart from a gateways_list item."""
    service_type = settings.get("service_type") or "LoadBalancer"
    if service_type not in GATEWAY_SERVICE_TYPES:
        raise ControlPlaneError("Gateway service_type %r is not one of %s." % (service_type, ", ".join(GATEWAY_SERVICE_TYPES)))
    values = {"service": {"type": service_type, "ports": gateway_ports(settings.get("ports"), service_type)}}
    if settings.get("revision"):
        values["revision"] = settings["revision"]
    if settings.get("replicas") is not None:
        # A fixed replica count only holds when the chart's autoscaler is off.
        values["replicaCount"] = int(settings["replicas"])
        values["autoscaling"] = {"enabled": False}
    if settings.get("labels"):
        values["labels"] = dict((str(k), str(v)) for k, v in settings["labels"].items())
    if settings.get("load_balancer_ip"):
        values["service"]["loadBalancerIP"] = str(settings["load_balancer_ip"])
    # No hub or tag: the chart's Deployment says image: auto and istiod's injector fills in the proxy
    # image from its own values (control_plane_hub/control_plane_tag).
    return values


def gateway_selector(name, labels=None):
    """The pod labels the istio/gateway chart gives a gateway (what a Gateway object selects)."""
    labels = labels or {}
    return {"istio": labels.get("istio") or (name[len("istio-"):] if name.startswith("istio-") else name)}


def _gateway_route(name, namespace, item, values):
    """The OpenShift Route of a gateway: to its http2 port, or its https port for TLS passthrough."""
    tls = item.get("route_tls") or "none"
    wanted = "https" if tls == "passthrough" else "http2"
    names = [p["name"] for p in values["service"].get("ports") or []]
    if wanted not in names:
        raise ControlPlaneError("Gateway %s: its Route (route_tls %s) goes to the Service port named %s, which the "
                                "gateway does not have (ports: %s)." % (name, tls, wanted, ", ".join(names)))
    try:
        return openshift.route(name, namespace, name, wanted, item.get("route_host") or "", tls)
    except openshift.OpenShiftError as e:
        raise ControlPlaneError(str(e)) from e


def gateway_plan(items, revision="", common_values=None, platform="kubernetes"):
    """Normalise a gateways_list: {present: [...], absent: [...], namespaces: [Namespace objects],
    services: [{name, namespace}] of the present ones (what istio_info's gateways option takes)}.

    Each gateway comes back with name, namespace, service_type and ``chart_values``
    (ours, then ``common_values``, then the item's own ``values``). On OpenShift the Service is ClusterIP
    (a Route, ``route``, exposes it: OpenShift's router, not node ports, is the way in)."""
    platform = platform or "kubernetes"
    if platform not in PLATFORMS:
        raise ControlPlaneError("Platform %r is not one of %s." % (platform, ", ".join(PLATFORMS)))
    present, absent, names = [], [], set()
    for item in items or []:
        name = item.get("name")
        if not name or not item.get("namespace"):
            raise ControlPlaneError("Every gateway needs a name and a namespace, got %r." % (item,))
        if name in names:
            raise ControlPlaneError("Gateway %r is listed twice; names must be unique." % name)
        names.add(name)
        state = item.get("state") or "present"
        if state not in ("present", "absent"):
            raise ControlPlaneError("Gateway %s: state must be present or absent, not %r." % (name, state))
        if platform != "openshift" and (item.get("route_host") or item.get("route_tls")):
            raise ControlPlaneError("Gateway %s: route_host and route_tls are for OpenShift Routes; set "
                                    "gateways_platform: openshift, or drop them." % name)
        settings = dict(item)
        settings.setdefault("revision", revision)
        if platform == "openshift":
            settings["service_type"] = "ClusterIP"
            for port in settings.get("ports") or []:
                if port.get("node_port") or port.get("nodePort"):
                    raise ControlPlaneError("Gateway %s: port %s asks for a node port, but on OpenShift the gateway "
                                            "is reached through its Route; drop node_port." % (name, port.get("name")))
        values = deep_merge(deep_merge(gateway_values(settings), common_values or {}), item.get("values") or {})
        if platform != "kubernetes":
            _set_path(values, ("global", "platform"), platform)
        gateway = dict(name=name, namespace=item["namespace"], state=state,
                       service_type=values["service"]["type"], chart_values=values,
                       selector=gateway_selector(name, values.get("labels")),
                       route=_gateway_route(name, item["namespace"], item, values) if platform == "openshift" else None)
        (present if state == "present" else absent).append(gateway)
    namespaces = []
    for gateway in present:
        if gateway["namespace"] not in [n["metadata"]["name"] for n in namespaces]:
            namespaces.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": gateway["namespace"]}})
    services = [dict(name=gateway["name"], namespace=gateway["namespace"]) for gateway in present]
    return dict(present=present, absent=absent, namespaces=namespaces, services=services)


def istio_operator(settings, extra=None):
    """The IstioOperator resource ``istioctl install -f`` takes for the same settings."""
    settings = settings or {}
    spec = {"profile": settings.get("profile") or "default"}
    if settings.get("revision"):
        spec["revision"] = settings["revision"]
    if settings.get("hub"):
        spec["hub"] = str(settings["hub"])
    if settings.get("tag"):
        spec["tag"] = str(settings["tag"])
    if settings.get("mesh_config"):
        spec["meshConfig"] = copy.deepcopy(settings["mesh_config"])
    values = {}
    for key, path in (("mesh_id", ("global", "meshID")),
                      ("cluster_name", ("global", "multiCluster", "clusterName")),
                      ("network", ("global", "network"))):
        if settings.get(key):
            _set_path(values, path, str(settings[key]))
    if settings.get("pilot_env"):
        _set_path(values, ("pilot", "env"), dict((k, str(v)) for k, v in settings["pilot_env"].items()))
    if settings.get("platform") and settings["platform"] != "kubernetes":
        _set_path(values, ("global", "platform"), settings["platform"])
    if values:
        spec["values"] = values
    # Gateways are the gateways role's job (istio/gateway chart), so istioctl must not add its own.
    spec["components"] = {"ingressGateways": [{"name": "istio-ingressgateway", "enabled": False}],
                          "egressGateways": [{"name": "istio-egressgateway", "enabled": False}]}
    if settings.get("platform") == "openshift":
        # OpenShift needs the CNI node agent, and lets only kube-system run it privileged.
        spec["components"]["cni"] = {"enabled": True, "namespace": "kube-system"}
    name = "meshops-" + revision_label(settings.get("revision"))
    operator = {
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "metadata": {"name": name, "namespace": settings.get("namespace") or DEFAULT_NAMESPACE},
        "spec": spec,
    }
    if extra:
        operator["spec"] = deep_merge(operator["spec"], extra)
    return operator


# -- reading what is installed ---------------------------------------------------------------------
def _labels(obj):
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def _condition(obj, kind):
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return str(cond.get("status")) == "True"
    return False


def image_version(image):
    """The Istio version in an image reference (docker.io/istio/pilot:1.24.0-distroless -> 1.24.0)."""
    tag = (image or "").rsplit("/", 1)[-1].partition("@")[0]
    if ":" not in tag:
        return None
    tag = tag.split(":", 1)[1]
    match = re.match(r"^(\d+\.\d+\.\d+(?:-(?:alpha|beta|rc)\.\d+)?)", tag)
    return match.group(1) if match else None


def _status_revision(pod):
    """The revision the injector recorded in the sidecar.istio.io/status annotation."""
    import json

    raw = (((pod or {}).get("metadata") or {}).get("annotations") or {}).get("sidecar.istio.io/status")
    try:
        return (json.loads(raw) or {}).get("revision") if raw else None
    except (TypeError, ValueError):
        return None


def _selector_matches_label(selector, key, value):
    """True when a webhook's label selector requires ``key`` to equal ``value``."""
    selector = selector or {}
    if (selector.get("matchLabels") or {}).get(key) == value:
        return True
    for expr in selector.get("matchExpressions") or []:
        if expr.get("key") == key and expr.get("operator") == "In" and value in (expr.get("values") or []):
            return True
    return False


def summarize(deployments=None, mutating=None, validating=None, crds=None, namespaces=None,
              kubernetes_version=None, pods=None):
    """What is installed, from the objects the API returned (pure, so it is unit tested)."""
    revisions = {}
    for deployment in deployments or []:
        labels = _labels(deployment)
        if labels.get("app") != "istiod":
            continue
        meta = deployment.get("metadata") or {}
        spec = deployment.get("spec") or {}
        status = deployment.get("status") or {}
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        image = next((c.get("image") for c in containers if c.get("name") == "discovery"),
                     containers[0].get("image") if containers else None)
        rev = labels.get(REVISION_LABEL) or DEFAULT_REVISION
        revisions[rev] = dict(
            revision=rev,
            name=meta.get("name"),
            namespace=meta.get("namespace"),
            version=labels.get("app.kubernetes.io/version") or image_version(image),
            image=image,
            replicas=spec.get("replicas", 1),
            ready_replicas=status.get("readyReplicas", 0) or 0,
            available=_condition(deployment, "Available"),
            default=False,
            webhooks=[],
        )

    mutating_out = []
    tags = {}
    default_injector = None
    for config in mutating or []:
        meta = config.get("metadata") or {}
        labels = meta.get("labels") or {}
        webhooks = config.get("webhooks") or []
        if not (labels.get("app") == "sidecar-injector"
                or any(str(w.get("name", "")).endswith("sidecar-injector.istio.io") for w in webhooks)):
            continue
        rev = labels.get(REVISION_LABEL) or DEFAULT_REVISION
        tag = labels.get(TAG_LABEL)
        serves_default = any(_selector_matches_label(w.get("namespaceSelector"), INJECTION_LABEL, "enabled")
                             for w in webhooks)
        if tag:
            tags[tag] = rev
        if serves_default:
            default_injector = rev
        mutating_out.append(dict(name=meta.get("name"), revision=rev, tag=tag, serves_default=serves_default,
                                 webhooks=[w.get("name") for w in webhooks]))
        if rev in revisions:
            revisions[rev]["webhooks"].append(meta.get("name"))

    validating_out = []
    for config in validating or []:
        meta = config.get("metadata") or {}
        labels = meta.get("labels") or {}
        webhooks = config.get("webhooks") or []
        if not (labels.get("app") == "istiod"
                or any(str(w.get("name", "")).endswith("validation.istio.io") for w in webhooks)):
            continue
        rev = labels.get(REVISION_LABEL) or DEFAULT_REVISION
        validating_out.append(dict(name=meta.get("name"), revision=rev,
                                   webhooks=[w.get("name") for w in webhooks]))
        if rev in revisions:
            revisions[rev]["webhooks"].append(meta.get("name"))

    if default_injector in revisions:
        revisions[default_injector]["default"] = True
    elif len(revisions) == 1 and DEFAULT_REVISION in revisions:
        revisions[DEFAULT_REVISION]["default"] = True

    istio_crds = [c for c in crds or [] if is_istio_crd(dict(c, kind="CustomResourceDefinition"))]
    crd_names = sorted(c["metadata"]["name"] for c in istio_crds)
    established = [c for c in istio_crds if _condition(c, "Established")]

    namespaces_out = []
    for ns in namespaces or []:
        labels = _labels(ns)
        name = (ns.get("metadata") or {}).get("name")
        injection = labels.get(INJECTION_LABEL)
        rev = labels.get(REVISION_LABEL)
        if injection == "enabled":
            namespaces_out.append(dict(name=name, injection="enabled",
                                       revision=default_injector or (DEFAULT_REVISION if DEFAULT_REVISION in revisions
                                                                     else None)))
        elif injection:
            namespaces_out.append(dict(name=name, injection=injection, revision=None))
        elif rev:
            namespaces_out.append(dict(name=name, injection="revision", revision=tags.get(rev, rev), label=rev))

    proxies = None
    if pods is not None:
        proxies = {}
        for pod in pods:
            spec = pod.get("spec") or {}
            names = [c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]
            if "istio-proxy" not in names:
                continue
            annotations = (pod.get("metadata") or {}).get("annotations") or {}
            # The injector records the revision as an annotation (and in sidecar.istio.io/status).
            rev = (_labels(pod).get(REVISION_LABEL) or annotations.get(REVISION_LABEL) or _status_revision(pod)
                   or DEFAULT_REVISION)
            meta = pod.get("metadata") or {}
            proxies.setdefault(rev, []).append("%s/%s" % (meta.get("namespace"), meta.get("name")))

    ordered = sorted(revisions.values(), key=lambda r: (not r["default"], r["revision"]))
    default_rev = next((r for r in ordered if r["default"]), ordered[0] if ordered else None)
    k8s = parse_version(kubernetes_version)
    return dict(
        installed=bool(revisions),
        version=default_rev["version"] if default_rev else None,
        default_revision=default_rev["revision"] if default_rev else None,
        revisions=ordered,
        revision_tags=tags,
        kubernetes_version="%d.%d.%d" % k8s if k8s else kubernetes_version,
        crds=dict(count=len(crd_names), established=len(established), names=crd_names),
        webhooks=dict(mutating=mutating_out, validating=validating_out),
        namespaces=namespaces_out,
        proxies=proxies,
    )


# -- precheck ------------------------------------------------------------------------------------------
def plan(info, version, revision=None, mode="in_place", allow_untested_kubernetes=False):
    """Decide what installing ``version`` as ``revision`` means on a cluster described by ``info``.

    Returns {action, from_version, problems}: action is install (nothing there yet), upgrade,
    downgrade, unchanged (same version already running), or canary (a new revision beside the
    running ones). ``problems`` lists every reason not to go ahead, each saying what to do."""
    problems = []
    try:
        validate_version(version)
    except ControlPlaneError as e:
        problems.append(str(e))
    try:
        validate_revision(revision)
    except ControlPlaneError as e:
        problems.append(str(e))
    if problems:
        return dict(action=None, from_version=None, problems=problems)

    k8s_problem = kubernetes_version_problem(version, info.get("kubernetes_version"), allow_untested_kubernetes)
    if k8s_problem:
        problems.append(k8s_problem)

    label = revision_label(revision)
    revisions = dict((r["revision"], r) for r in info.get("revisions") or [])
    current = revisions.get(label)
    tags = info.get("revision_tags") or {}
    if label in tags and label != DEFAULT_REVISION:
        problems.append(
            "%r is already a revision tag (pointing at revision %s); tags and revisions share the istio.io/rev "
            "label, so a revision of that name would be ambiguous. Pick another revision name or remove the tag "
            "(istioctl tag remove %s)." % (label, tags[label], label))

    action = "install"
    from_version = current["version"] if current else None
    if mode == "canary":
        if not revision:
            problems.append("A canary (revision-based) upgrade needs a revision name for the new control plane, "
                            "for example revision=%s." % version_revision(version))
        elif current and current.get("version") and current["version"] != version:
            problems.append(
                "Revision %s already runs Istio %s. A canary upgrade installs the new version under a new revision "
                "name beside the running one: choose a revision that does not exist yet (for example %s)."
                % (label, current["version"], version_revision(version)))
        others = [r for r in revisions.values() if r["revision"] != label]
        for other in others:
            distance = minor_distance(other.get("version"), version)
            if distance is not None and distance > MAX_MINOR_SKEW["canary"]:
                problems.append(
                    "Revision %s runs Istio %s, which is %d minor versions from %s; a canary upgrade may span at most "
                    "%d. Upgrade through an intermediate minor version first."
                    % (other["revision"], other["version"], distance, version, MAX_MINOR_SKEW["canary"]))
        action = "unchanged" if current and current.get("version") == version else "canary"
    elif current:
        installed = current.get("version")
        distance = minor_distance(installed, version)
        if installed == version:
            action = "unchanged"
        elif distance is not None and distance > MAX_MINOR_SKEW["in_place"]:
            problems.append(
                "Istio %s is installed (revision %s) and %s is %d minor versions away; an in-place upgrade may only "
                "move one minor version at a time. Upgrade to %s first, or use playbooks/canary_upgrade.yml with a "
                "new revision." % (installed, label, version, distance,
                                   _step_towards(installed, version)))
        else:
            newer = parse_version(version) > parse_version(installed) if installed else True
            action = "upgrade" if newer else "downgrade"
    return dict(action=action, from_version=from_version, problems=problems)


def _step_towards(installed, target):
    a, b = parse_version(installed), parse_version(target)
    if not a or not b:
        return "an intermediate version"
    step = a[1] + (1 if b[1] > a[1] else -1)
    return "%d.%d.x" % (a[0], step)


# Permissions an Istio install needs: (verb, group, resource, namespaced).
REQUIRED_PERMISSIONS = (
    ("create", "apiextensions.k8s.io", "customresourcedefinitions", False),
    ("create", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", False),
    ("create", "admissionregistration.k8s.io", "validatingwebhookconfigurations", False),
    ("create", "rbac.authorization.k8s.io", "clusterroles", False),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings", False),
    ("create", "", "namespaces", False),
    ("create", "apps", "deployments", True),
    ("create", "", "services", True),
    ("create", "", "configmaps", True),
    ("create", "", "serviceaccounts", True),
)


def access_review(verb, group, resource, namespace=None):
    attributes = {"verb": verb, "group": group, "resource": resource}
    if namespace:
        attributes["namespace"] = namespace
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes}}


def permission_problem(denied):
    """One message for every permission the user lacks: [(verb, group, resource, namespace)]."""
    if not denied:
        return None
    listed = ", ".join("%s %s%s%s" % (verb, resource, ".%s" % group if group else "",
                                      " in %s" % ns if ns else "")
                       for verb, group, resource, ns in denied)
    return ("The credentials in use may not %s. Installing Istio needs cluster-admin rights (CRDs, webhooks, "
            "cluster roles); run with a kubeconfig that has them." % listed)


# -- reads ---------------------------------------------------------------------------------------------
class Inspector:
    """The reads behind istio_info and istio_precheck, through a kube.Cluster."""

    def __init__(self, cluster):
        self.cluster = cluster

    def kubernetes_version(self):
        from kubernetes.client import VersionApi

        def read():
            return VersionApi(self.cluster.dynamic.client).get_code().git_version
        return self.cluster._call("read", "version", None, None, read)

    def _list(self, api_version, kind, label_selector=None):
        return self.cluster.list(api_version, kind, label_selector=label_selector)

    def gather(self, pods=False, crds=True):
        version = self.kubernetes_version()
        deployments = self._list("apps/v1", "Deployment", ISTIOD_LABEL_SELECTOR)
        mutating = self._list("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")
        validating = self._list("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")
        # Every CRD is read and those of Istio's groups kept: no label marks them across versions.
        crd_list = self._list("apiextensions.k8s.io/v1", "CustomResourceDefinition") if crds else []
        namespaces = self._list("v1", "Namespace")
        pod_list = self._list("v1", "Pod") if pods else None
        info = summarize(deployments, mutating, validating, crd_list, namespaces, version, pod_list)
        info["namespace_names"] = sorted((n.get("metadata") or {}).get("name") for n in namespaces)
        return info

    def denied_permissions(self, namespace):
        """[(verb, group, resource, namespace)] the current user may not do; None when the API has no
        SelfSubjectAccessReview (then nothing can be said)."""
        from ansible_collections.meshops.istio.plugins.module_utils.kube import KubeError

        try:
            resource = self.cluster.resource("authorization.k8s.io/v1", "SelfSubjectAccessReview")
        except KubeError:
            return None
        denied = []
        for verb, group, plural, namespaced in REQUIRED_PERMISSIONS:
            ns = namespace if namespaced else None
            body = access_review(verb, group, plural, ns)
            answer = self.cluster._call("create", "SelfSubjectAccessReview", None, None,
                                        lambda body=body: resource.create(body=body).to_dict())
            if not (answer.get("status") or {}).get("allowed"):
                denied.append((verb, group, plural, ns))
        return denied
