"""Server-side printing (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), as `kubectl get` asks.

Columns follow the real printers for the common kinds; custom resources use the CRD's
additionalPrinterColumns, everything else Name + Age.
"""
import datetime
import json
import re

_NAME_COL = {"name": "Name", "type": "string", "format": "name", "priority": 0,
             "description": "Name must be unique within a namespace."}


def _col(name, type_="string", priority=0, fmt=""):
    return {"name": name, "type": type_, "format": fmt, "description": name, "priority": priority}


def age(timestamp, now=None):
    """kubectl's short human duration (5s, 3m2s, 4h, 2d)."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return "<invalid>"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    seconds = max(int((now - then).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def _meta_age(obj):
    return age(obj["metadata"].get("creationTimestamp"))


def _pod_cells(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    reason = status.get("phase", "Pending")
    for c in statuses:
        waiting = (c.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
    if obj["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    restarts = sum(c.get("restartCount", 0) for c in statuses)
    return [f"{ready}/{len(spec.get('containers') or [])}", reason, restarts, _meta_age(obj),
            status.get("podIP", "<none>"), spec.get("nodeName", "<none>")]


def _deploy_cells(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", status.get("updatedReplicas", 0),
            status.get("availableReplicas", 0), _meta_age(obj), ",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers), _selector_text(spec.get("selector"))]


def _rs_cells(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [spec.get("replicas", 1), status.get("replicas", 0), status.get("readyReplicas", 0), _meta_age(obj)]


def _sts_cells(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", _meta_age(obj)]


def _ds_cells(obj):
    status = obj.get("status") or {}
    node_selector = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    return [status.get("desiredNumberScheduled", 0), status.get("currentNumberScheduled", 0),
            status.get("numberReady", 0), status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
            ",".join(f"{k}={v}" for k, v in node_selector.items()) or "<none>", _meta_age(obj)]


def _svc_cells(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ports = []
    for p in spec.get("ports") or []:
        text = f"{p.get('port')}"
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        ports.append(f"{text}/{p.get('protocol', 'TCP')}")
    ingress = [i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress") or []]
    external = ",".join(ingress + list(spec.get("externalIPs") or []))
    if not external:
        external = "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
    selector = spec.get("selector") or {}
    return [spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>") or "<none>", external,
            ",".join(ports) or "<none>", _meta_age(obj),
            ",".join(f"{k}={v}" for k, v in selector.items()) or "<none>"]


def _ns_cells(obj):
    return [(obj.get("status") or {}).get("phase", "Active"), _meta_age(obj)]


def _node_cells(obj):
    ready = "NotReady"
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            ready = "Ready"
    roles = sorted(k.split("/", 1)[1] for k in (obj["metadata"].get("labels") or {})
                   if k.startswith("node-role.kubernetes.io/"))
    version = ((obj.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
    return [ready, ",".join(roles) or "<none>", _meta_age(obj), version]


def _cm_cells(obj):
    return [len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), _meta_age(obj)]


def _secret_cells(obj):
    return [obj.get("type", "Opaque"), len(obj.get("data") or {}), _meta_age(obj)]


def _sa_cells(obj):
    return [len(obj.get("secrets") or []), _meta_age(obj)]


def _ep_cells(obj):
    addresses = []
    for subset in obj.get("subsets") or []:
        for address in subset.get("addresses") or []:
            for port in subset.get("ports") or [{}]:
                addresses.append(f"{address.get('ip')}:{port.get('port')}" if port else address.get("ip"))
    text = ",".join(addresses[:3]) + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")
    return [text or "<none>", _meta_age(obj)]


def _eps_cells(obj):
    """kubectl's EndpointSlice columns: address type, ports, the first three addresses."""
    ports = ",".join(str(p.get("port")) for p in obj.get("ports") or []) or "<unset>"
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    text = ",".join(addresses[:3]) + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")
    return [obj.get("addressType", ""), ports, text or "<unset>", _meta_age(obj)]


