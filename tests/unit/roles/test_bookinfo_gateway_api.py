"""Bookinfo's Gateway API routing as the role renders it, equal to Istio's samples/bookinfo/gateway-api."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from app_render import load_reference

from tests.conftest import REPO, ansible_env, needs_reference

PART_OF = "app.kubernetes.io/part-of"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("gateway_api")
    variants = {"default": {}, "reviews_v3": {"bookinfo_routes": {"reviews": "v3"}, "bookinfo_namespace": "shop"}}
    tasks = []
    for name, extra in variants.items():
        tasks += [{"name": "Render %s" % name, "ansible.builtin.include_role": {
                      "name": "meshops.istio.bookinfo", "tasks_from": "render_gateway_api.yml"},
                   "vars": dict(extra, _bookinfo_gateway_api_missing=[])},
                  {"name": "Save %s" % name, "ansible.builtin.copy": {
                      "content": "{{ _bookinfo_routing | to_nice_json }}", "dest": str(out / ("%s.json" % name)),
                      "mode": "0644"}}]
    playbook = out / "render.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Render", "hosts": "localhost", "gather_facts": False,
                                         "tasks": tasks}], sort_keys=False))
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
                          capture_output=True, text=True, env=ansible_env(ANSIBLE_STDOUT_CALLBACK="default"),
                          cwd=REPO, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return dict((name, json.loads((out / ("%s.json" % name)).read_text())) for name in variants)


def plain(obj):
    """Without what the samples cannot have: our namespace and part-of label."""
    obj = json.loads(json.dumps(obj))
    obj["metadata"].pop("namespace")
    assert obj["metadata"].pop("labels") == {PART_OF: "bookinfo"}
    return obj


@needs_reference("the role's Gateway API objects against Istio's samples/bookinfo/gateway-api and bookinfo-versions.yaml")
def test_objects_equal_istios_gateway_api_samples(rendered):
    samples = (load_reference("istio", "samples", "bookinfo", "bookinfo-versions.yaml")
               + load_reference("istio", "samples", "bookinfo", "gateway-api", "bookinfo-gateway.yaml")
               + load_reference("istio", "samples", "bookinfo", "gateway-api", "route-all-v1.yaml"))
    ours = [plain(o) for o in rendered["default"]]
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    assert sorted(ours, key=key) == sorted(samples, key=key)
    # Apply order: every backend Service before the routes that name it.
    kinds = [o["kind"] for o in ours]
    assert kinds.index("HTTPRoute") > max(i for i, k in enumerate(kinds) if k == "Service")


@needs_reference("the role's reviews route against Istio's samples/bookinfo/gateway-api/route-reviews-v3.yaml")
def test_bookinfo_routes_pick_the_version(rendered):
    (reviews,) = [o for o in rendered["reviews_v3"] if o["kind"] == "HTTPRoute" and o["metadata"]["name"] == "reviews"]
    assert reviews["metadata"]["namespace"] == "shop"
    assert plain(reviews) == load_reference("istio", "samples", "bookinfo", "gateway-api", "route-reviews-v3.yaml")[0]
    assert [o["metadata"]["name"] for o in rendered["reviews_v3"] if o["kind"] == "HTTPRoute"] == ["bookinfo", "reviews"]
