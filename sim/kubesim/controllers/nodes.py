"""Nodes and scheduling: where a pod may run (nodeSelector, required node affinity, cordoned and NotReady nodes)
and binding it to the least loaded one; DaemonSets and pending pods follow node changes."""
import collections

from ..selectors import match_label_selector_object
from ..store import clone
from .base import DAEMONSETS, NODE_IP, NODES, PODS, _now


class Scheduler:
    """Node handling and pod scheduling."""

    def _eligible_nodes(self, pod_spec, daemon=False):
        """Nodes a pod may run on: nodeSelector, required node affinity; the scheduler also skips nodes that
        are cordoned or not Ready (a DaemonSet's pods tolerate both)."""
        found = []
        for node in self.store.scan(NODES):
            labels = node["metadata"].get("labels") or {}
            if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
                continue
            required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                        .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
            terms = required.get("nodeSelectorTerms")
            if terms and not any(_node_term_matches(term, node) for term in terms):
                continue
            if not daemon and ((node.get("spec") or {}).get("unschedulable") or not _node_ready(node)):
                continue
            found.append(node)
        return found

    def _schedule(self, pod):
        """The scheduler: bind a pod without spec.nodeName to the eligible node running the fewest pods."""
        nodes = self._eligible_nodes(pod.get("spec") or {})
        if not nodes:
            total = len(list(self.store.scan(NODES)))
            status = clone(pod.get("status") or {})
            status["phase"] = "Pending"
            status["conditions"] = [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastProbeTime": None,
                "lastTransitionTime": _now(),
                "message": f"0/{total} nodes are available: {total} node(s) didn't match Pod's node "
                           f"affinity/selector." if total else "no nodes available to schedule pods"}]
            self._set_status(PODS, pod, status)
            return
        load = collections.Counter((p.get("spec") or {}).get("nodeName") for p in self.store.scan(PODS))
        node = min(nodes, key=lambda n: (load[n["metadata"]["name"]], n["metadata"]["name"]))
        pod["spec"]["nodeName"] = node["metadata"]["name"]
        self._put(PODS, pod)

    def _node_ip(self, node_name):
        node = self.store.peek(NODES, None, node_name) or {}
        for address in (node.get("status") or {}).get("addresses") or []:
            if address.get("type") == "InternalIP":
                return address["address"]
        return NODE_IP

    def _node(self, event):
        """Nodes come and go or change labels: DaemonSets follow, pending pods get another chance."""
        for ds in list(self.store.scan(DAEMONSETS)):
            ns, name = ds["metadata"]["namespace"], ds["metadata"]["name"]
            self._scale_pods(DAEMONSETS, ns, name)
            self._owner_status(DAEMONSETS, ns, name)
        if event.type != "DELETED":
            for pod in self.store.list(PODS, None, where=lambda p: not (p.get("spec") or {}).get("nodeName")):
                self._schedule(pod)


def _node_ready(node):
    """A node without a kubelet reporting Ready (one created by hand) is NotReady: nothing is scheduled there."""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def _node_term_matches(term, node):
    """One nodeSelectorTerm: its matchExpressions (on labels) and matchFields (metadata.name) all hold."""
    labels = node["metadata"].get("labels") or {}
    fields = {"metadata.name": node["metadata"]["name"]}
    for source, exprs in ((labels, term.get("matchExpressions")), (fields, term.get("matchFields"))):
        for expr in exprs or []:
            key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
            if op in ("In", "NotIn", "Exists", "DoesNotExist"):
                selector = {"matchExpressions": [{"key": key, "operator": op, "values": values}]}
                if not match_label_selector_object(selector, source):
                    return False
            elif op in ("Gt", "Lt"):
                try:
                    have, want = int(source[key]), int(values[0])
                except (KeyError, IndexError, ValueError):
                    return False
                if (op == "Gt" and not have > want) or (op == "Lt" and not have < want):
                    return False
    return True
