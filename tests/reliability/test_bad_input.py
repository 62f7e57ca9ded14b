"""The standing bad-input campaign (issue 10): every row of bad_inputs.py, and every broken inventory,
must fail with a message that contains its words and without a single write request to the cluster
(POST/PUT/PATCH/DELETE, dry runs included; access reviews, which store nothing, aside).

Modules are run through module_runner (the real module files, one forked process per call), roles
through one ansible-playbook run that includes each role with the row's variables in a
block/rescue; one kubesim serves the whole campaign and its request log is checked per row.
The counts go to tests/output/bad_input.json and to the "Bad input" section of docs/reliability.md.
"""
import base64
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from ansible_collections.meshops.istio.plugins.module_utils import multicluster as mc
from tests.conftest import COLLECTIONS, OUTPUT, REPO, ansible_env
from tests.reliability import bad_inputs
from sim.meshsim import bookinfo
from tests.unit.plugins.inventory import test_clusters as inventory_tests

REPORT = REPO / "docs" / "reliability.md"
SECTION = "## Bad input"
# Requests that store nothing although they are POSTs.
_REVIEWS = ("/selfsubjectaccessreviews", "/subjectaccessreviews", "/tokenreviews", "/selfsubjectrulesreviews")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SECRET_TOKEN = "campaign-wrong-token-value-never-shown"
# Every credential of the campaign; none may appear in a message (Context adds kubesim's tokens).
SECRETS = [SECRET_TOKEN]


def write_requests(records):
    """Every request that asks to change state, dry run or not."""
    return [r for r in records if r.method in WRITE_METHODS and not r.path.endswith(_REVIEWS)]


class Runner:
    """module_runner.py in a child process: call(module, args) -> reply dict."""

    def __init__(self, env):
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("module_runner.py"))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
        assert json.loads(self.proc.stdout.readline()) == {"ready": True}

    def call(self, module, args):
        self.proc.stdin.write(json.dumps({"module": module, "args": args}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Context:
    """The campaign's cluster and files that rows point at."""

    def __init__(self, sim, directory):
        self.sim = sim
        self.dir = directory
        self.kubeconfig = str(sim.kubeconfig_path)
        self.missing = str(directory / "missing.kubeconfig")
        self.malformed = self.write("malformed.kubeconfig", "apiVersion: v1\nclusters: [{name: x, cluster: {server: \n")
        expired = sim.issue_token("system:serviceaccount:default:campaign", 3600, sim.new_uid())
        sim.expire_token(expired)
        SECRETS[:] = [SECRET_TOKEN, expired, sim.admin_token]
        self.expired = self.kubeconfig_with("expired", token=expired)
        self.wrong_token = self.kubeconfig_with("wrong-token", token=SECRET_TOKEN)
        other_ca, _key = mc.new_root_ca(common_name="Not kubesim's CA", key_type="ec", key_size=256)
        self.wrong_ca = self.kubeconfig_with("wrong-ca", ca=other_ca)
        self.unreachable = self.kubeconfig_with("unreachable", server="https://127.0.0.1:1")
        self.prometheus_url = "http://127.0.0.1:9"
        self.ca_dir = str(directory / "ca")
        os.makedirs(self.ca_dir, exist_ok=True)
        self.bad_values = self.write("bad-values.yml", "global:\n  hub: [unclosed\n  tag: 1.28.0\n")

    def write(self, name, text):
        path = self.dir / name
        path.write_text(text)
        return str(path)

    def kubeconfig_with(self, name, token=None, ca=None, server=None):
        config = self.sim.kubeconfig(name)
        if token:
            config["users"][0]["user"]["token"] = token
        if ca:
            config["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(ca.encode()).decode()
        if server:
            config["clusters"][0]["cluster"]["server"] = server
        return self.write(name + ".kubeconfig", yaml.safe_dump(config))


def seed(sim):
    bookinfo.seed(sim, "bookinfo", virtual_services=["virtual-service-all-v1.yaml"])
    api = "networking.istio.io/v1"
    sim.create_objects([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "worker-service", "namespace": "default"},
         "spec": {"selector": {"app": "worker"}, "ports": [{"name": "http", "port": 80}]}},
        {"apiVersion": api, "kind": "DestinationRule", "metadata": {"name": "worker-destination-rule",
                                                                    "namespace": "default"},
         "spec": {"host": "worker-service", "subsets": [{"name": "primary", "labels": {"cluster-type": "primary"}},
                                                        {"name": "burst", "labels": {"cluster-type": "burst"}}]}},
        {"apiVersion": api, "kind": "VirtualService", "metadata": {"name": "worker-virtual-service",
                                                                   "namespace": "default"},
         "spec": {"hosts": ["worker-service"], "http": [{"route": [
             {"destination": {"host": "worker-service", "subset": "primary"}, "weight": 100}]}]}},
    ])


@pytest.fixture(scope="module")
def campaign(kubesim_istio_module, tmp_path_factory):
    sim = kubesim_istio_module
    seed(sim)
    directory = tmp_path_factory.mktemp("campaign")
    ctx = Context(sim, directory)
    tmp = directory / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in ansible_env().items() if not k.startswith("K8S_AUTH_")}
    env.update(PYTHONPATH=str(COLLECTIONS), TMPDIR=str(tmp))
    runner = Runner(env)
    yield ctx, runner
    runner.close()


