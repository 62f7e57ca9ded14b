"""kubesim schema validation: built-in kinds, Istio CRDs, pruning and merge metadata."""
import copy

import pytest
import yaml

from tests.conftest import REFERENCE as REFERENCE_ROOT
from tests.conftest import needs_reference, reference_docs
from sim.kubesim import schema

# Istio's real CRDs and samples: what kubesim's validation is measured against. Without ../shared/reference
# these are empty and the tests using them are reported as not run (REAL_SCHEMAS).
REFERENCE = REFERENCE_ROOT / "istio"
CRDS = reference_docs("istio", "crd-all.gen.yaml")
REAL_SCHEMAS = needs_reference("kubesim's validation of the objects in Istio's samples, with Istio's real CRD schemas")
SAMPLE_FILES = sorted((REFERENCE / "samples").rglob("*.yaml"))
# The Bookinfo samples include Gateway API routes: their CRDs come from the Gateway API reference.
GATEWAY_API_CRDS = [d for path in sorted((REFERENCE.parent / "gateway-api" / "config" / "crd" / "standard")
                                         .glob("*.yaml")) for d in yaml.safe_load_all(path.read_text()) if d]


def crd_schema(api_version, kind):
    group, version = api_version.split("/")
    for crd in CRDS + GATEWAY_API_CRDS:
        if crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind:
            for v in crd["spec"]["versions"]:
                if v["name"] == version:
                    return v["schema"]["openAPIV3Schema"]
    raise LookupError(f"no CRD for {kind} {api_version}")


def validate_any(obj):
    if schema.builtin_known(obj["apiVersion"], obj["kind"]):
        return schema.validate(obj)
    return schema.validate(obj, crd_schema(obj["apiVersion"], obj["kind"]))


def load(relative):
    return [d for d in yaml.safe_load_all((REFERENCE / relative).read_text()) if d]


def bookinfo(kind, name):
    for doc in load("samples/bookinfo/bookinfo.yaml"):
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return copy.deepcopy(doc)
    raise LookupError(name)


VS_SCHEMA = crd_schema("networking.istio.io/v1", "VirtualService") if CRDS else None


RULES_NOT_CHECKED = {
    "reason": "FieldValueInvalid", "field": "<nil>",
    "message": "Invalid value: null: some validation rules were not checked because the object was invalid; "
               "correct the existing errors to complete validation"}


def reviews_vs():
    return load("samples/bookinfo/networking/virtual-service-reviews-90-10.yaml")[0]


# ---------------------------------------------------------------- reference objects all pass

def reference_objects():
    for path in [REFERENCE / "crd-all.gen.yaml", *SAMPLE_FILES] if CRDS else []:
        for index, doc in enumerate(d for d in yaml.safe_load_all(path.read_text()) if d):
            yield pytest.param(doc, id=f"{path.relative_to(REFERENCE)}#{index}-{doc['kind']}")


def without_nulls(value):
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


@REAL_SCHEMAS
@pytest.mark.parametrize("obj", list(reference_objects()))
def test_every_reference_object_validates_unchanged(obj):
    result = validate_any(obj)
    assert result.schema_found
    assert result.causes == []
    assert result.decode_errors == []
    assert result.unknown_fields == []
    # kiali's Service carries `annotations: null`, which the Go decoder reads as "no annotations".
    if obj["apiVersion"].startswith("gateway.networking.k8s.io/"):
        # Gateway API schemas default fields (parentRefs group/kind, backendRefs weight, path match): the
        # object may only gain them.
        assert contains(result.object, without_nulls(obj))
        assert result.object != obj
    else:
        assert result.object == without_nulls(obj)


def contains(big, small):
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and contains(big[k], v) for k, v in small.items())
    if isinstance(small, list):
        return isinstance(big, list) and len(big) == len(small) and all(map(contains, big, small))
    return big == small


