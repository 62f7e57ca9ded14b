# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""What each phase of the control_plane and gateways roles asks of helm, helm template or istioctl.

One pure function, ``control_plane_ops``, turns a phase, a method, what is installed and the role's settings
into a list of operations; the roles' executors (roles/control_plane/tasks/{helm,template,istioctl}.yml) carry
them out without knowing which phase they serve. An operation is
``{chart, release, namespace, values, state}`` for helm and template (``skip_crds`` on istio/base) or
``{argv}`` for istioctl (the arguments after the binary; the executor adds the binary and the auth flags).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils import control_plane as cp

METHODS = ("helm", "template", "istioctl")
PHASES = ("install", "prune", "uninstall", "gateways_install", "gateways_remove")
# The node agents with the Helm release names Istio's docs use (helm install istio-cni istio/cni, ztunnel istio/ztunnel).
NODE_CHARTS = (("cni", "istio-cni"), ("ztunnel", "ztunnel"))
BASE_RELEASE = "istio-base"


def node_charts(settings):
    """The node agents an install runs: ambient's two, or on OpenShift (sidecars) istio-cni alone, which replaces
    the istio-init container that OpenShift's restricted SCCs would refuse."""
    if settings.get("profile") == "ambient":
        return list(NODE_CHARTS)
    return list(NODE_CHARTS[:1]) if settings.get("platform") == "openshift" else []


def node_namespace(settings):
    """OpenShift lets only kube-system run the node agents privileged (install-OpenShift.md)."""
    return "kube-system" if settings.get("platform") == "openshift" else settings.get("namespace") or cp.DEFAULT_NAMESPACE


def revisions_to_remove(phase, found, revision):
    """The revisions a prune or an uninstall removes.

    Webhook configurations count as well as istiod Deployments, so a run interrupted after istiod went still
    removes what is left. A prune keeps this revision; an uninstall of a revision removes only that one."""
    own = cp.revision_label(revision)
    if phase == "uninstall" and revision:
        return [own]
    webhooks = found.get("webhooks") or {}
    seen = [r.get("revision") for r in (found.get("revisions") or []) + (webhooks.get("mutating") or [])
            + (webhooks.get("validating") or [])]
    out = list(dict.fromkeys(r for r in seen if r))
    return [r for r in out if r != own] if phase == "prune" else out


def _op(chart, release, namespace, values, state="present"):
    op = dict(chart=chart, release=release, namespace=namespace, values=values, state=state)
    if chart == "base":
        # Only a crds/ folder is skipped (crds.yml applies it); CRDs in templates belong to the release.
        op["skip_crds"] = True
    return op


def _base(settings, default_revision=None, state="present"):
    """istio/base; ``default_revision`` is the revision its istiod-default-validator serves (None: the chart's)."""
    merged = dict(settings)
    if default_revision is not None:
        merged["default_revision"] = default_revision
    values = cp.chart_values("base", merged, (settings.get("values") or {}).get("base"))
    return _op("base", settings.get("base_release") or BASE_RELEASE, settings.get("namespace") or cp.DEFAULT_NAMESPACE,
               values, state)


def _istiod(settings, revision, state="present"):
    # The object names depend only on the revision, so the wanted version's chart also names what to delete.
    merged = dict(settings, revision="" if revision == cp.DEFAULT_REVISION else revision or "")
    values = cp.chart_values("istiod", merged, (settings.get("values") or {}).get("istiod"))
    return _op("istiod", cp.istiod_name(revision), settings.get("namespace") or cp.DEFAULT_NAMESPACE, values, state)


def _nodes(settings, charts, state="present"):
    return [_op(chart, release, node_namespace(settings),
                cp.chart_values(chart, settings, (settings.get("values") or {}).get(chart)), state)
            for chart, release in charts]


def _default_revision(found, settings):
    """The revision istio/base's default validator serves: this one, unless other revisions run (a canary), which
    keep it until the prune phase makes this revision the default."""
    own = cp.revision_label(settings.get("revision"))
    others = [r for r in found.get("revisions") or [] if r.get("revision") != own]
    return settings.get("revision") or "" if not others else found.get("default_revision") or ""


