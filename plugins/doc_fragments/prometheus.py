# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""The ``prometheus`` option of the modules that judge traffic by Istio's metrics (meshops.istio.prometheus; its
argspec is module_utils/prometheus.py's prometheus_option()), and prometheus_query's top-level Service option
(meshops.istio.prometheus.service).

The Service suboptions are written twice below, nested (prometheus.service) and at prometheus_query's top level
(prometheus_service): ansible-test reads every fragment as one string literal, so they cannot be built from one
text. tests/unit/plugins/doc_fragments/test_shared_options.py holds both to SERVICE_ARG_SPEC."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  prometheus:
    description: Where the metrics are (the Prometheus that scrapes Istio's standard metrics).
    type: dict
    suboptions:
      url:
        description:
          - Base URL of Prometheus, for example V(http://prometheus.istio-system:9090), queried directly.
          - Without it, Prometheus is queried through the Kubernetes API server's service proxy
            (C(/api/v1/namespaces/<namespace>/services/<name>:<port>/proxy)) of the Service O(prometheus.service),
            with the same credentials and TLS settings as the other requests of the task (kubeconfig, context,
            host, api_key, ca_cert, validate_certs). This works from anywhere the API server is reachable; the
            identity needs the RBAC verb C(get) on C(services/proxy) in that namespace.
        type: str
      service:
        description: The Service of Prometheus reached through the API server's service proxy when O(prometheus.url) is not given.
        type: dict
        suboptions:
          namespace:
            description: Namespace of the Service.
            type: str
            default: istio-system
          name:
            description: Name of the Service.
            type: str
            default: prometheus
          port:
            description: Port of the Service, a number or a port name.
            type: str
            default: "9090"
          scheme:
            description: Protocol the API server speaks to Prometheus.
            type: str
            choices: [http, https]
            default: http
      bearer_token:
        description: Token sent as a bearer token. Direct O(prometheus.url) only.
        type: str
      username:
        description: User for basic authentication. Direct O(prometheus.url) only.
        type: str
      password:
        description: Password for basic authentication. Direct O(prometheus.url) only.
        type: str
      ca_path:
        description: CA certificate (PEM) that signed Prometheus's certificate. Direct O(prometheus.url) only.
        type: path
      validate_certs:
        description:
          - Verify Prometheus's TLS certificate. Direct O(prometheus.url) only (through the service proxy the
            API server's certificate is checked as kubernetes.core's O(validate_certs) says).
        type: bool
        default: true
      timeout:
        description: Seconds to wait for each query.
        type: int
        default: 10
"""

    SERVICE = r"""
options:
  prometheus_service:
    description: The Service of Prometheus reached through the API server's service proxy when O(url) is not given.
    type: dict
    suboptions:
      namespace:
        description: Namespace of the Service.
        type: str
        default: istio-system
      name:
        description: Name of the Service.
        type: str
        default: prometheus
      port:
        description: Port of the Service, a number or a port name.
        type: str
        default: "9090"
      scheme:
        description: Protocol the API server speaks to Prometheus.
        type: str
        choices: [http, https]
        default: http
"""
