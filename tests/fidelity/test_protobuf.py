"""kubesim protobuf decoding, checked against bodies built by an encoder written here from the spec."""
import base64
import gzip
import json
import subprocess
from pathlib import Path

import pytest

from sim.kubesim import protobuf

# ------------------------------------------------------------------ an independent encoder
# Written from the protobuf encoding spec and Kubernetes' generated.proto field numbers; it shares
# no code with the decoder under test.


def varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def tag(number, wire):
    return varint(number << 3 | wire)


def ld(number, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return tag(number, 2) + varint(len(payload)) + payload


def vi(number, value):
    return tag(number, 0) + varint(int(value))


def entry(number, key, value):
    return ld(number, ld(1, key) + ld(2, value))


def time_msg(number, seconds):
    return ld(number, vi(1, seconds) if seconds else b"")


def object_meta(name="", namespace="", generate_name="", uid="", resource_version="", labels=None,
                annotations=None, owners=(), finalizers=(), generation=0, created=0, managed=()):
    # Go's generated marshallers write every non-pointer string, even empty ones.
    out = ld(1, name) + ld(2, generate_name) + ld(3, namespace) + ld(4, "") + ld(5, uid) + ld(6, resource_version)
    out += vi(7, generation) + time_msg(8, created)
    for key, value in sorted((labels or {}).items()):
        out += entry(11, key, value)
    for key, value in sorted((annotations or {}).items()):
        out += entry(12, key, value)
    for owner in owners:
        body = ld(1, owner["kind"]) + ld(3, owner["name"]) + ld(4, owner["uid"]) + ld(5, owner["apiVersion"])
        if "controller" in owner:
            body += vi(6, owner["controller"])
        if "blockOwnerDeletion" in owner:
            body += vi(7, owner["blockOwnerDeletion"])
        out += ld(13, body)
    for finalizer in finalizers:
        out += ld(14, finalizer)
    for m in managed:
        body = ld(1, m["manager"]) + ld(2, m["operation"]) + ld(3, m["apiVersion"]) + time_msg(4, m["seconds"])
        body += ld(6, "FieldsV1") + ld(7, ld(1, json.dumps(m["fieldsV1"])))
        out += ld(17, body)
    return out


def envelope(api_version, kind, raw, encoding="", content_type=""):
    unknown = ld(1, ld(1, api_version) + ld(2, kind)) + ld(2, raw) + ld(3, encoding) + ld(4, content_type)
    return b"k8s\x00" + unknown


def secret(meta, data=None, string_data=None, type_="", immutable=None):
    out = ld(1, meta)
    for key, value in sorted((data or {}).items()):
        out += entry(2, key, value)
    out += ld(3, type_)
    for key, value in sorted((string_data or {}).items()):
        out += entry(4, key, value)
    if immutable is not None:
        out += vi(5, immutable)
    return out


# ------------------------------------------------------------------ tests

def helm_release_body(version=1, status="deployed"):
    release = gzip.compress(json.dumps({"name": "demo", "version": version, "info": {"status": status}}).encode())
    payload = base64.b64encode(release)   # helm stores base64(gzip(json)) as the secret value
    meta = object_meta(name=f"sh.helm.release.v1.demo.v{version}", namespace="default",
                       labels={"owner": "helm", "name": "demo", "status": status, "version": str(version)})
    return envelope("v1", "Secret", secret(meta, {"release": payload}, type_="helm.sh/release.v1")), payload


def test_helm_release_secret_decodes_like_its_json():
    body, payload = helm_release_body(version=3, status="superseded")
    assert protobuf.decode(body) == {
        "kind": "Secret", "apiVersion": "v1",
        "metadata": {"name": "sh.helm.release.v1.demo.v3", "namespace": "default",
                     "labels": {"name": "demo", "owner": "helm", "status": "superseded", "version": "3"}},
        "data": {"release": base64.b64encode(payload).decode()},
        "type": "helm.sh/release.v1",
    }


def test_secret_with_every_metadata_field():
    owners = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u-1", "controller": True,
               "blockOwnerDeletion": False},
              {"apiVersion": "v1", "kind": "ConfigMap", "name": "", "uid": "u-2"}]
    managed = [{"manager": "helm", "operation": "Update", "apiVersion": "v1", "seconds": 1700000000,
                "fieldsV1": {"f:data": {".": {}, "f:release": {}}}}]
    meta = object_meta(name="", generate_name="tok-", namespace="istio-system", uid="abc", resource_version="42",
                       labels={"a": "1"}, annotations={"note": "x", "empty": ""}, owners=owners,
                       finalizers=["kubernetes", "example.com/keep"], generation=2, created=1700000000,
                       managed=managed)
    body = envelope("v1", "Secret", secret(meta, {"bin": b"\x00\xff\x10"}, {"plain": "text"}, "Opaque", False))
    assert protobuf.decode(body) == {
        "kind": "Secret", "apiVersion": "v1",
        "metadata": {
            "generateName": "tok-", "namespace": "istio-system", "uid": "abc", "resourceVersion": "42",
            "generation": 2, "creationTimestamp": "2023-11-14T22:13:20Z",
            "labels": {"a": "1"}, "annotations": {"empty": "", "note": "x"},
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u-1", "controller": True,
                 "blockOwnerDeletion": False},
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "", "uid": "u-2"}],
            "finalizers": ["kubernetes", "example.com/keep"],
            "managedFields": [{"manager": "helm", "operation": "Update", "apiVersion": "v1",
                               "time": "2023-11-14T22:13:20Z", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:data": {".": {}, "f:release": {}}}}],
        },
        "immutable": False,
        "data": {"bin": "AP8Q"},
        "stringData": {"plain": "text"},
        "type": "Opaque",
    }


