# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this code is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.
"""What Istio needs to join clusters into one mesh.

* Remote secrets: the objects that let another cluster's istiod read this one (reader
  ServiceAccount, its RBAC, a token Secret) and the Secret that carries a kubeconfig for it,
  in the shape ``istioctl create-remote-secret`` writes.
* A shared root of trust: a root CA and one intermediate CA per cluster, as the ``cacerts``
  Secret istiod reads when it starts.

Everything here is pure (no API calls); modules do the talking through ``kube.Cluster``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import ipaddress
import json
import re
from importlib.util import find_spec

from ansible.module_utils.six.moves.urllib.parse import urlparse

# Found, not imported: only the CA functions below need cryptography (istio_cacerts; istio_remote_secret never
# does), and each starts with _require_cryptography(), which imports these names on first use.
HAS_CRYPTOGRAPHY = find_spec("cryptography") is not None
x509 = hashes = serialization = ec = rsa = NameOID = None

DEFAULT_NAMESPACE = "istio-system"
READER_SERVICE_ACCOUNT = "istio-reader-service-account"
MULTICLUSTER_LABEL = "istio/multiCluster"
CLUSTER_ANNOTATION = "networking.istio.io/cluster"
SECRET_PREFIX = "istio-remote-secret-"
CACERTS_SECRET = "cacerts"
CACERTS_KEYS = ("ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem")
# A cluster name ends up in Secret names, data keys, label values and inventory host names.
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class MulticlusterError(Exception):
    """Bad input or state that a person has to fix; the message says how."""


def no_log(module, *values):
    """Have Ansible mask ``values`` wherever they would appear in the module's output."""
    # AnsibleK8SModule wraps the AnsibleModule that holds the mask list.
    target = getattr(module, "_module", module)
    for value in values:
        if value:
            target.no_log_values.add(value)


# -- remote secrets -----------------------------------------------------------------------

def remote_secret_name(cluster):
    return SECRET_PREFIX + cluster


def token_secret_name(service_account):
    # The name istioctl gives the token Secret it creates for the reader account.
    return "%s-istio-remote-secret-token" % service_account


def reader_role_name(namespace):
    # Not the chart's istio-reader-clusterrole-<ns>: a Helm-owned object is left to Helm.
    return "meshops-istio-reader-%s" % namespace


# Read access istiod needs in a cluster it does not run in: service discovery, endpoints and
# workloads, Istio config, and token/access reviews for workloads calling its webhooks.
READER_RULES = [
    {"apiGroups": ["config.istio.io", "security.istio.io", "networking.istio.io", "authentication.istio.io",
                   "rbac.istio.io", "telemetry.istio.io", "extensions.istio.io"],
     "resources": ["*"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""],
     "resources": ["endpoints", "pods", "services", "nodes", "replicationcontrollers", "namespaces", "secrets"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["networking.istio.io"], "resources": ["workloadentries"], "verbs": ["get", "watch", "list"]},
    {"apiGroups": ["networking.x-k8s.io", "gateway.networking.k8s.io"], "resources": ["gateways"],
     "verbs": ["get", "watch", "list"]},
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["multicluster.x-k8s.io"], "resources": ["serviceexports", "serviceimports"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
    {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
]


def reader_objects(namespace=DEFAULT_NAMESPACE, service_account=READER_SERVICE_ACCOUNT):
    """ServiceAccount, ClusterRole, ClusterRoleBinding and token Secret for a remote reader,
    in the order they must be applied. Kubernetes >= 1.24 no longer makes the token Secret."""
    role = reader_role_name(namespace)
    return [
        # The label gives us a field to own: server-side apply keeps no record of a manager that
        # owns nothing, and without one a re-run could not tell the account is already there.
        # Istio's chart puts the same label on the account it makes.
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": service_account, "namespace": namespace, "labels": {"app": "istio-reader"}}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": role}, "rules": READER_RULES},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": role},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
         "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}]},
        token_secret(namespace, service_account),
    ]


def token_secret(namespace=DEFAULT_NAMESPACE, service_account=READER_SERVICE_ACCOUNT):
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": token_secret_name(service_account), "namespace": namespace,
                         "annotations": {"kubernetes.io/service-account.name": service_account}}}


