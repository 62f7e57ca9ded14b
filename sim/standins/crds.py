"""Stand-in Istio CRDs, written by this project, for the demo and tests when no Istio release is at hand.

Istio's own crd-all.gen.yaml cannot ship with the collection, and a user's clone has no Istio release
beside it. These definitions carry Istio's facts (API groups, kinds, plural names, short names,
versions and which one is stored, scope) and structural schemas that type every field the collection
writes or reads, so kubesim validates those as a cluster would. Sub-objects the collection never
touches are left open (x-kubernetes-preserve-unknown-fields) rather than guessed.

    python -m sim.standins.crds [FILE]    write the definitions (default: sim/standins/crd-all.yaml)

sim/standins/crd-all.yaml is the committed output; tests/unit/test_standins.py checks that it is
current and that it agrees with Istio's real definitions wherever ../shared/reference is present.
"""
import sys
from pathlib import Path

import yaml

OUTPUT = Path(__file__).resolve().parent / "crd-all.yaml"
# The labels Istio's crd-all.gen.yaml carries (the base chart's templates replace them with its own).
LABELS = {"app": "istio-pilot", "chart": "istio", "heritage": "Tiller", "release": "istio"}
UINT32 = {"type": "integer", "minimum": 0, "maximum": 4294967295}
INT32 = {"type": "integer", "format": "int32"}
STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
DOUBLE = {"type": "number", "format": "double"}
STRINGS = {"type": "array", "items": STRING}
STRING_MAP = {"type": "object", "additionalProperties": STRING}
OPEN = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def obj(required=None, **properties):
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def array(items, **extra):
    return dict({"type": "array", "items": items}, **extra)


# -- networking.istio.io ------------------------------------------------------------------------
STRING_MATCH = obj(exact=STRING, prefix=STRING, regex=STRING)
PORT_SELECTOR = obj(number=UINT32)
DESTINATION = obj(required=["host"], host=STRING, subset=STRING, port=PORT_SELECTOR)
HEADER_OPS = obj(add=STRING_MAP, set=STRING_MAP, remove=STRINGS)
HEADERS = obj(request=HEADER_OPS, response=HEADER_OPS)
PERCENT = obj(value=DOUBLE)
WORKLOAD_SELECTOR = obj(labels=STRING_MAP)

HTTP_MATCH = obj(
    name=STRING, uri=STRING_MATCH, scheme=STRING_MATCH, method=STRING_MATCH, authority=STRING_MATCH,
    headers={"type": "object", "additionalProperties": STRING_MATCH},
    withoutHeaders={"type": "object", "additionalProperties": STRING_MATCH},
    queryParams={"type": "object", "additionalProperties": STRING_MATCH},
    port=UINT32, sourceLabels=STRING_MAP, sourceNamespace=STRING, gateways=STRINGS, ignoreUriCase=BOOLEAN,
)
HTTP_ROUTE = obj(
    name=STRING,
    match=array(HTTP_MATCH),
    route=array(obj(required=["destination"], destination=DESTINATION, weight=INT32, headers=HEADERS)),
    redirect=obj(uri=STRING, authority=STRING, port=UINT32, scheme=STRING, redirectCode=UINT32),
    rewrite=obj(uri=STRING, authority=STRING),
    timeout=STRING,
    retries=obj(attempts=INT32, perTryTimeout=STRING, retryOn=STRING),
    fault=obj(delay=obj(fixedDelay=STRING, percentage=PERCENT), abort=obj(httpStatus=INT32, percentage=PERCENT)),
    mirror=DESTINATION,
    mirrorPercentage=PERCENT,
    mirrors=array(obj(required=["destination"], destination=DESTINATION, percentage=PERCENT)),
    headers=HEADERS,
    corsPolicy=OPEN,
    delegate=obj(name=STRING, namespace=STRING),
    directResponse=OPEN,
)
L4_MATCH = dict(port=UINT32, sourceLabels=STRING_MAP, sourceNamespace=STRING, gateways=STRINGS,
                destinationSubnets=STRINGS)
L4_ROUTE = array(obj(required=["destination"], destination=DESTINATION, weight=INT32))
VIRTUAL_SERVICE = obj(
    hosts=STRINGS, gateways=STRINGS, exportTo=STRINGS,
    http=array(HTTP_ROUTE),
    tcp=array(obj(match=array(obj(sourceSubnet=STRING, **L4_MATCH)), route=L4_ROUTE)),
    tls=array(obj(required=["match"], match=array(obj(required=["sniHosts"], sniHosts=STRINGS, **L4_MATCH)),
                  route=L4_ROUTE)),
)

