"""Admission webhooks as kube-apiserver calls them, with the webhook servers kubesim can stand in for.

For every write, the Mutating- and ValidatingWebhookConfigurations whose rules (operations, apiGroups,
apiVersions, resources incl. subresources, scope), namespaceSelector and objectSelector match are
"called": the call reaches the webhook only when its `clientConfig.service` has a ready endpoint (the
Endpoints/EndpointSlices the endpoints controller keeps from Ready pods). Otherwise the apiserver's
"failed calling webhook ... no endpoints available for service" error is returned (failurePolicy
Fail, the v1 default) or the webhook is skipped (Ignore). A reachable webhook is answered by what kubesim
can emulate: Istio's config validation (istiod's /validate) and Istio's sidecar injector (in
admission.py). Any other reachable webhook admits the object unchanged; `clientConfig.url` webhooks
are not dialled and admit unchanged too.
"""
import re

from . import errors
from .selectors import match_label_selector_object

MUTATING = ("admissionregistration.k8s.io", "mutatingwebhookconfigurations")
VALIDATING = ("admissionregistration.k8s.io", "validatingwebhookconfigurations")
SERVICES = ("", "services")
ENDPOINTS = ("", "endpoints")
ENDPOINTSLICES = ("discovery.k8s.io", "endpointslices")
NAMESPACES = ("", "namespaces")
ISTIO_GROUPS = ("networking.istio.io", "security.istio.io", "telemetry.istio.io", "extensions.istio.io")


