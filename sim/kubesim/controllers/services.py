"""Services: clusterIPs, LoadBalancer ingress, Endpoints and EndpointSlices from the ready pods."""
from ..store import clone
from .base import ENDPOINTS, ENDPOINTSLICES, NODE_NAME, PODS, SERVICES, _owned_by, _owner_ref, _pod_ready


class ServiceController:
    """Service addresses and endpoints."""

    def _service(self, event):
        svc = event.obj
        ns = svc["metadata"]["namespace"]
        if event.type == "DELETED":
            self.store.remove(ENDPOINTS, ns, svc["metadata"]["name"])
            return
        if (svc.get("spec") or {}).get("type") == "LoadBalancer" and not (
                (svc.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
            name, uid = svc["metadata"]["name"], svc["metadata"]["uid"]
            if self.sim.available_delay > 0:
                self._later(self.sim.available_delay, lambda: self._assign_lb(ns, name, uid))
            else:
                self._assign_lb(ns, name, uid)
        self._endpoints(svc)

    def _assign_lb(self, namespace, name, uid):
        svc = self.store.get(SERVICES, namespace, name)
        if svc is None or svc["metadata"]["uid"] != uid or (svc.get("spec") or {}).get("type") != "LoadBalancer":
            return
        status = clone(svc.get("status") or {})
        status["loadBalancer"] = {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}
        self._set_status(SERVICES, svc, status)

    def _endpoints_for_namespace(self, namespace):
        for svc in self.store.list(SERVICES, namespace, where=lambda s: (s.get("spec") or {}).get("selector")):
            self._endpoints(svc)

    def _endpoints(self, svc):
        spec = svc.get("spec") or {}
        selector = spec.get("selector")
        if not selector:
            return
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        ready, not_ready = [], []
        pods = self.store.list(PODS, ns, where=lambda p: (p.get("status") or {}).get("podIP") and all(
            (p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items()))
        for pod in pods:
            address = {"ip": pod["status"]["podIP"], "nodeName": pod["spec"].get("nodeName", NODE_NAME),
                       "targetRef": {"kind": "Pod", "namespace": ns, "name": pod["metadata"]["name"],
                                     "uid": pod["metadata"]["uid"]}}
            (ready if _pod_ready(pod) else not_ready).append(address)
        ports = []
        for port in spec.get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            if isinstance(target, str):
                target = _named_port(pods, target) or port.get("port")
            entry = {"port": target, "protocol": port.get("protocol", "TCP")}
            if port.get("name"):
                entry["name"] = port["name"]
            if port.get("appProtocol"):
                entry["appProtocol"] = port["appProtocol"]
            ports.append(entry)
        subsets = []
        if ready or not_ready:
            subset = {"ports": ports}
            if ready:
                subset["addresses"] = sorted(ready, key=lambda a: a["ip"])
            if not_ready:
                subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["ip"])
            subsets.append(subset)
        self._endpoint_slice(svc, ready, not_ready, ports)
        current = self.store.get(ENDPOINTS, ns, name)
        if current is None:
            body = {"metadata": {"name": name, "namespace": ns, "labels": dict(svc["metadata"].get("labels") or {})}}
            if subsets:
                body["subsets"] = subsets
            self._create(ENDPOINTS, body)
            self._retry_failed_creates()
        elif current.get("subsets", []) != subsets:
            if subsets:
                current["subsets"] = subsets
            else:
                current.pop("subsets", None)
            self._put(ENDPOINTS, current)
            # A webhook's Service may have become reachable: refused pod creates get another try.
            self._retry_failed_creates()

    def _endpoint_slice(self, svc, ready, not_ready, ports):
        """The EndpointSlice (discovery.k8s.io/v1) the endpointslice controller keeps beside Endpoints."""
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        endpoints = [{"addresses": [a["ip"]], "conditions": {"ready": ok, "serving": ok, "terminating": False},
                      "nodeName": a["nodeName"], "targetRef": a["targetRef"]}
                     for ok, group in ((True, ready), (False, not_ready)) for a in sorted(group, key=lambda a: a["ip"])]
        slice_ports = [{"name": p.get("name", ""), "port": p["port"], "protocol": p["protocol"],
                        **({"appProtocol": p["appProtocol"]} if p.get("appProtocol") else {})} for p in ports]
        current = next((e for e in self.store.list(ENDPOINTSLICES, ns) if _owned_by(e, svc["metadata"]["uid"])), None)
        if current is None:
            labels = dict(svc["metadata"].get("labels") or {})
            labels.update({"kubernetes.io/service-name": name,
                           "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"})
            body = {"metadata": {"name": f"{name}-{self.sim.random_suffix()}", "generateName": f"{name}-",
                                 "namespace": ns, "labels": labels,
                                 "ownerReferences": [_owner_ref(dict(svc, apiVersion="v1", kind="Service"))]},
                    "addressType": "IPv4", "endpoints": endpoints, "ports": slice_ports}
            self._create(ENDPOINTSLICES, body)
        elif (current.get("endpoints") or [], current.get("ports") or []) != (endpoints, slice_ports):
            current["endpoints"], current["ports"] = endpoints, slice_ports
            self._put(ENDPOINTSLICES, current)


def _named_port(pods, name):
    for pod in pods:
        for container in (pod.get("spec") or {}).get("containers") or []:
            for port in container.get("ports") or []:
                if port.get("name") == name:
                    return port.get("containerPort")
    return None