@REAL_SCHEMAS
def test_reference_set_covers_builtins_and_istio_kinds():
    kinds = {doc["kind"] for path in SAMPLE_FILES for doc in yaml.safe_load_all(path.read_text()) if doc}
    assert {"Deployment", "Service", "ServiceAccount", "ConfigMap", "ClusterRole", "ClusterRoleBinding",
            "VirtualService", "DestinationRule", "Gateway", "ServiceEntry"} <= kinds


# ---------------------------------------------------------------- custom resources

@REAL_SCHEMAS
def test_virtualservice_weight_string_is_type_invalid_naming_the_field():
    vs = reviews_vs()
    vs["spec"]["http"][0]["route"][0]["weight"] = "abc"
    result = schema.validate(vs, VS_SCHEMA)
    assert not result.ok
    assert result.causes == [{
        "reason": "FieldValueTypeInvalid",
        "field": "spec.http[0].route[0].weight",
        "message": 'Invalid value: "string": spec.http[0].route[0].weight in body must be of type integer: "string"',
    }, {
        # VirtualService has CEL rules, which the apiserver skips (and says so) when types are wrong.
        "reason": "FieldValueInvalid",
        "field": "<nil>",
        "message": "Invalid value: null: some validation rules were not checked because the object was invalid; "
                   "correct the existing errors to complete validation",
    }]


@REAL_SCHEMAS
def test_input_object_is_never_modified():
    vs = reviews_vs()
    vs["spec"]["bogus"] = 1
    vs["spec"]["http"][0]["route"][0]["weight"] = "abc"
    before = copy.deepcopy(vs)
    schema.validate(vs, VS_SCHEMA)
    assert vs == before


@REAL_SCHEMAS
def test_unknown_fields_are_pruned_and_reported_with_paths():
    vs = reviews_vs()
    vs["spec"]["bogus"] = {"deep": 1}
    vs["spec"]["http"][0]["route"][1]["destination"]["extra"] = "x"
    vs["topLevel"] = True
    result = schema.validate(vs, VS_SCHEMA)
    assert result.ok
    assert result.unknown_fields == ["spec.bogus", "spec.http[0].route[1].destination.extra", "topLevel"]
    assert result.object == reviews_vs()
    assert result.warnings() == ['unknown field "spec.bogus"', 'unknown field "spec.http[0].route[1].destination.extra"',
                                 'unknown field "topLevel"']
    assert result.bad_request("Warn") is None
    assert result.bad_request("Ignore") is None
    assert result.bad_request("Strict") == (
        'VirtualService in version "v1" cannot be handled as a VirtualService: strict decoding error: '
        'unknown field "spec.bogus", unknown field "spec.http[0].route[1].destination.extra", '
        'unknown field "topLevel"')


@REAL_SCHEMAS
def test_preserve_unknown_fields_keeps_everything_below():
    vs = reviews_vs()
    vs["status"] = {"anything": {"goes": [1, 2]}, "observedGeneration": 3}
    result = schema.validate(vs, VS_SCHEMA)
    assert result.ok and result.unknown_fields == []
    assert result.object["status"] == {"anything": {"goes": [1, 2]}, "observedGeneration": 3}


@REAL_SCHEMAS
def test_int_or_string_accepts_both_and_rejects_others():
    vs = reviews_vs()
    for good in (4, "4"):
        vs["status"] = {"observedGeneration": good}
        assert schema.validate(vs, VS_SCHEMA).ok
    vs["status"] = {"observedGeneration": [4]}
    assert schema.validate(vs, VS_SCHEMA).causes == [{
        "reason": "FieldValueTypeInvalid", "field": "status.observedGeneration",
        "message": 'Invalid value: "array": status.observedGeneration in body must be of type integer,string: '
                   '"array"'}, RULES_NOT_CHECKED]


