"""What kube.Cluster's own apply, wait and delete cost beside kubernetes.core's K8sService, K8SClient and Waiter
doing the same on the same objects, counted in kubesim's request log (discovery left out).

plugins/module_utils/kube.py uses kubernetes.core wherever it costs no more; where it keeps its own, its comment
quotes a figure measured here. The figures go to tests/output/kube-costs.json."""
import copy
import json

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.runner import perform_action
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.service import K8sService
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.waiter import get_waiter
from ansible_collections.meshops.istio.plugins.module_utils import kube
from ansible_collections.meshops.istio.plugins.module_utils.apply import ApplyRun

from tests.conftest import OUTPUT
from tests.integration.test_request_counts import DISCOVERY
from tests.reliability.faults_support import DirectModule

NAMESPACE = "bookinfo"
# Bookinfo's shape: a Service and a ServiceAccount per app, a Deployment per version.
APPS = (("details", ("v1",)), ("ratings", ("v1",)), ("reviews", ("v1", "v2", "v3")), ("productpage", ("v1",)))
SSA = {"field_manager": kube.FIELD_MANAGER, "force_conflicts": True}


def bookinfo():
    objects = []
    for app, versions in APPS:
        meta = {"name": app, "namespace": NAMESPACE, "labels": {"app": app}}
        objects.append({"apiVersion": "v1", "kind": "Service", "metadata": meta,
                        "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 9080}]}})
        objects.append({"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": "bookinfo-" + app, "namespace": NAMESPACE,
                                     "labels": {"account": app}}})
        for version in versions:
            labels = {"app": app, "version": version}
            objects.append({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "%s-%s" % (app, version), "namespace": NAMESPACE, "labels": labels},
                "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels},
                                      "spec": {"serviceAccountName": "bookinfo-" + app,
                                               "containers": [{"name": app, "image": "docker.io/istio/examples-"
                                                               "bookinfo-%s-%s:1.20.3" % (app, version),
                                                               "ports": [{"containerPort": 9080}]}]}}}})
    return objects


def counted(sim, action):
    """Run ``action()``; its requests beyond discovery: in all, writes, and per method."""
    sim.clear_request_log()
    action()
    log = [r for r in sim.request_log if not (r.method == "GET" and DISCOVERY.match(r.path))]
    methods = {}
    for r in log:
        methods[r.method] = methods.get(r.method, 0) + 1
    return dict(requests=len(log), writes=len(sim.writes()), **methods)


def core_service(sim, **params):
    """kubernetes.core.k8s's service over a client as its modules build it."""
    module = DirectModule(sim, **params)
    cluster = kube.Cluster(module)
    return cluster, K8sService(cluster.k8s, module)


def core_k8s(svc, objects, **params):
    """What kubernetes.core.k8s does per object (its runner), with apply: true and server-side apply."""
    params = dict(dict(apply=True, server_side_apply=SSA, state="present"), **params)
    for obj in objects:
        perform_action(svc, copy.deepcopy(obj), params)


def record(figures):
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "kube-costs.json").write_text(json.dumps(figures, indent=2, sort_keys=True))


