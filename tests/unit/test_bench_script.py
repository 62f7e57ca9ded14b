"""scripts/bench.py (`make bench`): the floor rows, what they are built from, and the goals table read from the rows.
No timing is asserted: the figures are the bench's output, the tests check what it measures and how it reads them."""
import json
import subprocess

import pytest

from scripts import bench
from tests.conftest import REPO


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    made = bench.Bench(tmp_path_factory.mktemp("bench"), reps=1, latencies=[0], accelerators=[False])
    yield made.rows()
    made.close()


def test_the_rows_that_were_there_keep_their_order_and_the_floors_are_marked(rows):
    assert [r.key for r in rows if not r.floor] == [
        "10 istio_namespace tasks vs 10 `ansible.builtin.debug` tasks",
        "bookinfo.yml vs `kubectl apply --server-side` of the same objects",
        "bookinfo.yml vs naive playbook: one `kubernetes.core.k8s` task per object",
        "hashapp.yml vs `kubectl apply --server-side` of the same objects",
        "addons.yml vs `kubectl apply --server-side` of the same objects",
        "install.yml vs `kubectl apply --server-side` of the same objects",
        "5-step zero-wait release vs 5 `kubectl patch` of the VirtualService",
        "namespaces.yml on 4 clusters, forks 4 vs namespaces.yml on 1 cluster",
        "namespaces.yml on 10 clusters, forks 10 vs namespaces.yml on 1 cluster",
        "site.yml vs `kubectl apply --server-side` of the same objects",
    ]
    assert [r.key for r in rows if r.floor] == [
        "10 `ansible.builtin.ping` tasks vs 10 `ansible.builtin.debug` tasks",
        "10 istio_namespace tasks vs 10 `ansible.builtin.ping` tasks",
        "ansible-playbook of a play with 0 tasks vs `kubectl version --client`",
        "1 `kubernetes.core.k8s_info` task vs `kubectl get namespace`",
        "1 istio_namespace task (converged) vs 1 `kubernetes.core.k8s_info` task",
        "5 `ansible.builtin.ping` tasks on 10 clusters, forks 10 vs 5 `ansible.builtin.ping` tasks on 1 cluster",
    ]
    # Every floor runs right after the row it bounds, so a time budget that cuts a setting short keeps both.
    keys = [r.key for r in rows]
    assert keys.index("10 `ansible.builtin.ping` tasks vs 10 `ansible.builtin.debug` tasks") == 1
    assert keys.index("5 `ansible.builtin.ping` tasks on 10 clusters, forks 10 vs 5 `ansible.builtin.ping` tasks on "
                      "1 cluster") == keys.index("namespaces.yml on 10 clusters, forks 10 vs namespaces.yml on 1 cluster") + 1


def test_a_side_shared_by_two_rows_is_the_same_object_measured_once(rows):
    by_key = {r.key: r for r in rows}
    debug = by_key["10 istio_namespace tasks vs 10 `ansible.builtin.debug` tasks"]
    module_cost = by_key["10 istio_namespace tasks vs 10 `ansible.builtin.ping` tasks"]
    ping = by_key["10 `ansible.builtin.ping` tasks vs 10 `ansible.builtin.debug` tasks"]
    assert debug.a_side is module_cost.a_side and ping.a_side is module_cost.b_side and debug.b_side is ping.b_side
    calls = []

    class Counted(bench.Side):
        def run(self, bench_, latency, accelerated):
            calls.append((latency, accelerated))
            return {"seconds": 1.0, "requests": 2, "writes": 0}

    side, holder = Counted("counted", "counted"), debug.bench
    assert side.measure(holder, 0, False) == side.measure(holder, 0, False) == {
        "first run": {"seconds": 1.0, "requests": 2, "writes": 0}}
    side.measure(holder, 30, False)
    side.measure(holder, 0, True)
    assert calls == [(0, False), (30, False), (0, True)]