@REAL_SCHEMAS
def test_one_of_failures_are_reported_like_kube_openapi():
    vs = reviews_vs()
    vs["spec"]["http"][0]["match"] = [{"uri": {"exact": "/a", "prefix": "/b"}}]
    assert schema.validate(vs, VS_SCHEMA).causes == [{
        "reason": "FieldValueInvalid", "field": "<nil>",
        "message": 'Invalid value: "": spec.http[0].match[0].uri must validate one and only one schema (oneOf). '
                   "Found 2 valid alternatives"}]


def test_null_in_non_nullable_field_is_dropped_and_nullable_kept():
    custom = {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {
            "a": {"type": "string"},
            "b": {"type": "string", "nullable": True},
            "items": {"type": "array", "items": {"type": "integer"}},
        }}},
    }
    obj = {"apiVersion": "x.io/v1", "kind": "Thing", "metadata": {"name": "t"},
           "spec": {"a": None, "b": None, "items": [1, None, 2]}}
    result = schema.validate(obj, custom)
    assert result.ok
    assert result.object["spec"] == {"b": None, "items": [1, 2]}


def test_defaults_are_applied():
    custom = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "replicas": {"type": "integer", "default": 1},
        "mode": {"type": "string", "default": "fast"},
    }}}}
    obj = {"apiVersion": "x.io/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": {"mode": "slow"}}
    assert schema.validate(obj, custom).object["spec"] == {"mode": "slow", "replicas": 1}


def test_object_without_properties_prunes_all_fields():
    custom = {"type": "object", "properties": {"spec": {"type": "object"}}}
    obj = {"apiVersion": "x.io/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": {"x": 1}}
    result = schema.validate(obj, custom)
    assert result.object["spec"] == {}
    assert result.unknown_fields == ["spec.x"]


@REAL_SCHEMAS
def test_map_value_errors_use_key_brackets():
    vs = reviews_vs()
    vs["spec"]["http"][0]["route"][0]["headers"] = {"request": {"set": {"x-user": 5}}}
    causes = schema.validate(vs, VS_SCHEMA).causes
    assert causes == [{
        "reason": "FieldValueTypeInvalid",
        "field": "spec.http[0].route[0].headers.request.set[x-user]",
        "message": 'Invalid value: "integer": spec.http[0].route[0].headers.request.set[x-user] in body must be '
                   'of type string: "integer"',
    }, RULES_NOT_CHECKED]


@REAL_SCHEMAS
def test_required_enum_and_range_causes():
    vs = reviews_vs()
    del vs["spec"]["http"][0]["route"][0]["destination"]["host"]
    result = schema.validate(vs, VS_SCHEMA)
    assert result.causes == [{"reason": "FieldValueRequired", "message": "Required value",
                              "field": "spec.http[0].route[0].destination.host"}, RULES_NOT_CHECKED]

    dr = load("samples/bookinfo/networking/destination-rule-all.yaml")[0]
    dr["spec"]["trafficPolicy"] = {"loadBalancer": {"simple": "FASTEST"}}
    causes = schema.validate(dr, crd_schema(dr["apiVersion"], "DestinationRule")).causes
    assert causes == [{
        "reason": "FieldValueNotSupported",
        "field": "spec.trafficPolicy.loadBalancer.simple",
        "message": 'Unsupported value: "FASTEST": supported values: "UNSPECIFIED", "LEAST_CONN", "RANDOM", '
                   '"PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"',
    }, RULES_NOT_CHECKED]

    gw = load("samples/bookinfo/networking/bookinfo-gateway.yaml")[0]
    gw["spec"]["servers"][0]["port"]["number"] = 4294967296
    causes = schema.validate(gw, crd_schema(gw["apiVersion"], "Gateway")).causes
    assert causes == [{
        "reason": "FieldValueInvalid",
        "field": "spec.servers[0].port.number",
        "message": "Invalid value: 4294967296: spec.servers[0].port.number in body should be less than or "
                   "equal to 4294967295",
    }]