def test_configmap_data_and_binary_data():
    raw = ld(1, object_meta(name="istio", namespace="istio-system")) + entry(2, "mesh", "accessLogFile: /dev/stdout")
    raw += entry(3, "blob", b"\x01\x02") + vi(4, True)
    assert protobuf.decode(envelope("v1", "ConfigMap", raw)) == {
        "kind": "ConfigMap", "apiVersion": "v1",
        "metadata": {"name": "istio", "namespace": "istio-system"},
        "data": {"mesh": "accessLogFile: /dev/stdout"}, "binaryData": {"blob": "AQI="}, "immutable": True,
    }


def test_delete_options():
    raw = vi(1, 0) + ld(2, ld(1, "uid-1") + ld(2, "7")) + ld(4, "Background") + ld(5, "All")
    assert protobuf.decode(envelope("v1", "DeleteOptions", raw)) == {
        "kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
        "preconditions": {"uid": "uid-1", "resourceVersion": "7"}, "propagationPolicy": "Background",
        "dryRun": ["All"]}


def test_unknown_fields_and_negative_numbers():
    meta = object_meta(name="x") + vi(10, -5) + ld(99, "future field") + tag(98, 5) + b"\x00\x00\x00\x00"
    meta += tag(97, 1) + b"\x00" * 8
    decoded = protobuf.decode(envelope("v1", "ConfigMap", ld(1, meta)))
    assert decoded["metadata"] == {"name": "x", "deletionGracePeriodSeconds": -5}


def test_empty_secret_keeps_metadata_only():
    assert protobuf.decode(envelope("v1", "Secret", ld(1, b""))) == {"kind": "Secret", "apiVersion": "v1",
                                                                      "metadata": {}}


@pytest.mark.parametrize("body, message", [
    (b'{"kind": "Secret"}', "body is not a Kubernetes protobuf envelope (it must start with k8s\\x00)"),
    (b"k8s\x00" + tag(1, 2) + varint(50) + b"short", "field 1 claims 50 bytes but only 5 remain"),
    (b"k8s\x00" + tag(2, 2) + b"\xff\xff", "truncated varint"),
    (envelope("apps/v1", "Deployment", b""), "no protobuf decoding for Deployment apps/v1; supported: "
                                             "ConfigMap v1, DeleteOptions meta.k8s.io/v1, DeleteOptions v1, "
                                             "Namespace v1, Secret v1, SelfSubjectAccessReview "
                                             "authorization.k8s.io/v1, ServiceAccount v1, TokenRequest "
                                             "authentication.k8s.io/v1"),
    (envelope("v1", "Secret", b"", encoding="gzip"), "content encoding 'gzip' is not supported"),
    (envelope("v1", "Secret", ld(1, vi(1, 5))), "field name should be length-delimited"),
    (envelope("v1", "Secret", ld(1, ld(1, b"\xff\xfe"))), "field name is not valid UTF-8"),
    (envelope("v1", "Secret", tag(6, 3)), "unsupported wire type 3 (groups) in field 6"),
])
def test_malformed_bodies_are_rejected_with_a_reason(body, message):
    with pytest.raises(protobuf.ProtobufError) as caught:
        protobuf.decode(body)
    assert str(caught.value) == message


# ------------------------------------------------------------------ real helm against kubesim

HELM = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "helm"
TINY_CHART = Path(__file__).resolve().parent / "charts" / "tiny"


def helm(sim, *args):
    result = subprocess.run([str(HELM), "--kubeconfig", str(sim.kubeconfig_path), *args], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def release_payload(secret_obj):
    """helm's release record: base64 (Secret data) of base64 of gzipped JSON."""
    return json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret_obj["data"]["release"]))))


def test_real_helm_release_secrets_go_through_protobuf(kubesim, monkeypatch):
    from sim.kubesim import server

    decoded = []
    real_decode = protobuf.decode

    def counting_decode(body):
        obj = real_decode(body)
        decoded.append((obj["kind"], (obj.get("metadata") or {}).get("name")))
        return obj

    monkeypatch.setattr(server.protobuf, "decode", counting_decode)
    helm(kubesim, "install", "demo", str(TINY_CHART), "--namespace", "default")
    first = kubesim.get_object("v1", "Secret", "sh.helm.release.v1.demo.v1", "default")
    assert first["type"] == "helm.sh/release.v1"
    labels = dict(first["metadata"]["labels"])
    assert labels.pop("modifiedAt").isdigit()
    assert labels == {"owner": "helm", "name": "demo", "status": "deployed", "version": "1"}
    assert release_payload(first)["name"] == "demo"
    assert ("Secret", "sh.helm.release.v1.demo.v1") in decoded

    helm(kubesim, "upgrade", "demo", str(TINY_CHART), "--namespace", "default", "--set", "greeting=hi")
    assert kubesim.get_object("v1", "Secret", "sh.helm.release.v1.demo.v1", "default")["metadata"]["labels"][
        "status"] == "superseded"
    second = kubesim.get_object("v1", "Secret", "sh.helm.release.v1.demo.v2", "default")
    assert second["metadata"]["labels"]["status"] == "deployed"
    assert release_payload(second)["version"] == 2
    assert kubesim.get_object("v1", "ConfigMap", "demo-config", "default")["data"] == {"greeting": "hi"}
    assert "demo" in helm(kubesim, "list", "--namespace", "default", "--short")

    helm(kubesim, "uninstall", "demo", "--namespace", "default")
    assert ("DeleteOptions", None) in decoded   # client-go sends delete bodies as protobuf too
    assert [s for s in kubesim.list_objects("v1", "Secret", "default")
            if s["metadata"]["name"].startswith("sh.helm.release.v1.demo")] == []
    assert kubesim.get_object("v1", "ConfigMap", "demo-config", "default") is None
