# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Filters the control_plane and gateways roles use to turn their variables into what Istio's charts,
istioctl and the API expect. The logic lives in module_utils/control_plane.py (unit tested there)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.module_utils import control_plane as cp
from ansible_collections.meshops.istio.plugins.module_utils import control_plane_ops as ops


def _wrap(fn):
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except cp.ControlPlaneError as e:
            raise AnsibleFilterError(str(e)) from e
    call.__name__ = fn.__name__
    call.__doc__ = fn.__doc__
    return call


def istio_chart_source(source, chart, version):
    """Where helm finds an Istio chart: {chart_ref, chart_repo_url, chart_version, local}."""
    return cp.chart_source(source, chart, version)


def istio_chart_values(settings, chart, extra=None):
    """Helm values for Istio's base, istiod or gateway chart."""
    return cp.chart_values(chart, settings, extra)


def istio_control_plane_ops(phase, method, found, settings, charts=None, version=None):
    """The helm/template/istioctl operations of a role phase (module_utils/control_plane_ops.py), each operation
    that needs a chart with its ``source`` (istio_chart_source of ``charts`` at ``version``): helm installs and
    every template operation. Removing a Helm release needs no chart, so a chart directory without the version
    does not stop an uninstall."""
    out, sources = [], {}
    for op in ops.control_plane_ops(phase, method, found, settings):
        if "chart" in op and (method == "template" or op["state"] == "present"):
            if op["chart"] not in sources:
                sources[op["chart"]] = cp.chart_source(charts, op["chart"], version)
            op = dict(op, source=sources[op["chart"]])
        out.append(op)
    return out


def istio_revisions_to_remove(found, phase, revision):
    """The revisions a prune (all but this one) or an uninstall (this one, or all) removes."""
    return ops.revisions_to_remove(phase, found, revision)


def istio_operator(settings, extra=None):
    """The IstioOperator resource for istioctl install."""
    return cp.istio_operator(settings, extra)


def istio_istiod_name(revision):
    """istiod or istiod-<revision>: the istiod Deployment, Service and Helm release name."""
    return cp.istiod_name(revision)


def istio_gateways(items, revision="", values=None, platform="kubernetes"):
    """A gateways_list normalised: {present, absent, namespaces}, each gateway with its chart values."""
    return cp.gateway_plan(items, revision, values, platform)


def istio_rendered_crds(rendered):
    """The Istio CRDs in helm template output: {crds, static, names}."""
    return cp.rendered_crds(rendered)


def istio_crd_wait_status(crds, expected):
    """Which of the expected CRD names are missing or not Established: {expected, established, missing, pending}."""
    return cp.crd_wait_status(expected, crds)


def istio_crd_refs(crds):
    """The Istio CRDs among CRDs read from the API, as [{apiVersion, kind, metadata: {name}}]."""
    return cp.istio_crd_refs(crds)


def istio_networking_api(version):
    """networking.istio.io/v1 for Istio 1.22 and later, v1beta1 before."""
    return cp.networking_api_version(version)


class FilterModule(object):
    def filters(self):
        return dict((fn.__name__, _wrap(fn)) for fn in (
            istio_chart_source, istio_chart_values, istio_operator, istio_istiod_name, istio_networking_api,
            istio_gateways, istio_rendered_crds, istio_crd_wait_status, istio_crd_refs, istio_control_plane_ops,
            istio_revisions_to_remove))