@REAL_SCHEMAS
def test_every_istio_crd_schema_compiles_and_checks_required_spec_fields():
    checked = 0
    for crd in CRDS:
        for version in crd["spec"]["versions"]:
            crd_version_schema = version["schema"]["openAPIV3Schema"]
            obj = {"apiVersion": f"{crd['spec']['group']}/{version['name']}", "kind": crd["spec"]["names"]["kind"],
                   "metadata": {"name": "x", "namespace": "default"}, "spec": {}}
            required = crd_version_schema["properties"]["spec"].get("required", [])
            result = schema.validate(obj, crd_version_schema)
            assert [c for c in result.causes if c["reason"] == "FieldValueRequired"] == [
                {"reason": "FieldValueRequired", "message": "Required value", "field": f"spec.{name}"}
                for name in required], obj["kind"]
            # Missing required fields stop CEL rules from running; otherwise only the spec's own rules may
            # object to an empty spec.
            others = [c for c in result.causes if c["reason"] != "FieldValueRequired"]
            if required:
                assert others == [RULES_NOT_CHECKED], obj["kind"]
            else:
                assert all(c["field"] == "spec" for c in others), obj["kind"]
            checked += 1
    assert checked == 33


@REAL_SCHEMAS
def test_custom_resource_metadata_is_objectmeta_not_crd_schema():
    vs = reviews_vs()
    vs["metadata"]["labels"] = {"app": "reviews"}
    vs["metadata"]["bogus"] = "x"
    result = schema.validate(vs, VS_SCHEMA)
    assert result.ok
    assert result.unknown_fields == ["metadata.bogus"]
    assert result.object["metadata"] == {"name": "reviews", "labels": {"app": "reviews"}}


# ---------------------------------------------------------------- CEL rules (x-kubernetes-validations)

def http_route(**fields):
    vs = reviews_vs()
    vs["spec"]["http"][0].update(fields)
    return vs


@REAL_SCHEMAS
@pytest.mark.parametrize("timeout, message", [
    ("10s", None), ("1h30m", None), ("1.5s", None), ("1ms", None),
    ("0.5ms", "must be a valid duration greater than 1ms"),
    ("0", "must be a valid duration greater than 1ms"),
    ("-1s", "must be a valid duration greater than 1ms"),
    ("abc", 'time: invalid duration "abc" evaluating rule: must be a valid duration greater than 1ms'),
])
def test_virtualservice_timeout_rule(timeout, message):
    causes = schema.validate(http_route(timeout=timeout), VS_SCHEMA).causes
    if message is None:
        assert causes == []
    else:
        assert causes == [{"reason": "FieldValueInvalid", "field": "spec.http[0].timeout",
                           "message": f'Invalid value: "string": {message}'}]


@REAL_SCHEMAS
def test_rules_on_list_items_and_lists():
    se_schema = crd_schema("networking.istio.io/v1", "ServiceEntry")
    se = {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry", "metadata": {"name": "ext"},
          "spec": {"hosts": ["api.example.com", "*"], "resolution": "DNS",
                   "ports": [{"number": 443, "name": "https", "protocol": "TLS"},
                             {"number": 443, "name": "again", "protocol": "TLS"}],
                   "endpoints": [{"address": "unix:///var/run/ok.sock"}, {"address": "unix://relative"}]}}
    assert schema.validate(se, se_schema).causes == [
        {"reason": "FieldValueInvalid", "field": "spec.hosts[1]",
         "message": 'Invalid value: "string": hostname cannot be wildcard'},
        {"reason": "FieldValueInvalid", "field": "spec.ports",
         "message": 'Invalid value: "array": port number cannot be duplicated'},
        {"reason": "FieldValueInvalid", "field": "spec.endpoints[1].address",
         "message": 'Invalid value: "string": UDS must be an absolute path or abstract socket'},
    ]