def _job_cells(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    state = "Running"
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Complete" and cond.get("status") == "True":
            state = "Complete"
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            state = "Failed"
    return [state, f"{status.get('succeeded', 0)}/{spec.get('completions', 1)}", "", _meta_age(obj)]


def _crd_cells(obj):
    return [obj["metadata"].get("creationTimestamp", "")]


_PRINTERS = {
    ("", "pods"): ([_col("Ready"), _col("Status"), _col("Restarts", "string"), _col("Age"), _col("IP", priority=1),
                    _col("Node", priority=1)], _pod_cells),
    ("apps", "deployments"): ([_col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"),
                               _col("Age"), _col("Containers", priority=1), _col("Images", priority=1),
                               _col("Selector", priority=1)], _deploy_cells),
    ("apps", "replicasets"): ([_col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"),
                               _col("Age")], _rs_cells),
    ("apps", "statefulsets"): ([_col("Ready"), _col("Age")], _sts_cells),
    ("apps", "daemonsets"): ([_col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"),
                              _col("Up-to-date", "integer"), _col("Available", "integer"), _col("Node Selector"),
                              _col("Age")], _ds_cells),
    ("", "services"): ([_col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), _col("Age"),
                        _col("Selector", priority=1)], _svc_cells),
    ("", "namespaces"): ([_col("Status"), _col("Age")], _ns_cells),
    ("", "nodes"): ([_col("Status"), _col("Roles"), _col("Age"), _col("Version")], _node_cells),
    ("", "configmaps"): ([_col("Data", "integer"), _col("Age")], _cm_cells),
    ("", "secrets"): ([_col("Type"), _col("Data", "integer"), _col("Age")], _secret_cells),
    ("", "serviceaccounts"): ([_col("Secrets", "integer"), _col("Age")], _sa_cells),
    ("", "endpoints"): ([_col("Endpoints"), _col("Age")], _ep_cells),
    ("discovery.k8s.io", "endpointslices"): ([_col("AddressType"), _col("Ports"), _col("Endpoints"), _col("Age")],
                                             _eps_cells),
    ("batch", "jobs"): ([_col("Status"), _col("Completions"), _col("Duration"), _col("Age")], _job_cells),
    ("apiextensions.k8s.io", "customresourcedefinitions"): ([_col("Created At", "date")], _crd_cells),
}


def _selector_text(selector):
    if not selector:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()) or "<none>"


_JSONPATH_PART = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]|\[['\"]?([^\]'\"]+)['\"]?\]")


def jsonpath(obj, path):
    """The simple JSONPath subset CRD printer columns use (.a.b[0].c, .a[*].b)."""
    values = [obj]
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    for m in _JSONPATH_PART.finditer(path):
        key, index, quoted = m.groups()
        out = []
        for value in values:
            if key is not None or quoted is not None:
                if isinstance(value, dict) and (key or quoted) in value:
                    out.append(value[key or quoted])
            elif index == "*":
                if isinstance(value, list):
                    out.extend(value)
            elif isinstance(value, list) and int(index) < len(value):
                out.append(value[int(index)])
        values = out
    return values


def _cr_columns(rtype):
    cols, getters = [], []
    for col in rtype.printer_columns:
        cols.append({"name": col["name"], "type": col.get("type", "string"), "format": col.get("format", ""),
                     "description": col.get("description", ""), "priority": col.get("priority", 0)})
        getters.append(col)
    return cols, getters


def _render(value, col_type):
    if col_type == "date":
        return age(value) if isinstance(value, str) else "<unknown>"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return value


def _cr_cells(getters, obj):
    cells = []
    for col in getters:
        values = jsonpath(obj, col.get("jsonPath", ""))
        if not values:
            cells.append(None)
        elif len(values) == 1:
            cells.append(_render(values[0], col.get("type")))
        else:
            cells.append(_render(values, col.get("type")))
    return cells


def partial_metadata(obj):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def to_table(rtype, objects, include_object="Metadata", list_meta=None):
    if rtype.crd and rtype.printer_columns:
        extra, getters = _cr_columns(rtype)
        columns = [_NAME_COL] + extra

        def cells_of(o):
            return _cr_cells(getters, o)
    elif rtype.key in _PRINTERS:
        extra, fn = _PRINTERS[rtype.key]
        columns = [_NAME_COL] + extra
        cells_of = fn
    else:
        columns = [_NAME_COL, _col("Age", "string")]

        def cells_of(o):
            return [_meta_age(o)]
    rows = []
    for obj in objects:
        row = {"cells": [obj["metadata"]["name"]] + cells_of(obj)}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = partial_metadata(obj)
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta or {},
            "columnDefinitions": columns, "rows": rows}
