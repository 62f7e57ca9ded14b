import pytest

from ansible_collections.meshops.istio.plugins.test import kube_errors

transient_api_error = kube_errors.transient_api_error

HELM = "Failure when executing Helm command. Exited 1.\n    stdout: \n    stderr: "


# What helm 3.17 printed against kubesim's injected faults (tests/reliability/test_faults_install.py), and what
# client-go prints for the kube-apiserver answers kubesim does not make.
@pytest.mark.parametrize("stderr", [
    "Error: 1 error occurred:\n\t* the server is currently unable to handle the request\n",
    "Error: UPGRADE FAILED: cannot patch \"istiod\" with kind Deployment: Internal error occurred: kubesim injected fault",
    "Error: UPGRADE FAILED: the server has received too many requests and has asked us to try again later",
    "Error: list: failed to list: an error on the server (\"unknown\") has prevented the request from succeeding",
    'Error: Patch "https://127.0.0.1:6443/apis/apps/v1/namespaces/istio-system/deployments/istiod": EOF',
    'Error: Get "https://127.0.0.1:6443/version": read tcp 127.0.0.1:1->127.0.0.1:6443: read: connection reset by peer',
    'Error: Get "https://10.0.0.1:6443/api": net/http: TLS handshake timeout',
    "Error: the server was unable to return a response in the time allotted, but may still be processing the request",
])
def test_transient_failures_are_worth_a_retry(stderr):
    assert transient_api_error({"failed": True, "msg": HELM + stderr, "stderr": stderr})


@pytest.mark.parametrize("result", [
    {"failed": False, "msg": "the server is currently unable to handle the request"},  # it did not fail
    {"failed": True, "stderr": "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress"},
    {"failed": True, "stderr": 'Error: Get "https://127.0.0.1:1/version": dial tcp 127.0.0.1:1: connect: connection '
                               "refused"},
    {"failed": True, "stderr": "Error: INSTALLATION FAILED: template: istiod/templates/x.yaml:3: unexpected EOF"},
    {"failed": True, "stderr": 'Error: admission webhook "validation.istio.io" denied the request: invalid'},
    {"failed": True, "msg": "Forbidden: User cannot patch resource deployments"},
    None, "a string", {},
])
def test_other_failures_are_not(result):
    assert not transient_api_error(result)


def test_the_test_is_registered():
    assert kube_errors.TestModule().tests() == {"transient_api_error": transient_api_error}