@REAL_SCHEMAS
@pytest.mark.parametrize("url, ok", [
    ("oci://registry.example.com/filters/auth:1.0", True),
    ("https://example.com/plugin.wasm", True),
    ("registry.example.com/plugin.wasm", True),
    ("ftp://example.com/plugin.wasm", False),
])
def test_url_rules_use_the_kubernetes_url_library(url, ok):
    plugin = {"apiVersion": "extensions.istio.io/v1alpha1", "kind": "WasmPlugin", "metadata": {"name": "p"},
              "spec": {"url": url}}
    causes = schema.validate(plugin, crd_schema("extensions.istio.io/v1alpha1", "WasmPlugin")).causes
    assert causes == ([] if ok else [{"reason": "FieldValueInvalid", "field": "spec.url",
                                      "message": 'Invalid value: "string": url must have schema one of '
                                                 "[http, https, file, oci]"}])
    auth = {"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication", "metadata": {"name": "a"},
            "spec": {"jwtRules": [{"issuer": "me", "jwksUri": url}]}}
    causes = schema.validate(auth, crd_schema("security.istio.io/v1", "RequestAuthentication")).causes
    if url.startswith(("http://", "https://")):
        assert causes == []
    elif "://" in url:
        assert causes == [{"reason": "FieldValueInvalid", "field": "spec.jwtRules[0].jwksUri",
                           "message": 'Invalid value: "string": url must have scheme http:// or https://'}]
    else:
        assert causes == [{"reason": "FieldValueInvalid", "field": "spec.jwtRules[0].jwksUri",
                           "message": f'Invalid value: "string": URL parse error during conversion from string to '
                                      f'url: parse "{url}": invalid URI for request evaluating rule: url must have '
                                      "scheme http:// or https://"}]


def test_list_map_and_set_items_must_be_unique():
    custom = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["number", "name"],
                  "items": {"type": "object", "properties": {"number": {"type": "integer"},
                                                             "name": {"type": "string"}}}},
        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "free": {"type": "array", "items": {"type": "string"}},
    }}}}
    obj = {"apiVersion": "x.io/v1", "kind": "Thing", "metadata": {"name": "t"},
           "spec": {"ports": [{"number": 80, "name": "http"}, {"number": 80, "name": "http"},
                              {"number": 80, "name": "admin"}],
                    "tags": ["a", "b", "a"], "free": ["x", "x"]}}
    assert schema.validate(obj, custom).causes == [
        {"reason": "FieldValueDuplicate", "field": "spec.ports[1]",
         "message": 'Duplicate value: map[string]interface {}{"name":"http", "number":80}'},
        {"reason": "FieldValueDuplicate", "field": "spec.tags[2]", "message": 'Duplicate value: "a"'},
    ]


