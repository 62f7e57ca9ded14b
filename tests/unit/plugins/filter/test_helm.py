from ansible_collections.meshops.istio.plugins.filter import helm

UPGRADE = ("/usr/bin/helm upgrade -i --reset-values --reuse-values=False --namespace=istio-system --skip-crds "
           "--values=/tmp/values.yml istiod '/charts/istiod-1.27.0.tgz'")
PENDING = "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n"


def test_a_release_left_pending_says_how_to_settle_it():
    result = {"failed": True, "msg": "Failure when executing Helm command. Exited 1.", "stderr": PENDING,
              "command": UPGRADE}
    msg = helm.helm_failure(result, "Install the istio/istiod chart as istiod", "istio-system")
    assert msg.startswith("Install the istio/istiod chart as istiod: Helm release istio-system/istiod: Error: UPGRADE "
                          "FAILED: another operation (install/upgrade/rollback) is in progress")
    assert "`helm rollback istiod -n istio-system`" in msg and "`helm uninstall istiod -n istio-system`" in msg


def test_a_loop_names_each_failed_item_and_what_helm_said():
    result = {"failed": True, "msg": "One or more items failed", "results": [
        {"failed": False, "item": {"name": "istio-ingressgateway", "namespace": "istio-system"}},
        {"failed": True, "item": {"name": "istio-eastwestgateway", "namespace": "istio-gateways"},
         "stderr": "Error: list: failed to list: Internal error occurred: etcd leader changed",
         "command": "/usr/bin/helm list --output=yaml --filter istio-eastwestgateway"}]}
    msg = helm.helm_failure(result, "Install the istio/gateway chart for each gateway", "")
    assert msg == ("Install the istio/gateway chart for each gateway: Helm release istio-gateways/istio-eastwestgateway: "
                   "Error: list: failed to list: Internal error occurred: etcd leader changed")
    assert "One or more items failed" not in msg and "rollback" not in msg


def test_without_a_command_the_item_or_a_placeholder_names_the_release():
    assert helm.helm_failure({"failed": True, "msg": "boom"}, "T", "ns") == "T: Helm release ns/the release: boom"
    assert helm._release("helm uninstall istio-base --namespace=istio-system") == "istio-base"
    assert helm._release("unbalanced 'quote") is None