def test_the_forks_floor_starts_as_many_module_processes_per_cluster_as_namespaces_yml(rows):
    floor = next(r for r in rows if r.key.startswith("5 `ansible.builtin.ping` tasks on 10 clusters"))
    assert (floor.a_side.clusters, floor.b_side.clusters) == (10, 1)
    assert len(floor.a_side.tasks) == len(floor.b_side.tasks) == len(bench.NAMESPACES_FOR_SCALE)
    assert (floor.objects(), floor.b_objects()) == (10 * len(bench.NAMESPACES_FOR_SCALE), len(bench.NAMESPACES_FOR_SCALE))


def test_every_side_playbook_passes_ansible_playbook_syntax_check(rows):
    holder = rows[0].bench
    paths = [str(side.path(holder)) for side in holder.sides.values() if isinstance(side, bench.PlaybookSide)]
    assert len(paths) == 8
    # --syntax-check resolves every module name: a misspelt FQCN fails here, not an hour into `make bench`.
    proc = subprocess.run([str(bench.BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,", *paths],
                          capture_output=True, text=True, env=bench.tool_env(), cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_goal_reads_a_row_and_a_floor_row_the_bench_has(rows):
    keys = {r.key for r in rows}
    floors = {r.key for r in rows if r.floor}
    specs = bench.goal_specs()
    assert len(specs) == 9
    for spec in specs:
        assert spec["row"] in keys, spec["goal"]
        assert spec.get("floor") is None or spec["floor"] in floors, spec["goal"]
    assert sum(1 for spec in specs if "floor" in spec) == 4


def line(key, phase="first run", latency=0, mitogen=False, a=(1.0, 10, 0, 1.0), b=(1.0, 10, 0), floor=False):
    """One line of bench.table(): a = (median seconds, requests, writes, requests per object), b = (seconds, ...)."""
    row, against = key.split(" vs ", 1)
    return {"row": row, "against": against, "key": key, "floor": floor, "phase": phase, "latency_ms": latency,
            "mitogen": mitogen, "repetitions": 1, "objects": 1,
            "a": {"seconds": {"min": a[0], "median": a[0]}, "requests": a[1], "writes": a[2],
                  "requests_per_object": a[3], "changed": []},
            "b": {"seconds": {"min": b[0], "median": b[0]}, "requests": b[1], "writes": b[2], "requests_per_object": 1},
            "ratio": {"min": a[0] / b[0], "median": a[0] / b[0]}}


KUBECTL = "bookinfo.yml vs `kubectl apply --server-side` of the same objects"
NS10 = "10 istio_namespace tasks vs 10 `ansible.builtin.debug` tasks"
PING10 = "10 `ansible.builtin.ping` tasks vs 10 `ansible.builtin.debug` tasks"
ONE_TASK = "1 `kubernetes.core.k8s_info` task vs `kubectl get namespace`"


def test_goals_are_read_from_the_medians_with_the_floor_of_the_same_setting():
    lines = [
        line(KUBECTL, a=(5.0, 43, 25, 1.72), b=(0.5, 29, 25)),
        line(KUBECTL, phase="converged re-run", a=(4.0, 12, 0, 0.48), b=(0.4, 27, 25)),
        line(NS10, a=(6.0, 23, 10, 2.3), b=(0.6, 0, 0)),
        line(PING10, a=(3.0, 0, 0, 0), b=(0.6, 0, 0), floor=True),
        line(ONE_TASK, a=(2.0, 4, 0, 4), b=(0.2, 4, 0), floor=True),
        line(NS10, mitogen=True, a=(1.0, 23, 10, 2.3), b=(0.8, 0, 0)),
    ]
    found = {g["goal"]: g["measured"] for g in bench.goals(lines)}
    first = found["bookinfo.yml first run ≤ 3× kubectl (ansible-playbook start-up included)"]
    # The one-task floor: its ansible-playbook time over this row's kubectl time (2.0 / 0.5).
    assert first == {"0 ms": {"value": 10.0, "met": False, "floor": 4.0}}
    assert found["bookinfo.yml converged re-run ≤ 2× kubectl"] == {"0 ms": {"value": 10.0, "met": False, "floor": 5.0}}
    assert found["bookinfo.yml converged re-run: 0 writes, ≤ 1 request per object (discovery included)"] == {
        "0 ms": {"value": 0, "requests_per_object": 0.48, "met": True}}
    ns10 = found["10 istio_namespace tasks ≤ 2× 10 debug tasks"]
    # With Mitogen the floor row was not measured: the goal is read, its floor left out.
    assert ns10 == {"0 ms": {"value": 10.0, "met": False, "floor": 5.0},
                    "0 ms, Mitogen": {"value": 1.25, "met": True}}
    assert found["site.yml converged re-run: 0 writes"] == {}


def test_the_markdown_has_the_floors_and_goals_tables_and_keeps_floors_out_of_the_main_one():
    lines = [line(NS10, a=(6.0, 23, 10, 2.3), b=(0.6, 0, 0)), line(PING10, a=(3.0, 0, 0, 0), b=(0.6, 0, 0), floor=True)]
    machine = {"cores": 2, "load_before": "1", "load_after": "1", "date": "today", "python": "Python", "ansible": "core"}
    text = bench.markdown(lines, machine, 1.0, [])
    main, rest = text.split("## Floors")
    floors, goal_table = rest.split("## Goals and floors")
    assert "| 10 istio_namespace tasks | first run |" in main and "`ansible.builtin.ping`" not in main
    assert "| 10 `ansible.builtin.ping` tasks | first run | 0 ms | no | 1 | 3.00 / 3.00 s |" in floors
    assert ("| 10 istio_namespace tasks ≤ 2× 10 debug tasks | 10 `ansible.builtin.ping` tasks vs 10 "
            "`ansible.builtin.debug` tasks | 10.0×: not met (floor 5.0×, above the goal) |") in goal_table
    naive = next(spec for spec in bench.goal_specs() if "naive" in spec["row"])
    assert (bench.goal_cell(naive, {"value": 0.24, "met": False}), bench.goal_cell(naive, {"value": 0.16, "met": True})) == (
        "0.24×: not met", "0.16×: met")
    # Goals whose rows were not measured are left out, not shown empty.
    assert "site.yml" not in goal_table


def test_a_quick_run_of_the_start_up_floor_measures_it_on_kubesim(tmp_path):
    # A table written before, with notes under the mark: the table is replaced, the notes are kept.
    notes = bench.NOTES_MARK + "\n\n## Before / after\n\n| a | b |\n|---|---|\n"
    (tmp_path / "bench.md").write_text("# Benchmark\n\n| old table |\n\n" + notes)
    # The cheapest floor, really run: ansible-playbook of an empty play against `kubectl version --client`.
    assert bench.main(["--quick", "--mitogen", "off", "--rows", "ansible-playbook", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "bench.md").read_text()
    assert "| old table |" not in text and text.endswith("\n\n" + notes) and text.count(bench.NOTES_MARK) == 1
    written = json.loads((tmp_path / "bench.json").read_text())
    [measured] = written["rows"]
    assert (measured["key"], measured["floor"], measured["repetitions"]) == (
        "ansible-playbook of a play with 0 tasks vs `kubectl version --client`", True, 1)
    # An empty play sends nothing to the API server and writes nothing.
    assert (measured["a"]["requests"], measured["a"]["writes"], measured["b"]["writes"]) == (0, 0, 0)
    assert measured["a"]["seconds"]["min"] > 0 and measured["b"]["seconds"]["min"] > 0
    assert "## Floors" in (tmp_path / "bench.md").read_text()
    assert written["failed"] == [] and written["not_measured"] == []