def _istioctl(argv):
    return dict(argv=list(argv))


def _install(method, found, settings):
    if method == "istioctl":
        # istioctl converges the cluster to the file: run it when the file or the installed version differs.
        if found.get("operator_changed") or found.get("action") != "unchanged":
            return [_istioctl(["install", "-f", settings["operator_file"], "-y"])]
        return []
    nodes = _nodes(settings, node_charts(settings))
    # install-OpenShift.md's order: istio-cni after istio/base and before istiod; ambient's agents after istiod.
    before, after = (nodes, []) if settings.get("platform") == "openshift" else ([], nodes)
    return ([_base(settings, _default_revision(found, settings))] + before
            + [_istiod(settings, settings.get("revision"))] + after)


def _prune(method, found, settings):
    remove = revisions_to_remove("prune", found, settings.get("revision"))
    if not remove:
        return []
    revision = settings.get("revision")
    if method == "istioctl":
        # With istioctl the default revision is a revision tag.
        tag = [] if (found.get("revision_tags") or {}).get("default", "") == revision else [
            _istioctl(["tag", "set", "default", "--revision", revision, "--overwrite", "-y"])]
        return tag + [_istioctl(["uninstall", "--revision", r, "-y"]) for r in remove]
    # istiod-default-validator must point at a revision that stays before the old ones go.
    return [_base(settings, revision)] + [_istiod(settings, r, "absent") for r in remove]


def _uninstall(method, found, settings):
    remove = revisions_to_remove("uninstall", found, settings.get("revision"))
    revision = settings.get("revision")
    if method == "istioctl":
        # --purge removes every revision and the cluster-wide objects; istioctl keeps the CRDs.
        if revision:
            return [_istioctl(["uninstall", "--revision", r, "-y"]) for r in remove]
        return [_istioctl(["uninstall", "--purge", "-y"])] if remove else []
    ops = [_istiod(settings, r, "absent") for r in remove]
    if revision:
        return ops
    # Helm keeps the CRDs (resource-policy keep on those in templates, never deletes a crds/ folder); the template
    # method deletes the rendered objects but the CRDs. Helm releases of node agents are looked for whatever the
    # profile is (a profile may have changed since), where this platform puts them.
    nodes = _nodes(settings, NODE_CHARTS if method == "helm" else node_charts(settings), "absent")
    return ops + (nodes + [_base(settings, state="absent")] if method == "helm" else [_base(settings, state="absent")] + nodes)


def _gateways(method, settings, remove_all):
    if method == "istioctl":
        raise cp.ControlPlaneError("Gateways are installed with helm or template (the istio/gateway chart), not istioctl.")
    plan = settings.get("gateways") or {}
    return [_op("gateway", g["name"], g["namespace"], g["chart_values"], "absent" if remove_all else state)
            for state in ("present", "absent") for g in plan.get(state) or []]


def control_plane_ops(phase, method, found=None, settings=None):
    """The operations of ``phase`` with ``method``, in order.

    ``found`` is what istio_info/istio_precheck read (revisions, webhooks, default_revision, revision_tags), with
    ``action`` (the precheck's) and, for istioctl installs, ``operator_changed``. ``settings`` is the role's
    _control_plane_settings plus ``base_release``, ``values`` ({base, istiod, cni, ztunnel}: the user's extra chart
    values), ``operator_file`` (istioctl) and, for the gateways phases, ``gateways`` (a gateway_plan)."""
    found = found or {}
    settings = settings or {}
    if method not in METHODS:
        raise cp.ControlPlaneError("Method %r is not one of %s." % (method, ", ".join(METHODS)))
    if phase == "install":
        return _install(method, found, settings)
    if phase == "prune":
        return _prune(method, found, settings)
    if phase == "uninstall":
        return _uninstall(method, found, settings)
    if phase in ("gateways_install", "gateways_remove"):
        return _gateways(method, settings, phase == "gateways_remove")
    raise cp.ControlPlaneError("Phase %r is not one of %s." % (phase, ", ".join(PHASES)))