def test_cluster_costs_no_more_than_kubernetes_core_on_the_same_objects(kubesim):
    objects = bookinfo()
    in_namespace = objects
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    cluster, svc = core_service(kubesim, server_side_apply=SSA)
    cluster.apply_objects([namespace])
    figures = {"objects": len(objects), "deployments": len(deployments)}

    # Creating: both write each object once; kubernetes.core reads each one first, twice. Converged (run
    # again): ours reads a kind at a time and writes nothing; kubernetes.core reads and PATCHes every object.
    figures["create"] = dict(ours=counted(kubesim, lambda: cluster.apply_objects(objects)))
    figures["converged"] = dict(ours=counted(kubesim, lambda: cluster.apply_objects(objects)))
    cluster.delete_objects(objects)
    figures["create"]["kubernetes_core"] = counted(kubesim, lambda: core_k8s(svc, objects))
    figures["converged"]["kubernetes_core"] = counted(kubesim, lambda: core_k8s(svc, objects))

    # A write of every object: our server-side apply call, and K8SClient.apply (which GETs before it PATCHes).
    def client_apply():
        for obj in objects:
            resource = cluster.resource(obj["apiVersion"], obj["kind"])
            cluster.k8s.apply(resource, copy.deepcopy(obj), NAMESPACE, server_side=True, **SSA)

    def our_writes():
        for obj in objects:
            cluster.apply_one(obj, live=None, known_live=True)
    figures["write_each"] = dict(ours=counted(kubesim, our_writes), kubernetes_core=counted(kubesim, client_apply))

    # Waiting for the Deployments (all Available already): one LIST of their namespace, against a GET each.
    def core_wait():
        resource = cluster.resource("apps/v1", "Deployment")
        waiter = get_waiter(cluster.k8s, resource)
        for obj in deployments:
            assert waiter.wait(timeout=30, sleep=1, name=obj["metadata"]["name"], namespace=NAMESPACE)[0]

    figures["wait"] = dict(ours=counted(kubesim, lambda: assert_ready(cluster.wait_ready(deployments, 30))),
                           kubernetes_core=counted(kubesim, core_wait))

    # Deleting, then deleting again what is gone (istio_apply state=absent reads a kind at a time first).
    figures["delete"] = dict(ours=counted(kubesim, lambda: cluster.delete_objects(in_namespace)))
    figures["delete_again"] = dict(ours=counted(kubesim, lambda: cluster.delete_objects(in_namespace)),
                                   istio_apply=counted(kubesim, lambda: ApplyRun(cluster, in_namespace).absent()))
    cluster.apply_objects(objects)
    figures["delete"]["kubernetes_core"] = counted(kubesim, lambda: core_k8s(svc, in_namespace, state="absent"))
    figures["delete_again"]["kubernetes_core"] = counted(
        kubesim, lambda: core_k8s(svc, in_namespace, state="absent"))
    record(figures)

    n, d = len(objects), len(deployments)
    assert figures["create"]["ours"] == dict(requests=3 + n, writes=n, GET=3, PATCH=n), figures["create"]
    assert figures["create"]["kubernetes_core"] == dict(requests=3 * n, writes=n, GET=2 * n, PATCH=n), figures
    assert figures["converged"]["ours"] == dict(requests=3, writes=0, GET=3), figures["converged"]
    assert figures["converged"]["kubernetes_core"] == dict(requests=3 * n, writes=n, GET=2 * n, PATCH=n), figures
    assert figures["write_each"] == dict(ours=dict(requests=n, writes=n, PATCH=n),
                                         kubernetes_core=dict(requests=2 * n, writes=n, GET=n, PATCH=n)), figures
    assert figures["wait"] == dict(ours=dict(requests=1, writes=0, GET=1),
                                   kubernetes_core=dict(requests=d, writes=0, GET=d)), figures["wait"]
    assert figures["delete"] == dict(ours=dict(requests=n, writes=n, DELETE=n),
                                     kubernetes_core=dict(requests=2 * n, writes=n, GET=n, DELETE=n)), figures
    # Gone already: our DELETE answers 404 (one request, as kubernetes.core's GET); istio_apply's LISTs send none.
    assert figures["delete_again"]["ours"]["requests"] == n == figures["delete_again"]["kubernetes_core"]["requests"]
    assert figures["delete_again"]["istio_apply"] == dict(requests=3, writes=0, GET=3), figures["delete_again"]


def assert_ready(not_ready):
    assert not_ready == [], not_ready


def test_check_mode_sends_every_write_as_a_server_dry_run(kubesim):
    """The client's dry run is kubernetes.core's (K8SClient.dry_run), for the module's cluster and another one."""
    objects = bookinfo()
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    kube.Cluster(DirectModule(kubesim)).apply_objects([namespace] + objects)
    changed = [dict(o, metadata=dict(o["metadata"], labels=dict(o["metadata"].get("labels") or {}, tier="x")))
               for o in objects]
    auth = dict(kubeconfig=kubesim.kubeconfig_path, context=kubesim.name)
    for cluster in (kube.Cluster(DirectModule(kubesim, check_mode=True)),
                    kube.Cluster(DirectModule(kubesim, check_mode=True), auth=auth)):
        assert cluster.k8s.dry_run
        kubesim.clear_request_log()
        report = cluster.apply_objects(changed)
        cluster.patch("v1", "Service", "details", NAMESPACE, {"metadata": {"labels": {"tier": "y"}}})
        cluster.delete_objects(objects)
        assert [r["action"] for r in report.results] == ["updated"] * len(objects)
        assert kubesim.writes() == []
        sent = [r for r in kubesim.request_log if r.method in ("PATCH", "DELETE")]
        assert len(sent) == 2 * len(objects) + 1 and all(r.dry_run for r in sent), sent