def judge(row, message, failed, records, traceback=False):
    """The verdict of one row: a dict the report counts."""
    message = str(message or "")
    writes = write_requests(records)
    missing = [w for w in row.words if w.lower() not in message.lower()]
    return dict(id=row.id, target=row.target, failed=bool(failed), message=message, missing_words=missing,
                write_requests=["%s %s%s" % (r.method, r.path, " (dry run)" if r.dry_run else "") for r in writes],
                traceback=traceback, secret_shown=any(secret in message for secret in SECRETS),
                clear=bool(failed) and not missing and not traceback)


def run_module_row(ctx, runner, row):
    before = len(ctx.sim.request_log)
    reply = runner.call(row.target, {k: v for k, v in row.args.items() if v is not None})
    records = ctx.sim.request_log[before:]
    result = reply["result"] or {}
    message = result.get("msg") or reply["stderr"][-2000:] or reply["stdout"][-2000:]
    traceback = "Traceback (most recent call last)" in (reply["stdout"] + reply["stderr"]) or reply["rc"] == 99
    return judge(row, message, reply["rc"] != 0 or result.get("failed"), records, traceback)


def role_playbook(rows, ctx, results_path):
    tasks = [{"name": "Start the record", "ansible.builtin.set_fact": {"campaign_rows": []}}]
    for row in rows:
        role = row.target.split(":", 1)[1]
        tasks.append({
            "name": "Row %s" % row.id,
            "block": [
                {"name": "Note when %s starts" % row.id, "ansible.builtin.set_fact": {
                    "campaign_start": "{{ now().timestamp() }}"}},
                {"name": "Run %s with %s's bad input" % (role, row.id), "ansible.builtin.include_role": {
                    "name": "meshops.istio." + role}, "vars": row.args},
                {"name": "Record that %s passed" % row.id, "ansible.builtin.set_fact": {"campaign_rows": (
                    "{{ campaign_rows + [{'id': '%s', 'failed': false, 'msg': '', 'start': campaign_start | float,"
                    " 'end': now().timestamp()}] }}" % row.id)}},
            ],
            "rescue": [
                {"name": "Record how %s failed" % row.id, "ansible.builtin.set_fact": {"campaign_rows": (
                    "{{ campaign_rows + [{'id': '%s', 'failed': true, 'msg': ansible_failed_result.msg"
                    " | default(ansible_failed_result | string), 'task': ansible_failed_task.name | default(''),"
                    " 'start': campaign_start | float, 'end': now().timestamp()}] }}" % row.id)}},
            ],
        })
    tasks.append({"name": "Write the record", "ansible.builtin.copy": {
        "content": "{{ campaign_rows | to_json }}", "dest": str(results_path), "mode": "0600"}})
    return [{"name": "Bad input to every role", "hosts": "localhost", "gather_facts": False,
             "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
             "module_defaults": {"group/meshops.istio.istio": {"kubeconfig": ctx.kubeconfig}},
             "tasks": tasks}]


def run_role_rows(ctx, rows):
    playbook = ctx.dir / "roles-campaign.yml"
    results_path = ctx.dir / "roles-campaign.json"
    playbook.write_text(yaml.safe_dump(role_playbook(rows, ctx, results_path), sort_keys=False))
    tmp = ctx.dir / "tmp"
    started = len(ctx.sim.request_log)
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(playbook)],
                          capture_output=True, text=True, cwd=REPO, timeout=600, check=False,
                          env=ansible_env(ANSIBLE_STDOUT_CALLBACK="default", TMPDIR=str(tmp)))
    assert results_path.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    records = ctx.sim.request_log[started:]
    by_id = {r["id"]: r for r in json.loads(results_path.read_text())}
    verdicts = []
    for row in rows:
        got = by_id.get(row.id)
        if got is None:
            verdicts.append(judge(row, "the row did not run", False, []))
            continue
        window = [r for r in records if got["start"] <= r.time <= got["end"]]
        traceback = "Traceback (most recent call last)" in got["msg"]
        verdicts.append(judge(row, got["msg"], got["failed"], window, traceback))
    # Requests outside every row's window (between rows) count too: they are writes nobody vouched for.
    stray = write_requests([r for r in records if not any(
        by_id[v["id"]]["start"] <= r.time <= by_id[v["id"]]["end"] for v in verdicts if v["id"] in by_id)])
    return verdicts, stray