def token_from_secret(secret):
    """(token, ca_data_base64) from a filled service-account-token Secret, or (None, None)
    while the token controller has not filled it yet."""
    data = (secret or {}).get("data") or {}
    token, ca = data.get("token"), data.get("ca.crt")
    if not token or not ca:
        return None, None
    return base64.b64decode(token).decode("utf-8"), ca


def build_kubeconfig(cluster, server, ca_data, token):
    """The kubeconfig ``istioctl create-remote-secret`` writes: one cluster, user and context,
    all named after the cluster, authenticating with the reader token.

    Rendered as JSON (which is YAML) with sorted keys so that the same inputs give the same
    bytes on every run: the Secret is then not rewritten."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
        "current-context": cluster,
        "preferences": {},
        "users": [{"name": cluster, "user": {"token": token}}],
    }
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def remote_secret(cluster, kubeconfig, namespace=DEFAULT_NAMESPACE):
    """The Secret a primary's istiod watches to learn about ``cluster``."""
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": remote_secret_name(cluster), "namespace": namespace,
                     "labels": {MULTICLUSTER_LABEL: "true"},
                     "annotations": {CLUSTER_ANNOTATION: cluster}},
        "data": {cluster: base64.b64encode(kubeconfig.encode("utf-8")).decode("ascii")},
    }


def kubeconfig_of(secret, cluster):
    """The kubeconfig text a remote secret carries for ``cluster`` (None when absent)."""
    value = ((secret or {}).get("data") or {}).get(cluster)
    return base64.b64decode(value).decode("utf-8") if value else None


def server_problem(url):
    """Why other clusters could not use ``url`` as an API server address, or None.

    A loopback address works from the machine Ansible runs on but points other clusters'
    istiod at themselves."""
    parsed = urlparse(url or "")
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        return "%r is not a URL such as https://api.example.com:6443" % (url,)
    host = parsed.hostname
    if host == "localhost" or host.endswith(".localhost"):
        return "%s is a loopback name" % host
    try:
        if ipaddress.ip_address(host).is_loopback:
            return "%s is a loopback address" % host
    except ValueError:
        pass
    return None


# -- shared root of trust -------------------------------------------------------------------

def _require_cryptography():
    global x509, hashes, serialization, ec, rsa, NameOID
    if not HAS_CRYPTOGRAPHY:
        raise MulticlusterError("The 'cryptography' Python library is needed to make CA certificates: "
                                "pip install cryptography")
    if x509 is None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.x509.oid import NameOID


def new_key(key_type="rsa", key_size=4096):
    _require_cryptography()
    if key_type == "ec":
        curves = {256: ec.SECP256R1(), 384: ec.SECP384R1()}
        if key_size not in curves:
            raise MulticlusterError("key_size %s is not an EC size Istio accepts; use 256 or 384." % key_size)
        return ec.generate_private_key(curves[key_size])
    if key_size < 2048:
        raise MulticlusterError("key_size %s is too small for an RSA CA key; use 2048 or more." % key_size)
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def _name(common_name, organization, locality=None):
    parts = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)]
    if locality:
        parts.append(x509.NameAttribute(NameOID.LOCALITY_NAME, locality))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(parts)


def _ca_builder(subject, issuer, public_key, days, path_length, now):
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def new_root_ca(organization="Istio", common_name="Root CA", days=3650, key_type="rsa", key_size=4096):
    """(cert_pem, key_pem) of a self-signed root CA."""
    key = new_key(key_type, key_size)
    subject = _name(common_name, organization)
    cert = _ca_builder(subject, subject, key.public_key(), days, None, _now()).sign(key, hashes.SHA256())
    return pem_cert(cert), pem_key(key)


def new_intermediate_ca(root_cert_pem, root_key_pem, cluster, organization="Istio", days=730,
                        key_type="rsa", key_size=4096, namespace=DEFAULT_NAMESPACE):
    """The four ``cacerts`` files for one cluster, its intermediate signed by the root."""
    _require_cryptography()
    root_cert, root_key = load_cert(root_cert_pem), load_key(root_key_pem)
    key = new_key(key_type, key_size)
    subject = _name("Intermediate CA", organization, locality=cluster)
    cert = (_ca_builder(subject, root_cert.subject, key.public_key(), days, 0, _now())
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("istiod.%s.svc" % namespace)]), critical=False)
            .sign(root_key, hashes.SHA256()))
    cert_pem = pem_cert(cert)
    return {"ca-cert.pem": cert_pem, "ca-key.pem": pem_key(key), "root-cert.pem": root_cert_pem,
            "cert-chain.pem": cert_pem + root_cert_pem}