def test_rule_without_message_and_root_rules():
    custom = {"type": "object",
              "x-kubernetes-validations": [{"rule": "self.metadata.name.startsWith('app-')",
                                            "message": "name must start with app-"}],
              "properties": {"spec": {"type": "object",
                                      "x-kubernetes-validations": [{"rule": "self.min <= self.max"}],
                                      "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}}}}}
    obj = {"apiVersion": "x.io/v1", "kind": "Range", "metadata": {"name": "web", "labels": {"a": "b"}},
           "spec": {"min": 5, "max": 1}}
    assert schema.validate(obj, custom).causes == [
        {"reason": "FieldValueInvalid", "field": "spec",
         "message": 'Invalid value: "object": failed rule: self.min <= self.max'},
        {"reason": "FieldValueInvalid", "field": "<nil>",
         "message": 'Invalid value: "object": name must start with app-'},
    ]
    obj = {"apiVersion": "x.io/v1", "kind": "Range", "metadata": {"name": "app-web"}, "spec": {"min": 1, "max": 5}}
    assert schema.validate(obj, custom).causes == []


# ---------------------------------------------------------------- built-in kinds

@REAL_SCHEMAS
def test_builtin_unknown_fields_are_dropped_and_reported():
    dep = bookinfo("Deployment", "reviews-v1")
    dep["spec"]["template"]["spec"]["containers"][0]["colour"] = "blue"
    dep["spec"]["surprise"] = 1
    result = schema.validate(dep)
    assert result.ok
    assert result.unknown_fields == ["spec.surprise", "spec.template.spec.containers[0].colour"]
    assert result.object == bookinfo("Deployment", "reviews-v1")


@REAL_SCHEMAS
def test_builtin_wrong_type_is_a_decode_error_like_the_go_decoder():
    dep = bookinfo("Deployment", "reviews-v1")
    dep["spec"]["replicas"] = "three"
    result = schema.validate(dep)
    assert result.decode_errors == [
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"]
    assert result.bad_request() == (
        'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go '
        'struct field DeploymentSpec.spec.replicas of type int32')
    svc = bookinfo("Service", "reviews")
    svc["spec"]["ports"][0]["port"] = "http"
    assert schema.validate(svc).decode_errors == [
        "json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32"]


@REAL_SCHEMAS
def test_builtin_required_field():
    dep = bookinfo("Deployment", "reviews-v1")
    del dep["spec"]["template"]["spec"]["containers"][0]["name"]
    assert schema.validate(dep).causes == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.template.spec.containers[0].name"}]


@REAL_SCHEMAS
def test_int_or_string_builtin_accepts_both():
    svc = bookinfo("Service", "reviews")
    for target in (9080, "http"):
        svc["spec"]["ports"][0]["targetPort"] = target
        assert schema.validate(svc).ok
    svc["spec"]["ports"][0]["targetPort"] = {"port": 1}
    assert schema.validate(svc).decode_errors


def test_builtin_nulls_decode_to_absent():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": None},
          "data": {"a": "1"}, "immutable": None}
    result = schema.validate(cm)
    assert result.ok
    assert result.object == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}


@pytest.mark.parametrize("name, message", [
    ("Bad_Name", "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
    ("-x", None),
])
def test_metadata_name_must_be_dns_subdomain(name, message):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
    causes = schema.metadata_causes(cm)
    assert [c["field"] for c in causes] == ["metadata.name"]
    assert causes[0]["reason"] == "FieldValueInvalid"
    assert causes[0]["message"].startswith(f'Invalid value: "{name}": ')
    if message:
        assert causes[0]["message"] == f'Invalid value: "{name}": {message}'


@REAL_SCHEMAS
def test_namespace_and_service_names_are_labels():
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}}
    assert [c["field"] for c in schema.metadata_causes(ns)] == ["metadata.name"]
    svc = bookinfo("Service", "reviews")
    svc["metadata"]["name"] = "1reviews"
    assert "DNS-1035 label" in schema.metadata_causes(svc)[0]["message"]
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a.b"}}
    assert schema.metadata_causes(cm) == []


def test_name_or_generate_name_required():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}
    assert schema.metadata_causes(cm) == [{"reason": "FieldValueRequired", "field": "metadata.name",
                                           "message": "Required value: name or generateName is required"}]
    cm["metadata"]["generateName"] = "cm-"
    assert schema.metadata_causes(cm) == []


def test_label_keys_and_values_are_checked():
    ns = {"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": "demo", "labels": {"istio-injection": "enabled", "istio.io/rev": "1-22",
                                                   "bad key": "x", "ok": "not ok!"}}}
    causes = schema.metadata_causes(ns)
    assert [(c["field"], c["message"].split(":")[1].strip()) for c in causes] == [
        ("metadata.labels", '"bad key"'), ("metadata.labels", '"not ok!"')]
    assert all(c["reason"] == "FieldValueInvalid" for c in causes)


def test_unknown_kind_passes_through():
    obj = {"apiVersion": "example.com/v1", "kind": "Mystery", "metadata": {"name": "m"}, "x": 1}
    result = schema.validate(obj)
    assert not result.schema_found and result.ok
    assert result.object == obj