def inventory_rows(ctx):
    """The broken inventories of the unit tests, plus more, parsed as ansible does."""
    two = inventory_tests.kubeconfig(ctx.dir / "two.kubeconfig", {"primary": ctx.sim.url, "burst": ctx.sim.url},
                                     current="primary")
    rows = []
    for index, (config, message) in enumerate(inventory_tests.BROKEN_INVENTORIES, 1):
        rows.append(bad_inputs.Row("Y%02d" % index, "inventory", dict({"kubeconfig": two}, **config),
                                   [message.format(tmp=ctx.dir, two=two)]))
    not_kubeconfig = ctx.write("list.kubeconfig", "- just\n- a list\n")
    no_current = inventory_tests.kubeconfig(ctx.dir / "nocurrent.kubeconfig", {"a": ctx.sim.url})
    extra = [
        ({"kubeconfig": no_current, "contexts": "current"}, ["has no current-context"]),
        ({"kubeconfig": not_kubeconfig, "clusters": [{"name": "a"}]}, ["cannot be read as a kubeconfig"]),
        ({"kubeconfig": ctx.malformed, "clusters": [{"name": "a"}]}, ["malformed.kubeconfig"]),
        ({"kubeconfig": two, "clusters": [{"name": "a", "context": "primary", "network": "net/1"}]},
         ["network 'net/1' is not valid"]),
        ({"kubeconfig": two, "clusters": [{"name": "c" * 64, "context": "primary"}]}, ["is not valid"]),
        ({"kubeconfig": two, "clusters": [{"name": "a", "context": "primary", "api_server": "ftp://10.0.0.1"}]},
         ["api_server 'ftp://10.0.0.1'"]),
        ({"kubeconfig": two, "clusters": [{"name": "", "context": "primary"}]}, ["name"]),
        ({"kubeconfig": two, "clusters": "primary"}, ["clusters"]),
    ]
    first = len(rows) + 1
    for index, (config, words) in enumerate(extra, first):
        rows.append(bad_inputs.Row("Y%02d" % index, "inventory", config, words))
    return rows


def run_inventory_row(ctx, row):
    before = len(ctx.sim.request_log)
    try:
        inventory_tests.parse(ctx.dir, row.args, name="%s.clusters.yml" % row.id)
        failed, message = False, "parsed without error"
    except Exception as e:  # AnsibleParserError is the expected one; anything else is reported as is
        failed, message = True, "%s: %s" % (type(e).__name__, e)
    traceback = not message.startswith("AnsibleParserError")
    return judge(row, message, failed, ctx.sim.request_log[before:], traceback and failed)


def write_report(verdicts, stray):
    total = len(verdicts)
    clear = sum(v["clear"] for v in verdicts)
    writes = sum(len(v["write_requests"]) for v in verdicts) + len(stray)
    by_target = Counter(v["target"] if not v["target"].startswith("role:") else "roles" for v in verdicts)
    counts = dict(inputs_tried=total, clear_errors=clear, write_requests_on_bad_input=writes,
                  rows_with_writes=[v["id"] for v in verdicts if v["write_requests"]],
                  unclear=[v["id"] for v in verdicts if not v["clear"]],
                  tracebacks=sum(v["traceback"] for v in verdicts),
                  secrets_shown=sum(v["secret_shown"] for v in verdicts),
                  by_target=dict(sorted(by_target.items())))
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "bad_input.json").write_text(json.dumps(dict(counts, rows=verdicts, stray_writes=[
        "%s %s" % (r.method, r.path) for r in stray]), indent=1))
    lines = [
        SECTION, "",
        "Generated by `tests/reliability/test_bad_input.py` (the table is `tests/reliability/bad_inputs.py`). Each "
        "bad input is sent to a module (the real module file, through `tests/reliability/module_runner.py`), to a "
        "role (one `ansible-playbook` run, each role included with the row's variables), or to the clusters "
        "inventory plugin; it must fail with a message containing the row's words, and kubesim's request log must "
        "show no write request (POST, PUT, PATCH or DELETE, dry runs included) while it runs.", "",
        "| count | value |", "|---|---|",
        "| inputs tried | %d |" % total,
        "| clear errors (failed, message has the row's words, no traceback) | %d |" % clear,
        "| write requests on bad input (must be 0) | %d |" % writes,
        "| tracebacks | %d |" % counts["tracebacks"],
        "| secrets in messages | %d |" % counts["secrets_shown"], "",
        "| target | inputs |", "|---|---|",
    ] + ["| %s | %d |" % kv for kv in sorted(by_target.items())] + [""]
    text = REPORT.read_text() if REPORT.exists() else "# Reliability\n\n%s\n\n## Faults\n\n" % SECTION
    pattern = re.compile(r"^%s\n.*?(?=^## |\Z)" % re.escape(SECTION), re.S | re.M)
    section = "\n".join(lines) + "\n"
    text = pattern.sub(lambda _m: section, text, count=1) if pattern.search(text) else text + "\n" + section
    REPORT.write_text(text)
    return counts