def pem_cert(cert):
    _require_cryptography()
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def pem_key(key):
    _require_cryptography()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def load_cert(pem):
    _require_cryptography()
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii") if isinstance(pem, str) else pem)
    except ValueError as e:
        raise MulticlusterError("Not a PEM certificate: %s" % e) from e


def load_key(pem):
    _require_cryptography()
    try:
        return serialization.load_pem_private_key(pem.encode("ascii") if isinstance(pem, str) else pem, None)
    except (ValueError, TypeError) as e:
        raise MulticlusterError("Not an unencrypted PEM private key: %s" % e) from e


def check_root_pair(cert_pem, key_pem):
    """Refuse a root CA that cannot sign: not a CA, expired, or a key of another certificate."""
    cert, key = load_cert(cert_pem), load_key(key_pem)
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if not constraints or not constraints.ca:
        raise MulticlusterError("The root certificate (%s) is not a CA certificate (basicConstraints CA:TRUE "
                                "missing)." % cert.subject.rfc4514_string())
    if cert.not_valid_after_utc <= _now():
        raise MulticlusterError("The root certificate (%s) expired on %s; make a new root CA."
                                % (cert.subject.rfc4514_string(), cert.not_valid_after_utc.isoformat()))
    if _public_bytes(cert.public_key()) != _public_bytes(key.public_key()):
        raise MulticlusterError("The root key does not belong to the root certificate (%s); give the key that "
                                "was made with it." % cert.subject.rfc4514_string())


def _public_bytes(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def cacerts_problem(files, root_cert_pem, renew_within_days=30):
    """Why the ``cacerts`` files in a cluster do not fit the mesh's root, or None when they do.

    They fit when the root is ours, the intermediate was signed by it, the chain is
    intermediate + root, the key belongs to the intermediate, and it is not about to expire."""
    missing = [k for k in CACERTS_KEYS if not files.get(k)]
    if missing:
        return "it lacks %s" % ", ".join(missing)
    if files["root-cert.pem"].strip() != root_cert_pem.strip():
        return "its root-cert.pem is another root CA (%s)" % load_cert(files["root-cert.pem"]).subject.rfc4514_string()
    root, intermediate = load_cert(root_cert_pem), load_cert(files["ca-cert.pem"])
    try:
        intermediate.verify_directly_issued_by(root)
    except Exception as e:  # InvalidSignature, ValueError (wrong issuer), TypeError (key type)
        return "its ca-cert.pem was not signed by the root CA (%s)" % (e or type(e).__name__)
    if files["cert-chain.pem"].strip() != (files["ca-cert.pem"].strip() + "\n" + root_cert_pem.strip()):
        return "its cert-chain.pem is not ca-cert.pem followed by root-cert.pem"
    if _public_bytes(load_key(files["ca-key.pem"]).public_key()) != _public_bytes(intermediate.public_key()):
        return "its ca-key.pem does not belong to ca-cert.pem"
    if intermediate.not_valid_after_utc <= _now() + datetime.timedelta(days=renew_within_days):
        return "its intermediate CA expires on %s" % intermediate.not_valid_after_utc.date().isoformat()
    return None


def cacerts_secret(files, namespace=DEFAULT_NAMESPACE):
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": CACERTS_SECRET, "namespace": namespace},
            "data": dict((k, base64.b64encode(files[k].encode("ascii")).decode("ascii")) for k in CACERTS_KEYS)}


def files_of(secret):
    """The decoded ``cacerts`` files of a Secret (empty dict when there is none)."""
    data = (secret or {}).get("data") or {}
    return dict((k, base64.b64decode(v).decode("ascii")) for k, v in data.items() if k in CACERTS_KEYS)


def describe_cert(pem):
    """Public facts about a certificate, safe to print."""
    cert = load_cert(pem)
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "serial": format(cert.serial_number, "x"),
            "not_after": cert.not_valid_after_utc.isoformat(),
            "sha256": cert.fingerprint(hashes.SHA256()).hex()}
