# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Load generation during a release's analysis: a Kubernetes Job running Istio's fortio load client.

A canary on a quiet service cannot be judged (too few requests), so a release may bring its own
traffic, as Flagger's load tester does: one Job per analysed period of a step, running
``fortio load -qps R -t Ds -c N URL`` in the release's namespace with an Istio sidecar, so its
requests go through the mesh - along the weights of the step - and are counted in Istio's metrics
like any client's.

The Job of a period is named after the release and the time the period began (the ``since`` of
the release state), so a re-run of the same period finds it instead of starting a second one,
and every Job of another period - or of a release that is no longer analysed - is removed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.meshops.istio.plugins.module_utils import validation as val

# The image of Istio's own fortio sample client (samples/httpbin/sample-client/fortio-deploy.yaml).
IMAGE = "fortio/fortio:latest_release"
RELEASE_LABEL = "meshops.istio/load-for"
SINCE_ANNOTATION = "meshops.istio/load-since"
DEFAULT_CONNECTIONS = 2
# A load that outlives its release (the controller died before removing it) ends on its own: fortio stops at
# -t, Kubernetes ends a pod that hangs after this much more (a sidecar that never exits), and deletes the
# finished Job after the TTL.
DEADLINE_SLACK = 300
FINISHED_TTL = 600

ARG_SPEC = dict(
    rate=dict(type="float"),
    duration=dict(type="raw"),
    connections=dict(type="int", default=DEFAULT_CONNECTIONS),
    url=dict(type="str"),
    port=dict(type="int"),
    path=dict(type="str", default="/"),
    image=dict(type="str", default=IMAGE),
)


class LoadError(ValueError):
    """Load settings that cannot work; the message says what to change."""


def validate(load, seconds):
    """Normalised load settings, or None when no load is asked for. ``seconds`` reads durations."""
    load = dict((k, v) for k, v in (load or {}).items() if v is not None)
    if not load.get("rate"):
        if set(load) - set(("connections", "path", "image")):
            raise LoadError("load needs rate: requests per second the load generator sends (for example 20).")
        return None
    rate = load["rate"]
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0 or rate > 100000:
        raise LoadError("load.rate is %r; it must be requests per second, more than 0 (for example 20)." % (rate,))
    out = dict(rate=float(rate), connections=load.get("connections", DEFAULT_CONNECTIONS),
               path=load.get("path", "/"), image=load.get("image", IMAGE), url=load.get("url"), port=load.get("port"),
               duration=None)
    if not 1 <= out["connections"] <= 1000:
        raise LoadError("load.connections is %r; it must be from 1 to 1000 (fortio's -c)." % out["connections"])
    if load.get("duration") is not None:
        try:
            out["duration"] = seconds(load["duration"], "load.duration")
        except ValueError as e:
            raise LoadError(str(e)) from None
        if out["duration"] < 1:
            raise LoadError("load.duration is %gs; it must be at least 1s (for example 2m)." % out["duration"])
    if out["url"]:
        problem = val.url_problem(out["url"], "load.url", example="http://reviews.bookinfo:9080/")
        if problem:
            raise LoadError(problem)
        if out["port"] is not None:
            raise LoadError("Give load.url or load.port (with load.path), not both: the URL names its port.")
    elif out["port"] is not None and not 1 <= out["port"] <= 65535:
        raise LoadError("load.port is %r; it must be a port number from 1 to 65535." % out["port"])
    if not out["path"].startswith("/"):
        raise LoadError("load.path is %r; it must start with / (for example /health)." % out["path"])
    if not out["image"] or any(c.isspace() for c in out["image"]):
        raise LoadError("load.image is %r; it must be an image reference such as %s." % (out["image"], IMAGE))
    return out


def target_url(load, service, namespace, service_ports):
    """The URL the load is sent to: load.url, or the service's cluster name with its (first) port and load.path."""
    if load.get("url"):
        return load["url"]
    port = load.get("port")
    if port is None:
        if not service_ports:
            raise LoadError("Service %s/%s has no port to send load to (or does not exist); give load.url (for "
                            "example http://%s.%s:8080/) or load.port." % (namespace, service, service, namespace))
        port = service_ports[0]
    return "http://%s.%s:%d%s" % (service, namespace, port, load["path"])


def job_name(release, since):
    # A Job name is also a pod label value (job-name): at most 63 characters with the suffix.
    return "%s-load-%d" % (release[:46].rstrip("-"), int(since))


def duration_of(load, interval, window):
    """Seconds the load runs: as given, or the step's interval plus one window, so that the window the analysis
    reads is covered even when the Job starts a little late."""
    return int(round(load["duration"] if load.get("duration") else max(interval + window, 1)))


def fortio_args(rate, duration, connections, url):
    """fortio's own CLI: fixed rate (-qps), for a time (-t), over N connections (-c)."""
    return ["load", "-qps", ("%g" % rate), "-t", "%ds" % duration, "-c", str(connections), "-allow-initial-errors", url]


def manifest(release, namespace, since, load, url, duration):
    name = job_name(release, since)
    labels = {"app.kubernetes.io/name": "fortio", "app.kubernetes.io/managed-by": "meshops.istio",
              RELEASE_LABEL: release}
    pod_labels = dict(labels, app=name)
    # The sidecar makes the load mesh traffic: routed by the step's weights and reported by Istio.
    pod_labels["sidecar.istio.io/inject"] = "true"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels,
                     "annotations": {SINCE_ANNOTATION: "%.3f" % since}},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": duration + DEADLINE_SLACK,
            "ttlSecondsAfterFinished": FINISHED_TTL,
            "template": {
                "metadata": {"labels": pod_labels,
                             # fortio's first requests would fail before the sidecar is ready.
                             "annotations": {"proxy.istio.io/config": '{"holdApplicationUntilProxyStarts": true}'}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": "fortio",
                        "image": load["image"],
                        "args": fortio_args(load["rate"], duration, load["connections"], url),
                    }],
                },
            },
        },
    }


class LoadGenerator:
    """The load Jobs of one release in one namespace, kept as the release state asks."""

    def __init__(self, cluster, namespace, release):
        self.cluster = cluster
        self.namespace = namespace
        self.release = release
        self.actions = []

    def live(self):
        return self.cluster.list("batch/v1", "Job", self.namespace, label_selector="%s=%s" % (RELEASE_LABEL, self.release))

    def sync(self, desired):
        """Make the release's load Jobs exactly ``desired`` (a Job manifest, or None for none).

        An existing Job of that name is left as it is: a Job's pod template cannot change, and a re-run
        of the same period must not restart the load. Returns what was done: [{name, action}]."""
        from ansible_collections.meshops.istio.plugins.module_utils.kube import ApplyReport
        live = self.live()
        want = desired["metadata"]["name"] if desired else None
        stale = [job for job in live if job["metadata"]["name"] != want]
        done = []
        if stale:
            report = ApplyReport()
            self.cluster.delete_objects([_key(job) for job in stale], report, propagation="Background")
            done.extend(dict(name=r["name"], action=r["action"]) for r in report.results)
        if desired and not any(job["metadata"]["name"] == want for job in live):
            action, _before, _after = self.cluster.apply_one(copy.deepcopy(desired), live=None, known_live=True)
            done.append(dict(name=want, action=action))
        self.actions.extend(done)
        return done


def _key(job):
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": job["metadata"]["name"], "namespace": job["metadata"]["namespace"]}}
