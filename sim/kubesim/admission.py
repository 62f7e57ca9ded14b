"""Admission: the defaults and checks kube-apiserver's built-in plugins apply, then the webhooks.

Built-in: defaulting, Secret stringData, ServiceAccount admission (a pod naming a missing
ServiceAccount is forbidden). Webhooks (webhooks.py) are called when their rules and selectors match;
Istio's sidecar injector is emulated: a pod is injected when a MutatingWebhookConfiguration has a
reachable webhook named like `*sidecar-injector*` whose namespaceSelector matches the pod's namespace
and whose objectSelector matches the pod — and only when the pod is created, so a namespace
labelled after its pods started keeps sidecar-less pods until they are recreated.
"""
import base64
import json

from . import errors
from .webhooks import MUTATING, Webhooks

DEFAULT_PROXY_IMAGE = "docker.io/istio/proxyv2:1.24.0"
_INJECTED_VOLUMES = ["workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data",
                     "istio-podinfo", "istio-token", "istiod-ca-cert"]
NODE_PORT_RANGE = (30000, 32767)


class Admission:
    def __init__(self, sim):
        self.sim = sim
        self.store = sim.store
        self.webhooks = Webhooks(sim)

    def admit(self, operation, rtype, obj, old, dry_run=False):
        """Mutating admission: the built-in plugins, then the mutating webhooks."""
        handler = _HANDLERS.get(rtype.key)
        if handler:
            handler(self, operation, obj, old)
        for config, hook in self.webhooks.matching(MUTATING, operation, rtype, obj, old):
            if not self.webhooks.reachable(hook, dry_run):
                continue
            if "sidecar-injector" in hook.get("name", "") and rtype.key == ("", "pods") and operation == "CREATE":
                self._inject_sidecar(obj, config)
            # Any other reachable mutating webhook cannot be emulated: it admits the object unchanged.

    def validate(self, operation, rtype, obj, old, dry_run=False, subresource=None):
        """Validating admission: the validating webhooks (after schema validation, as in kube-apiserver)."""
        self.webhooks.validate(operation, rtype, obj, old, dry_run, subresource)

    def delete(self, rtype, old, dry_run=False):
        """A DELETE is sent to the webhooks that ask for it (nothing to mutate: reachability matters)."""
        for _config, hook in self.webhooks.matching(MUTATING, "DELETE", rtype, None, old):
            self.webhooks.reachable(hook, dry_run)
        self.webhooks.validate("DELETE", rtype, None, old, dry_run)

    # secrets --------------------------------------------------------------------------------
    def _secret(self, operation, obj, old):
        """stringData is write-only: merged into data (base64), winning over data for the same key."""
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict) and string_data:
            data = obj.get("data") or {}
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj["data"] = data

    # namespaces -----------------------------------------------------------------------------
    def _namespace(self, operation, obj, old):
        meta = obj["metadata"]
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        if old is None:
            obj["status"] = {"phase": "Active"}

    # services -------------------------------------------------------------------------------
    def _service(self, operation, obj, old):
        spec = obj.setdefault("spec", {})
        old_spec = (old or {}).get("spec") or {}
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        svc_type = spec["type"]
        if svc_type != "ExternalName":
            if old_spec.get("clusterIP") and not spec.get("clusterIP"):
                spec["clusterIP"] = old_spec["clusterIP"]
            elif old_spec.get("clusterIP") and spec.get("clusterIP") != old_spec["clusterIP"]:
                raise errors.invalid(self.sim.registry.by_path("", "v1", "services"), obj["metadata"]["name"],
                                     [{"reason": "FieldValueInvalid", "field": "spec.clusterIPs[0]",
                                       "message": f'Invalid value: []string{{"{spec["clusterIP"]}"}}: may not '
                                                  f'change once set'}])
            if not spec.get("clusterIP"):
                spec["clusterIP"] = self.sim.allocate_cluster_ip()
            spec["clusterIPs"] = [spec["clusterIP"]]
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        old_ports = {(p.get("port"), p.get("protocol", "TCP")): p for p in old_spec.get("ports") or []}
        used = self._node_ports_in_use(obj)
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            if "targetPort" not in port and "port" in port:
                port["targetPort"] = port["port"]
            if svc_type in ("NodePort", "LoadBalancer"):
                previous = old_ports.get((port.get("port"), port["protocol"]), {}).get("nodePort")
                if not port.get("nodePort"):
                    port["nodePort"] = previous or self._free_node_port(used)
                elif port["nodePort"] != previous and port["nodePort"] in used:
                    raise errors.invalid(
                        self.sim.registry.by_path("", "v1", "services"), obj["metadata"]["name"],
                        [{"reason": "FieldValueInvalid", "field": "spec.ports[0].nodePort",
                          "message": f"Invalid value: {port['nodePort']}: provided port is already allocated"}])
                used.add(port["nodePort"])
            else:
                port.pop("nodePort", None)
        if svc_type in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
            if svc_type == "LoadBalancer":
                spec.setdefault("allocateLoadBalancerNodePorts", True)
        if old is None:
            obj["status"] = {"loadBalancer": {}}

    def _node_ports_in_use(self, obj):
        used = set()
        for svc in self.store.scan(("", "services")):
            if (svc["metadata"].get("namespace"), svc["metadata"]["name"]) == (
                    obj["metadata"].get("namespace"), obj["metadata"]["name"]):
                continue
            for port in (svc.get("spec") or {}).get("ports") or []:
                if port.get("nodePort"):
                    used.add(port["nodePort"])
        return used

    def _free_node_port(self, used):
        for candidate in range(NODE_PORT_RANGE[0], NODE_PORT_RANGE[1] + 1):
            if candidate not in used:
                return candidate
        raise errors.ApiError(500, "range of valid node ports is full")

    # workloads ------------------------------------------------------------------------------
    def _deployment(self, operation, obj, old):
        spec = obj.setdefault("spec", {})
        _template_defaults(spec)
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy["type"] = "RollingUpdate"
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")

    def _replicated(self, operation, obj, old):
        spec = obj.setdefault("spec", {})
        _template_defaults(spec)
        spec.setdefault("replicas", 1)

    def _job(self, operation, obj, old):
        spec = obj.setdefault("spec", {})
        if obj["kind"] == "CronJob":
            spec.setdefault("concurrencyPolicy", "Allow")
            spec.setdefault("suspend", False)
            spec.setdefault("successfulJobsHistoryLimit", 3)
            spec.setdefault("failedJobsHistoryLimit", 1)
            spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
        _template_defaults(spec)
        if obj["kind"] == "Job" and operation == "CREATE" and not spec.get("manualSelector"):
            # The selector the apiserver generates from the Job's uid, and the labels its pods carry.
            uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
            labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                           "controller-uid": uid, "job-name": name})
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("suspend", False)

    def _statefulset(self, operation, obj, old):
        spec = obj.setdefault("spec", {})
        _template_defaults(spec)
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy["type"] = "RollingUpdate"
            strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
        spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})

    def _daemonset(self, operation, obj, old):
        spec = obj.setdefault("spec", {})
        _template_defaults(spec)
        spec.setdefault("revisionHistoryLimit", 10)
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy["type"] = "RollingUpdate"
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", 1)
            rolling.setdefault("maxSurge", 0)

    # pods -----------------------------------------------------------------------------------
    def _pod(self, operation, obj, old):
        if operation != "CREATE":
            return
        spec = obj.setdefault("spec", {})
        pod_spec_defaults(spec)
        spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
        spec["serviceAccount"] = spec["serviceAccountName"]
        namespace = obj["metadata"].get("namespace")
        if self.store.peek(("", "serviceaccounts"), namespace, spec["serviceAccountName"]) is None:
            sa = spec["serviceAccountName"]
            raise errors.forbidden(
                f'pods "{obj["metadata"].get("name") or obj["metadata"].get("generateName", "")}" is forbidden: '
                f'error looking up service account {namespace}/{sa}: serviceaccount "{sa}" not found',
                self.sim.registry.by_path("", "v1", "pods"), obj["metadata"].get("name", ""))
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}

    def _inject_sidecar(self, pod, config):
        """What istiod's injector answers for a pod its webhook matched (and that asks for no opt-out)."""
        meta = pod["metadata"]
        spec = pod["spec"]
        if any(c.get("name") == "istio-proxy" for c in spec.get("containers") or []):
            return
        if spec.get("hostNetwork"):
            return
        if (meta.get("annotations") or {}).get("sidecar.istio.io/inject") == "false":
            return
        revision = (config["metadata"].get("labels") or {}).get("istio.io/rev", "default")
        self._add_proxy(pod, revision)

    def _proxy_image(self, revision):
        """The proxy image from the injector's values, as istiod's template would render it."""
        name = "istio-sidecar-injector" if revision == "default" else f"istio-sidecar-injector-{revision}"
        for cm in self.store.scan(("", "configmaps")):
            if cm["metadata"]["name"] != name:
                continue
            try:
                values = json.loads((cm.get("data") or {}).get("values") or "{}")
            except ValueError:
                continue
            glob = values.get("global") or {}
            hub, tag = glob.get("hub"), glob.get("tag")
            image = (glob.get("proxy") or {}).get("image") or "proxyv2"
            if hub and tag:
                return image if "/" in image else f"{hub}/{image}:{tag}"
        return DEFAULT_PROXY_IMAGE

    def _add_proxy(self, pod, revision):
        meta = pod["metadata"]
        spec = pod["spec"]
        image = self._proxy_image(revision)
        labels = meta.setdefault("labels", {})
        labels.setdefault("security.istio.io/tlsMode", "istio")
        labels.setdefault("service.istio.io/canonical-name", labels.get("app") or meta.get("generateName", "")
                          .rstrip("-") or meta.get("name", ""))
        labels.setdefault("service.istio.io/canonical-revision", labels.get("version", "latest"))
        annotations = meta.setdefault("annotations", {})
        annotations["sidecar.istio.io/status"] = json.dumps({
            "initContainers": ["istio-init"], "containers": ["istio-proxy"], "volumes": _INJECTED_VOLUMES,
            "imagePullSecrets": None, "revision": revision}, separators=(",", ":"))
        annotations.setdefault("istio.io/rev", revision)
        annotations.setdefault("kubectl.kubernetes.io/default-container",
                               (spec.get("containers") or [{}])[0].get("name", ""))
        spec.setdefault("initContainers", []).append({
            "name": "istio-init", "image": image, "imagePullPolicy": "IfNotPresent",
            "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*",
                     "-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"],
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"})
        spec.setdefault("containers", []).append({
            "name": "istio-proxy", "image": image, "imagePullPolicy": "IfNotPresent",
            "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
                     "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"],
            "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
            "readinessProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
                               "periodSeconds": 15, "timeoutSeconds": 3, "failureThreshold": 4},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"})
        volumes = spec.setdefault("volumes", [])
        for name in _INJECTED_VOLUMES:
            volumes.append({"name": name, "emptyDir": {}})


def pod_spec_defaults(spec):
    """What the apiserver's defaulting adds to every pod spec (pods and workload templates alike)."""
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if not isinstance(container, dict):
            continue
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        image = container.get("image", "")
        tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
        container.setdefault("imagePullPolicy",
                             "IfNotPresent" if tagged and not image.endswith(":latest") else "Always")
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def _template_defaults(spec):
    template = spec.get("template")
    if isinstance(template, dict):
        pod_spec_defaults(template.setdefault("spec", {}))


_HANDLERS = {
    ("", "namespaces"): Admission._namespace,
    ("", "secrets"): Admission._secret,
    ("", "services"): Admission._service,
    ("", "pods"): Admission._pod,
    ("apps", "deployments"): Admission._deployment,
    ("apps", "replicasets"): Admission._replicated,
    ("apps", "statefulsets"): Admission._statefulset,
    ("apps", "daemonsets"): Admission._daemonset,
    ("batch", "jobs"): Admission._job,
    ("batch", "cronjobs"): Admission._job,
}