TRAFFIC_POLICY = obj(
    loadBalancer=obj(simple={"type": "string", "enum": ["UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH",
                                                          "ROUND_ROBIN", "LEAST_REQUEST"]},
                     consistentHash=obj(httpHeaderName=STRING, useSourceIp=BOOLEAN, httpQueryParameterName=STRING,
                                        httpCookie=obj(required=["name"], name=STRING, path=STRING, ttl=STRING)),
                     localityLbSetting=OPEN),
    connectionPool=obj(
        tcp=obj(maxConnections=INT32, connectTimeout=STRING, idleTimeout=STRING),
        http=obj(http1MaxPendingRequests=INT32, http2MaxRequests=INT32, maxRequestsPerConnection=INT32,
                 maxRetries=INT32, idleTimeout=STRING),
    ),
    outlierDetection=obj(consecutive5xxErrors=UINT32, consecutiveGatewayErrors=UINT32, interval=STRING,
                         baseEjectionTime=STRING, maxEjectionPercent=INT32, minHealthPercent=INT32),
    tls=obj(mode={"type": "string", "enum": ["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"]},
            credentialName=STRING, sni=STRING, subjectAltNames=STRINGS),
    portLevelSettings=array(OPEN),
)
DESTINATION_RULE = obj(
    required=["host"],
    host=STRING, exportTo=STRINGS, trafficPolicy=TRAFFIC_POLICY, workloadSelector=obj(matchLabels=STRING_MAP),
    subsets=array(obj(required=["name"], name=STRING, labels=STRING_MAP, trafficPolicy=TRAFFIC_POLICY)),
)

GATEWAY = obj(
    selector=STRING_MAP,
    servers=array(obj(
        required=["port", "hosts"],
        port=obj(required=["number", "protocol", "name"], number=UINT32, protocol=STRING, name=STRING,
                 targetPort=UINT32),
        hosts=STRINGS, bind=STRING, defaultEndpoint=STRING, name=STRING,
        tls=obj(httpsRedirect=BOOLEAN,
                mode={"type": "string", "enum": ["PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH",
                                                 "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"]},
                credentialName=STRING, serverCertificate=STRING, privateKey=STRING, caCertificates=STRING,
                subjectAltNames=STRINGS),
    )),
)

SERVICE_PORT = obj(required=["number", "name"], number=UINT32, protocol=STRING, name=STRING, targetPort=UINT32)
SERVICE_ENTRY = obj(
    required=["hosts"],
    hosts=STRINGS, addresses=STRINGS, ports=array(SERVICE_PORT), exportTo=STRINGS, subjectAltNames=STRINGS,
    location={"type": "string", "enum": ["MESH_EXTERNAL", "MESH_INTERNAL"]},
    resolution={"type": "string", "enum": ["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"]},
    endpoints=array(OPEN), workloadSelector=WORKLOAD_SELECTOR,
)
SIDECAR = obj(
    workloadSelector=WORKLOAD_SELECTOR,
    egress=array(obj(required=["hosts"], hosts=STRINGS, bind=STRING, captureMode=STRING, port=OPEN)),
    ingress=array(OPEN),
    outboundTrafficPolicy=obj(mode={"type": "string", "enum": ["REGISTRY_ONLY", "ALLOW_ANY"]}, egressProxy=OPEN),
)
WORKLOAD_ENTRY = obj(address=STRING, ports={"type": "object", "additionalProperties": UINT32}, labels=STRING_MAP,
                     network=STRING, locality=STRING, weight=UINT32, serviceAccount=STRING)

# -- security.istio.io, telemetry.istio.io, extensions.istio.io -------------------------------------
MTLS_MODE = {"type": "string", "enum": ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]}
SELECTOR = obj(matchLabels=STRING_MAP)
TARGET_REF = obj(required=["kind", "name"], group=STRING, kind=STRING, name=STRING, namespace=STRING)
PEER_AUTHENTICATION = obj(selector=SELECTOR, mtls=obj(mode=MTLS_MODE),
                          portLevelMtls={"type": "object", "additionalProperties": obj(mode=MTLS_MODE)})
AUTHORIZATION_POLICY = obj(
    selector=SELECTOR, targetRef=TARGET_REF, targetRefs=array(TARGET_REF),
    action={"type": "string", "enum": ["ALLOW", "DENY", "AUDIT", "CUSTOM"]},
    provider=obj(name=STRING),
    rules=array(obj(
        **{"from": array(obj(source=obj(principals=STRINGS, notPrincipals=STRINGS, namespaces=STRINGS,
                                        notNamespaces=STRINGS, ipBlocks=STRINGS, notIpBlocks=STRINGS,
                                        requestPrincipals=STRINGS, notRequestPrincipals=STRINGS)))},
        to=array(obj(operation=obj(hosts=STRINGS, notHosts=STRINGS, ports=STRINGS, notPorts=STRINGS, methods=STRINGS,
                                   notMethods=STRINGS, paths=STRINGS, notPaths=STRINGS))),
        when=array(obj(required=["key"], key=STRING, values=STRINGS, notValues=STRINGS)),
    )),
)
REQUEST_AUTHENTICATION = obj(
    selector=SELECTOR, targetRef=TARGET_REF, targetRefs=array(TARGET_REF),
    jwtRules=array(obj(required=["issuer"], issuer=STRING, audiences=STRINGS, jwksUri=STRING, jwks=STRING,
                       forwardOriginalToken=BOOLEAN, outputPayloadToHeader=STRING)),
)
TELEMETRY = obj(selector=SELECTOR, targetRef=TARGET_REF, targetRefs=array(TARGET_REF),
                tracing=array(OPEN), metrics=array(OPEN), accessLogging=array(OPEN))

