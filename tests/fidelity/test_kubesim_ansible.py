"""kubernetes.core.k8s / k8s_info through real ansible-playbook runs against kubesim."""
import json

import yaml

OBJECTS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "demo"},
     "data": {"mode": "fast"}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"},
     "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
              "template": {"metadata": {"labels": {"app": "web"}},
                           "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "demo"},
     "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
]


def playbook(tmp_path, objects=OBJECTS, state="present"):
    k8s = {"kubeconfig": "{{ kubeconfig }}", "context": "{{ context }}", "state": state, "definition": objects}
    if state == "present":
        k8s["apply"] = True
    tasks = [{"name": "Apply the demo objects", "kubernetes.core.k8s": k8s, "register": "applied"}]
    if state == "present":
        tasks.append({"name": "Read the deployment", "kubernetes.core.k8s_info": {
            "kubeconfig": "{{ kubeconfig }}", "context": "{{ context }}", "kind": "Deployment",
            "namespace": "demo", "name": "web", "wait": True, "wait_timeout": 30,
            "wait_condition": {"type": "Available", "status": "True"}}, "register": "info"})
        tasks.append({"name": "Check what a user would see", "ansible.builtin.assert": {"that": [
            "ansible_check_mode or info.resources[0].status.availableReplicas == 2"]}})
    if state == "present" and not any(o["kind"] == "Deployment" for o in objects):
        tasks = tasks[:1]
    path = tmp_path / f"k8s-{state}.yml"
    path.write_text(yaml.safe_dump([{"name": "Drive kubesim with kubernetes.core", "hosts": "all",
                                     "gather_facts": False, "tasks": tasks}], sort_keys=False))
    return path


def test_apply_twice_then_check_mode_then_absent(kubesim, run_playbook, tmp_path):
    first = run_playbook(playbook(tmp_path), kubesim=kubesim)
    assert first.rc == 0, first
    assert first.changed == 1
    assert kubesim.get_object("apps/v1", "Deployment", "web", "demo")["status"]["availableReplicas"] == 2

    kubesim.clear_request_log()
    second = run_playbook(playbook(tmp_path), kubesim=kubesim)
    assert second.rc == 0, second
    assert second.changed == 0
    assert [r for r in kubesim.writes() if r.status < 400 and r.method != "PATCH"] == []
    rv_after = {o["metadata"]["name"]: o["metadata"]["resourceVersion"]
                for o in kubesim.list_objects("v1", "ConfigMap", "demo")}

    changed = json.loads(json.dumps(OBJECTS))
    changed[1]["data"]["mode"] = "slow"
    kubesim.clear_request_log()
    check = run_playbook(playbook(tmp_path, changed), kubesim=kubesim, check=True, diff=True)
    assert check.rc == 0, check
    assert check.changed == 1
    assert kubesim.writes() == []
    assert any(r.dry_run for r in kubesim.request_log)
    assert kubesim.get_object("v1", "ConfigMap", "settings", "demo")["data"] == {"mode": "fast"}
    assert {o["metadata"]["name"]: o["metadata"]["resourceVersion"]
            for o in kubesim.list_objects("v1", "ConfigMap", "demo")} == rv_after

    gone = run_playbook(playbook(tmp_path, OBJECTS[1:], state="absent"), kubesim=kubesim)
    assert gone.rc == 0, gone
    assert gone.changed == 1
    assert kubesim.get_object("apps/v1", "Deployment", "web", "demo") is None
    assert kubesim.list_objects("v1", "Pod", "demo") == []
    again = run_playbook(playbook(tmp_path, OBJECTS[1:], state="absent"), kubesim=kubesim)
    assert again.rc == 0 and again.changed == 0


def test_check_mode_on_an_empty_cluster_writes_nothing(kubesim, run_playbook, tmp_path):
    kubesim.create_objects(OBJECTS[:1])
    kubesim.clear_request_log()
    result = run_playbook(playbook(tmp_path, OBJECTS[1:2]), kubesim=kubesim, check=True)
    assert result.rc == 0, result
    assert result.changed == 1
    assert kubesim.writes() == []
    assert [(r.method, r.dry_run) for r in kubesim.request_log if r.method != "GET"] == [("POST", True)]
    assert kubesim.get_object("v1", "ConfigMap", "settings", "demo") is None


def test_wait_on_a_deployment_scaled_to_zero_and_a_statefulset(kubesim, run_playbook, tmp_path):
    objects = json.loads(json.dumps(OBJECTS[:3]))
    objects[2]["spec"]["replicas"] = 0
    sts = json.loads(json.dumps(OBJECTS[2]))
    sts["kind"] = "StatefulSet"
    sts["spec"]["serviceName"] = "web"
    objects.append(sts)
    path = tmp_path / "zero.yml"
    path.write_text(yaml.safe_dump([{"name": "Scale to zero", "hosts": "all", "gather_facts": False, "tasks": [{
        "name": "Apply and wait", "kubernetes.core.k8s": {
            "kubeconfig": "{{ kubeconfig }}", "context": "{{ context }}", "definition": objects[2:],
            "wait": True, "wait_timeout": 20}}]}]))
    kubesim.create_objects(objects[:1])
    result = run_playbook(path, kubesim=kubesim)
    assert result.rc == 0, result
    status = kubesim.get_object("apps/v1", "Deployment", "web", "demo")["status"]
    assert "replicas" not in status and status["observedGeneration"] == 1