def test_bad_input_campaign(campaign):
    ctx, runner = campaign
    started = len(ctx.sim.request_log)
    rows = bad_inputs.module_rows(ctx)
    verdicts = [run_module_row(ctx, runner, row) for row in rows]
    verdicts += [run_inventory_row(ctx, row) for row in inventory_rows(ctx)]
    role_verdicts, stray = run_role_rows(ctx, bad_inputs.role_rows(ctx))
    verdicts += role_verdicts
    ids = [v["id"] for v in verdicts]
    assert len(ids) == len(set(ids)), "row ids are unique"
    counts = write_report(verdicts, stray)
    all_writes = write_requests(ctx.sim.request_log[started:])

    assert counts["inputs_tried"] >= 100
    assert all_writes == [], "write requests on bad input: %s" % [
        (v["id"], v["write_requests"]) for v in verdicts if v["write_requests"]]
    assert counts["write_requests_on_bad_input"] == 0
    assert counts["secrets_shown"] == 0
    unclear = [(v["id"], v["message"][:300], v["missing_words"], v["failed"]) for v in verdicts if not v["clear"]]
    assert unclear == [], "\n".join(map(str, unclear))

    # What the rows of issue 10's defects would have left behind before the fixes.
    assert ctx.sim.get_object("v1", "Namespace", "campaign-good") is None
    assert ctx.sim.get_object("v1", "ServiceAccount", "istio-reader-service-account", "istio-system") is None
    assert ctx.sim.get_object("v1", "Namespace", "campaign-role-good") is None


def test_the_campaign_sees_a_write(campaign):
    """The judge is not blind: a good input run as a row is reported with its write and as unclear."""
    ctx, runner = campaign
    row = bad_inputs.Row("G01", "istio_namespace", {"kubeconfig": ctx.kubeconfig, "name": ["campaign-written"]},
                         ["anything"])
    verdict = run_module_row(ctx, runner, row)
    assert verdict["write_requests"] and not verdict["failed"] and not verdict["clear"]
    assert ctx.sim.get_object("v1", "Namespace", "campaign-written") is not None


def test_an_re2_only_regex_is_accepted(campaign):
    """RE2 decides, not Python's re: \\pL (a Unicode letter) is RE2 syntax that re refuses."""
    ctx, runner = campaign
    regex = r"^\pL+$"
    with pytest.raises(re.error):
        re.compile(regex)
    reply = runner.call("istio_traffic", traffic_args(ctx, regex))
    assert reply["rc"] == 0, reply
    vs = ctx.sim.get_object("networking.istio.io/v1", "VirtualService", "reviews", "bookinfo")
    assert vs["spec"]["http"][0]["match"] == [{"headers": {"end-user": {"regex": regex}}}]


def traffic_args(ctx, regex):
    return bad_inputs.traffic(ctx, subsets={"v1": 100}, match=bad_inputs.header(regex))


def test_loop_failure_names_the_item_and_the_reason(kubesim, run_playbook):
    """mesh_namespace loops over istio_namespace: a failed item is named with its reason, not only
    "One or more items failed" (issue 10, defect 4)."""
    kubesim.inject_fault(path=r"^/api/v1/namespaces/loop-b$", status=403, times=None,
                         message='namespaces "loop-b" is forbidden: the campaign says no')
    run = run_playbook("namespaces.yml", kubesim, extra_vars={"mesh_namespace_list": [
        {"name": "loop-a"}, {"name": "loop-b"}, {"name": "loop-c"}]})
    assert run.rc != 0, run
    (message,) = [m for m in run.failed_msgs if m.startswith("Namespace loop-b:")]
    assert "forbidden" in message and "loop-a" not in message and "loop-c" not in message
    assert kubesim.get_object("v1", "Namespace", "loop-a") is not None