class Webhooks:
    def __init__(self, sim):
        self.sim = sim
        self.store = sim.store

    # matching -------------------------------------------------------------------------------
    def matching(self, key, operation, rtype, obj, old, subresource=None):
        """(configuration, webhook) pairs of kind `key` that intercept this request, in name order."""
        configs = sorted(self.store.scan(key), key=lambda c: c["metadata"]["name"])
        found = []
        for config in configs:
            for hook in config.get("webhooks") or []:
                if self._intercepts(hook, operation, rtype, obj, old, subresource):
                    found.append((config, hook))
        return found

    def _intercepts(self, hook, operation, rtype, obj, old, subresource):
        if not any(self._rule_matches(rule, hook.get("matchPolicy", "Equivalent"), operation, rtype, subresource)
                   for rule in hook.get("rules") or []):
            return False
        objects = [o for o in (obj, old) if o]
        if not any(match_label_selector_object(hook.get("objectSelector"),
                                               (o.get("metadata") or {}).get("labels")) for o in objects):
            return False
        ns_selector = hook.get("namespaceSelector")
        if rtype.key == NAMESPACES:
            return any(match_label_selector_object(ns_selector, (o.get("metadata") or {}).get("labels"))
                       for o in objects)
        if not rtype.namespaced:
            return True
        namespace = (objects[0].get("metadata") or {}).get("namespace") if objects else None
        ns = self.store.peek(NAMESPACES, None, namespace) if namespace else None
        return match_label_selector_object(ns_selector, ((ns or {}).get("metadata") or {}).get("labels"))

    def _rule_matches(self, rule, policy, operation, rtype, subresource):
        operations = rule.get("operations") or []
        if "*" not in operations and operation not in operations:
            return False
        groups = rule.get("apiGroups") or []
        if "*" not in groups and rtype.group not in groups:
            return False
        versions = rule.get("apiVersions") or []
        # matchPolicy Equivalent: the same resource in another listed version is the same request.
        equivalent = policy != "Exact" and any(t.group == rtype.group and t.plural == rtype.plural
                                               and t.version in versions for t in self.sim.registry.all())
        if "*" not in versions and rtype.version not in versions and not equivalent:
            return False
        scope = rule.get("scope", "*")
        namespaced = rtype.namespaced and rtype.key != NAMESPACES
        if (scope == "Cluster" and namespaced) or (scope == "Namespaced" and not namespaced):
            return False
        for resource in rule.get("resources") or []:
            main, _, sub = resource.partition("/")
            if main not in ("*", rtype.plural):
                continue
            if subresource is None and not sub:
                return True
            if subresource is not None and sub in ("*", subresource):
                return True
        return False

    # calling --------------------------------------------------------------------------------
    def call_error(self, hook):
        """Why the apiserver cannot reach a webhook (the text after `failed calling webhook`), or None."""
        service = (hook.get("clientConfig") or {}).get("service")
        if not service:
            return None
        name, namespace = service.get("name", ""), service.get("namespace", "")
        url = (f'https://{name}.{namespace}.svc:{service.get("port", 443)}{service.get("path", "")}'
               f'?timeout={hook.get("timeoutSeconds", 10)}s')
        svc = self.store.peek(SERVICES, namespace, name)
        if svc is None:
            reason = f'service "{name}" not found'
        elif (svc.get("spec") or {}).get("type") == "ExternalName":
            return None     # resolved to the external name: outside what kubesim can know, taken as reachable
        elif not self.ready_endpoints(namespace, name):
            reason = f'no endpoints available for service "{name}"'
        else:
            return None
        return f'failed to call webhook: Post "{url}": {reason}'

    def ready_endpoints(self, namespace, name):
        """Whether a Service has a ready address, from its Endpoints or EndpointSlices."""
        endpoints = self.store.peek(ENDPOINTS, namespace, name)
        for subset in (endpoints or {}).get("subsets") or []:
            if subset.get("addresses"):
                return True
        for eps in self.store.scan(ENDPOINTSLICES, namespace):
            if (eps["metadata"].get("labels") or {}).get("kubernetes.io/service-name") != name:
                continue
            for endpoint in eps.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready", True) is not False and endpoint.get("addresses"):
                    return True
        return False

    def reachable(self, hook, dry_run):
        """True when the webhook answers; False when it is skipped (Ignore); raises when the request fails."""
        if dry_run and hook.get("sideEffects", "Unknown") not in ("None", "NoneOnDryRun"):
            raise errors.bad_request(f'admission webhook "{hook.get("name")}" does not support dry run')
        problem = self.call_error(hook)
        if problem is None:
            return True
        if hook.get("failurePolicy", "Fail") == "Ignore":
            return False
        message = f'failed calling webhook "{hook.get("name")}": {problem}'
        raise errors.ApiError(500, f"Internal error occurred: {message}", "InternalError",
                              {"causes": [{"message": message}]})

    def validate(self, operation, rtype, obj, old, dry_run=False, subresource=None):
        """The validating webhook phase: every matching webhook must admit the request."""
        for _config, hook in self.matching(VALIDATING, operation, rtype, obj, old, subresource):
            if not self.reachable(hook, dry_run):
                continue
            if is_istiod(hook) and operation in ("CREATE", "UPDATE") and subresource is None:
                problems = istio_validation(rtype, obj)
                if problems:
                    deny(hook, "configuration is invalid: " + _multierror(problems))


def deny(hook, message, code=400):
    """The apiserver's answer to a webhook's rejection (the webhook set no code or reason: 400, no reason)."""
    raise errors.ApiError(code, f'admission webhook "{hook.get("name")}" denied the request: {message}', "")


def is_istiod(hook):
    """Webhooks that istiod serves: its Service (istiod, istiod-<revision>) or its /validate path."""
    service = (hook.get("clientConfig") or {}).get("service") or {}
    name = service.get("name", "")
    return name == "istiod" or name.startswith("istiod-") or service.get("path") == "/validate"


# Istio's config validation, for the kinds this collection writes -------------------------------
# The rules and wording follow istio/istio pkg/config/validation; kubesim checks a subset of them.
_LABEL = "[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"
_DNS1123_LABEL = re.compile(f"^{_LABEL}$")
_WILDCARD_LABEL = re.compile(rf"^(?:\*|(?:\*|\*-)?{_LABEL})$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def _multierror(problems):
    """How Istio's errors read: one error as is, several as hashicorp/go-multierror lists them."""
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} errors occurred:\n" + "".join(f"\t* {p}\n" for p in problems) + "\n"


def _is_label(value):
    return len(value) <= 63 and bool(_DNS1123_LABEL.match(value))