# kind -> (group, plural, short names, versions [(name, stored)], spec schema, printer columns)
NETWORKING_VERSIONS = [("v1", True), ("v1alpha3", False), ("v1beta1", False)]
SECURITY_VERSIONS = [("v1", True), ("v1beta1", False)]
KINDS = {
    "DestinationRule": ("networking.istio.io", "destinationrules", ["dr"], NETWORKING_VERSIONS, DESTINATION_RULE,
                        [("Host", "string", ".spec.host")]),
    "EnvoyFilter": ("networking.istio.io", "envoyfilters", None, [("v1alpha3", True)], OPEN, []),
    "Gateway": ("networking.istio.io", "gateways", ["gw"], NETWORKING_VERSIONS, GATEWAY, []),
    "ProxyConfig": ("networking.istio.io", "proxyconfigs", None, [("v1beta1", True)], OPEN, []),
    "ServiceEntry": ("networking.istio.io", "serviceentries", ["se"], NETWORKING_VERSIONS, SERVICE_ENTRY,
                     [("Hosts", "string", ".spec.hosts"), ("Location", "string", ".spec.location"),
                      ("Resolution", "string", ".spec.resolution")]),
    "Sidecar": ("networking.istio.io", "sidecars", None, NETWORKING_VERSIONS, SIDECAR, []),
    "VirtualService": ("networking.istio.io", "virtualservices", ["vs"], NETWORKING_VERSIONS, VIRTUAL_SERVICE,
                       [("Gateways", "string", ".spec.gateways"), ("Hosts", "string", ".spec.hosts")]),
    "WorkloadEntry": ("networking.istio.io", "workloadentries", ["we"], NETWORKING_VERSIONS, WORKLOAD_ENTRY,
                      [("Address", "string", ".spec.address")]),
    "WorkloadGroup": ("networking.istio.io", "workloadgroups", ["wg"], NETWORKING_VERSIONS, OPEN, []),
    "AuthorizationPolicy": ("security.istio.io", "authorizationpolicies", ["ap"], SECURITY_VERSIONS,
                            AUTHORIZATION_POLICY, [("Action", "string", ".spec.action")]),
    "PeerAuthentication": ("security.istio.io", "peerauthentications", ["pa"], SECURITY_VERSIONS, PEER_AUTHENTICATION,
                           [("Mode", "string", ".spec.mtls.mode")]),
    "RequestAuthentication": ("security.istio.io", "requestauthentications", ["ra"], SECURITY_VERSIONS,
                              REQUEST_AUTHENTICATION, []),
    "Telemetry": ("telemetry.istio.io", "telemetries", ["telemetry"], [("v1", False), ("v1alpha1", True)], TELEMETRY, []),
    "TrafficExtension": ("extensions.istio.io", "trafficextensions", None, [("v1alpha1", True)], OPEN, []),
    "WasmPlugin": ("extensions.istio.io", "wasmplugins", None, [("v1alpha1", True)], OPEN, []),
}


def definition(kind):
    group, plural, short_names, versions, spec, columns = KINDS[kind]
    names = {"kind": kind, "listKind": kind + "List", "plural": plural, "singular": kind.lower(),
             "categories": ["istio-io", group.replace(".", "-")]}
    if short_names:
        names["shortNames"] = short_names
    labels = dict(LABELS)
    if group in ("security.istio.io", "telemetry.istio.io"):
        labels["istio"] = group.split(".")[0]
    schema = obj(spec=spec, status=OPEN)
    printer = [{"name": n, "type": t, "jsonPath": p} for n, t, p in columns]
    printer.append({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "labels": labels,
                     "annotations": {"helm.sh/resource-policy": "keep"}},
        "spec": {
            "group": group, "names": names, "scope": "Namespaced",
            "versions": [{"name": name, "served": True, "storage": stored, "subresources": {"status": {}},
                          "additionalPrinterColumns": printer, "schema": {"openAPIV3Schema": schema}}
                         for name, stored in versions],
        },
    }


class _Dumper(yaml.SafeDumper):
    """No anchors: every definition is read on its own (kubectl, helm's .Files.Get splits on ---).
    Lists indented under their key, as the repository's yamllint wants."""

    def ignore_aliases(self, data):
        return True

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def render():
    header = ("# Stand-in Istio CRDs written by meshops.istio (not Istio's files); generated by\n"
              "# `python -m sim.standins.crds` from sim/standins/crds.py: edit that, not this.\n")
    # Laid out like Istio's file (documents joined by "\n---\n", none before the first or after the
    # last), since the base chart's template splits it on exactly that.
    return header + "---\n".join(yaml.dump(definition(kind), Dumper=_Dumper, sort_keys=False)
                                 for kind in sorted(KINDS, key=lambda k: (KINDS[k][0], k)))


def main():
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    target.write_text(render())
    print(target)


if __name__ == "__main__":
    main()
