# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""The ``prometheus`` option of the modules that judge traffic by Istio's metrics."""

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
        description: Base URL of Prometheus, for example V(http://prometheus.istio-system:9090).
        type: str
        required: true
      bearer_token:
        description: Token sent as a bearer token.
        type: str
      username:
        description: User for basic authentication.
        type: str
      password:
        description: Password for basic authentication.
        type: str
      ca_path:
        description: CA certificate (PEM) that signed Prometheus's certificate.
        type: path
      validate_certs:
        description: Verify Prometheus's TLS certificate.
        type: bool
        default: true
      timeout:
        description: Seconds to wait for each query.
        type: int
        default: 10
"""