def _wildcard_domain(domain):
    if len(domain) > 255:
        return f'domain name "{domain}" too long (max 255)'
    if not domain:
        return "empty domain name not allowed"
    first, _, rest = domain.partition(".")
    if not (len(first) <= 63 and _WILDCARD_LABEL.match(first)):
        return f'domain name "{domain}" invalid (label "{first}" invalid)'
    if rest:
        parts = rest.split(".")
        if parts[-1].isdigit():
            return f'domain name "{rest}" invalid (top level domain "{parts[-1]}" cannot be all-numeric)'
        for i, label in enumerate(parts):
            if i == len(parts) - 1 and label == "":
                break
            if not _is_label(label):
                return f'domain name "{rest}" invalid (label "{label}" invalid)'
    return None


def _subset_name(name):
    if not name:
        return "subset name cannot be empty"
    if not _is_label(name):
        return f"subset name is invalid: {name}"
    return None


def _destinations(routes):
    problems, total = [], 0
    for entry in routes or []:
        if not isinstance(entry, dict):
            problems.append("weight may not be nil")
            continue
        destination = entry.get("destination")
        if destination is None:
            problems.append("destination is required")
        else:
            host = destination.get("host", "")
            problems.append("invalid destination host *" if host == "*" else _wildcard_domain(host))
            if destination.get("subset"):
                problems.append(_subset_name(destination["subset"]))
        weight = entry.get("weight", 0) or 0
        if isinstance(weight, int):
            if weight < 0:
                problems.append(f"weight {weight} < 0")
            total += weight
    if len(routes or []) > 1 and total == 0:
        problems.append("total destination weight = 0")
    return problems


def _virtual_service(spec):
    problems = []
    hosts = spec.get("hosts") or []
    gateways = spec.get("gateways") or []
    if not hosts:
        # No hosts: a delegate VirtualService, with the delegate restrictions.
        if gateways:
            problems.append("delegate virtual service must have no gateways specified")
        if spec.get("tls"):
            problems.append("delegate virtual service must have no tls route specified")
        if spec.get("tcp"):
            problems.append("delegate virtual service must have no tcp route specified")
    applies_to_mesh = not gateways or "mesh" in gateways
    for host in hosts:
        problem = _wildcard_domain(host)
        if problem and not _IPV4.match(host):
            problems.append(problem)
        elif not problem and applies_to_mesh and host == "*":
            problems.append("wildcard host * is not allowed for virtual services bound to the mesh gateway")
    if not spec.get("http") and not spec.get("tcp") and not spec.get("tls"):
        problems.append("http, tcp or tls must be provided in virtual service")
    for route in spec.get("http") or []:
        if route is None:
            problems.append("http route may not be null")
            continue
        problems.extend(_destinations(route.get("route")))
    for route in (spec.get("tcp") or []) + (spec.get("tls") or []):
        problems.extend(_destinations((route or {}).get("route")))
    return problems


def _destination_rule(spec):
    problems = [_wildcard_domain(spec.get("host", ""))]
    for subset in spec.get("subsets") or []:
        problems.append(_subset_name((subset or {}).get("name", "")))
    return problems


def _gateway(name, spec):
    problems = []
    if not _is_label(name):
        problems.append(f'invalid gateway name: "{name}"')
    servers = spec.get("servers") or []
    if not servers:
        problems.append("gateway must have at least one server")
    for server in servers:
        if not (server or {}).get("hosts"):
            problems.append("server config must contain at least one host")
    return problems


def istio_validation(rtype, obj):
    """Istio's reasons to refuse an object (empty: valid or a kind kubesim does not check)."""
    if rtype.group != "networking.istio.io":
        return []
    spec = obj.get("spec") or {}
    if rtype.kind == "VirtualService":
        problems = _virtual_service(spec)
    elif rtype.kind == "DestinationRule":
        problems = _destination_rule(spec)
    elif rtype.kind == "Gateway":
        problems = _gateway(obj["metadata"].get("name", ""), spec)
    else:
        return []
    return [p for p in problems if p]
