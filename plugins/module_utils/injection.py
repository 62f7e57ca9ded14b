# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Sidecar injection: namespace labels and which workloads need a restart. Pure functions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.meshops.istio.plugins.module_utils import validation as val

INJECTION_LABEL = "istio-injection"
REVISION_LABEL = "istio.io/rev"
INJECTION_MODES = ("enabled", "disabled", "revision", "absent")
SIDECAR_CONTAINER = "istio-proxy"
INJECT_ANNOTATION = "sidecar.istio.io/inject"
RESTART_ANNOTATION = "kubectl.kubernetes.io/restartedAt"


class InjectionError(ValueError):
    pass


def validate(injection, revision):
    """Raise InjectionError with an actionable message for inconsistent options."""
    if injection not in INJECTION_MODES:
        raise InjectionError("injection=%r is not one of %s." % (injection, ", ".join(INJECTION_MODES)))
    if injection == "revision":
        if not revision:
            raise InjectionError("injection=revision needs revision=<name of the istiod revision>, "
                                 "for example revision=1-24-0.")
        # A revision becomes part of object names (istiod-<rev>) and a label value.
        problem = val.label_problem(revision, "revision")
        if problem:
            raise InjectionError(problem)
    elif revision:
        raise InjectionError("revision=%r is only used with injection=revision (injection is %r); "
                             "drop revision or set injection=revision." % (revision, injection))


def label_changes(injection, revision):
    """The injection labels a namespace must carry: value to set, or None to remove.

    Istio honours ``istio-injection`` over ``istio.io/rev`` when both are present, so each
    mode removes the other label rather than leaving an ambiguous namespace."""
    if injection == "enabled":
        return {INJECTION_LABEL: "enabled", REVISION_LABEL: None}
    if injection == "disabled":
        return {INJECTION_LABEL: "disabled", REVISION_LABEL: None}
    if injection == "revision":
        return {INJECTION_LABEL: None, REVISION_LABEL: revision}
    return {INJECTION_LABEL: None, REVISION_LABEL: None}


def metadata_patch(live_meta, labels, annotations):
    """A JSON merge patch for namespace metadata (empty dict when nothing would change).

    ``labels``/``annotations`` map keys to a value, or to None for "must not be there"."""
    patch = {}
    for field, wanted in (("labels", labels), ("annotations", annotations)):
        current = (live_meta or {}).get(field) or {}
        change = {}
        for key, value in (wanted or {}).items():
            if value is None:
                if key in current:
                    change[key] = None
            elif current.get(key) != value:
                change[key] = value
        if change:
            patch[field] = change
    return {"metadata": patch} if patch else {}


def has_sidecar(pod):
    spec = pod.get("spec") or {}
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    return any(c.get("name") == SIDECAR_CONTAINER for c in containers)


def _selects(selector, labels):
    match = (selector or {}).get("matchLabels") or {}
    if not all(labels.get(k) == v for k, v in match.items()):
        return False
    for expr in (selector or {}).get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return bool(match or (selector or {}).get("matchExpressions"))


def _opted_out(deployment):
    template_meta = ((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}
    value = ((template_meta.get("annotations") or {}).get(INJECT_ANNOTATION)
             or (template_meta.get("labels") or {}).get(INJECT_ANNOTATION))
    return str(value).lower() == "false"


def sidecar_revision(pod):
    """The revision whose injector added the pod's sidecar.

    Istio's injector records it as the istio.io/rev annotation and in sidecar.istio.io/status; a
    pod may also carry it as a label (object-selector injection)."""
    meta = pod.get("metadata") or {}
    revision = (meta.get("labels") or {}).get(REVISION_LABEL) or (meta.get("annotations") or {}).get(REVISION_LABEL)
    if revision:
        return revision
    status = (meta.get("annotations") or {}).get("sidecar.istio.io/status")
    try:
        return (json.loads(status) or {}).get("revision") if status else None
    except (TypeError, ValueError):
        return None


def pod_out_of_date(pod, injection, revision):
    """Why ``pod`` does not match the namespace's injection setting, or None when it does."""
    sidecar = has_sidecar(pod)
    if injection in ("enabled", "revision") and not sidecar:
        return "no istio-proxy sidecar"
    if injection in ("disabled", "absent") and sidecar:
        return "istio-proxy sidecar although injection is %s" % injection
    if injection == "revision":
        pod_revision = sidecar_revision(pod)
        if pod_revision and pod_revision != revision:
            return "sidecar from revision %s, namespace wants %s" % (pod_revision, revision)
    return None


def workloads_out_of_date(deployments, pods, injection, revision):
    """Deployments whose pods do not match the injection setting: [{name, reason, pods}].

    Deployments that opt out with ``sidecar.istio.io/inject: "false"`` are left alone."""
    stale = []
    for deployment in deployments:
        if _opted_out(deployment):
            continue
        selector = (deployment.get("spec") or {}).get("selector")
        owned = [p for p in pods if _selects(selector, (p.get("metadata") or {}).get("labels") or {})
                 and not (p.get("metadata") or {}).get("deletionTimestamp")]
        reasons = [(p["metadata"]["name"], pod_out_of_date(p, injection, revision)) for p in owned]
        bad = [(name, reason) for name, reason in reasons if reason]
        if bad:
            stale.append(dict(name=deployment["metadata"]["name"], reason=bad[0][1],
                              pods=sorted(pod_name for pod_name, _reason in bad)))
    return stale


def restart_patch(timestamp):
    """The patch ``kubectl rollout restart`` sends: a new pod template annotation."""
    return {"spec": {"template": {"metadata": {"annotations": {RESTART_ANNOTATION: timestamp}}}}}