@REAL_SCHEMAS
def test_validation_is_fast_enough_for_every_write():
    import time
    dep = bookinfo("Deployment", "productpage-v1")
    vs = reviews_vs()
    schema.validate(dep)
    schema.validate(vs, VS_SCHEMA)
    start = time.perf_counter()
    for _ in range(50):
        schema.validate(dep)
        schema.validate(vs, VS_SCHEMA)
    per_pair = (time.perf_counter() - start) / 50
    assert per_pair < 0.01, f"validation takes {per_pair * 1000:.1f} ms per Deployment+VirtualService"


# ---------------------------------------------------------------- merge metadata

def test_builtin_patch_metadata():
    root = schema.node_for("apps/v1", "Deployment")
    pod = root.field("spec").field("template").field("spec")
    containers = pod.field("containers")
    assert containers.patch_strategy == ("merge",)
    assert containers.patch_merge_key == "name"
    assert containers.list_type == "map" and containers.list_map_keys == ("name",)
    ports = containers.items().field("ports")
    assert ports.patch_merge_key == "containerPort"
    assert ports.list_map_keys == ("containerPort", "protocol")
    assert ports.key_default("protocol") == "TCP"
    assert pod.field("volumes").patch_strategy == ("merge", "retainKeys")
    assert root.field("spec").field("strategy").patch_strategy == ("retainKeys",)
    assert root.field("spec").field("selector").map_type == "atomic"
    assert root.field("metadata").field("labels").is_map
    assert root.field("metadata").field("finalizers").list_type == "set"
    assert containers.items().field("args").list_type == "atomic"
    assert root.field("metadata").field("labels").field("any-key").raw["type"] == ["string", "null"]
    assert root.field("spec").field("nonexistent") is None


def test_service_ports_merge_on_port():
    ports = schema.node_for("v1", "Service").field("spec").field("ports")
    assert ports.patch_merge_key == "port"
    assert ports.list_map_keys == ("port", "protocol")


@REAL_SCHEMAS
def test_crd_metadata_comes_from_the_crd_schema_and_no_strategic_merge():
    root = schema.node_for("networking.istio.io/v1", "VirtualService", VS_SCHEMA)
    http = root.field("spec").field("http")
    assert http.patch_strategy == () and http.patch_merge_key is None
    assert http.items().field("route").items().field("weight").raw["type"] == "integer"
    assert not schema.strategic_merge_supported("networking.istio.io/v1", "VirtualService", VS_SCHEMA)
    assert schema.strategic_merge_supported("apps/v1", "Deployment")
    assert not schema.strategic_merge_supported("example.com/v1", "Mystery")
    assert schema.node_for("example.com/v1", "Mystery") is None


@REAL_SCHEMAS
def test_crd_list_map_keys_are_read():
    for crd in CRDS:
        if crd["spec"]["names"]["kind"] == "ServiceEntry":
            version = crd["spec"]["versions"][0]
    root = schema.node_for("networking.istio.io/v1", "ServiceEntry", version["schema"]["openAPIV3Schema"])
    found = []

    def walk(node, path):
        if node is None or path.count(".") > 8:
            return
        if node.list_type:
            found.append((path, node.list_type, node.list_map_keys))
        for name in (node.raw.get("properties") or {}):
            walk(node.field(name), f"{path}.{name}")
        if node.raw.get("items"):
            walk(node.items(), path + "[]")
    walk(root, "")
    assert found == [(".spec.ports", "map", ("name",))], found


@REAL_SCHEMAS
def test_validate_leaves_metadata_syntax_to_metadata_causes():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name", "labels": {"a b": "c"}}}
    assert schema.validate(cm).causes == []
    assert [c["field"] for c in schema.metadata_causes(cm)] == ["metadata.name", "metadata.labels"]
    assert schema.metadata_causes(bookinfo("Deployment", "reviews-v1")) == []
