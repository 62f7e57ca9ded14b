"""`make demo-burst`: the codelab's multicloud burst (seed 004) on two simulated clusters, in about two minutes.

    python -m scripts.demo_burst                 start the clusters, build the mesh, ramp the load, show, stop
    python -m scripts.demo_burst --dir DIR       the same, working in DIR (default .tools/demo-burst)
    python -m scripts.demo_burst --driver NAME   what moves the worker traffic: rulebook (the default where
                                                 ansible-rulebook and Java are installed) or polling (the burst job)

Two kubesim clusters, with the contexts the codelab gives them (primary and burst) in one kubeconfig,
stand for its two GKE clusters. The inventory is the project's own inventories/multicluster/mesh.clusters.yml,
pointed at that kubeconfig; playbooks/multicluster.yml joins the clusters into one mesh and
playbooks/hashapp.yml deploys the hash app (everything on primary, a second worker on burst). meshsim then
sends the frontend's calls to the worker, following the worker VirtualService on primary, and a real
Prometheus scrapes it. The load goes 5 -> 20 -> 5 requests a second, a few seconds per step (the rate window
is 6s instead of the codelab's 15s so that the demo moves quickly), while the driver watches it and moves the
worker traffic to burst above 15 req/s and back below 10: the event-driven burst (ansible-rulebook with the
rulebook meshops.istio.burst, which runs playbooks/burst.yml on each crossing) or the polling burst job
(playbooks/burst.yml in watch mode). The script samples the VirtualService's weights as it goes, then prints
the driver's decision log, the weights over time and the reaction time, and stops every process it started,
also when interrupted (Ctrl-C, SIGTERM) or when a step fails. Nothing outside the clone is read.
"""

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from xml.etree import ElementTree

import yaml

from scripts import demo, eda
from sim.meshsim.codelab import VS, codelab_query, worker_versions

DEMO_DIR = demo.REPO / ".tools" / "demo-burst"
CODELAB_INVENTORY = demo.REPO / "inventories" / "multicluster" / "mesh.clusters.yml"
NAMESPACE = yaml.safe_load((demo.REPO / "roles" / "hashapp" / "defaults" / "main.yml").read_text())["hashapp_namespace"]
WINDOW = "6s"
# (requests a second, seconds): long enough for a 6s rate window and a check every CHECK_INTERVAL to act.
RAMP = ((5, 10), (20, 20), (5, 20))
CHECK_INTERVAL = 2
SUBSETS = tuple(worker_versions())
SAMPLE_INTERVAL = 2
# How much longer than RAMP the table goes on while the driver is still watching (it started before the ramp).
LINGER = 30
# The task of roles/burst whose result holds the istio_burst decisions.
CHECK_TASK = "Check the worker load and set the weights"
# Generous: meshsim and Prometheus answer slowly on a busy machine, and a slow answer is no failure here.
HTTP_TIMEOUT = 30


class PollingDriver:
    """The polling burst job: playbooks/burst.yml with burst_mode=watch, one check every CHECK_INTERVAL
    seconds for the length of the ramp (a run of the role burst and its module istio_burst)."""

    title = "the polling burst job (playbooks/burst.yml, burst_mode=watch)"

    def __init__(self, lab):
        self.lab = lab
        self.process = None
        self.output = lab.directory / "burst.json"

    def start(self, seconds):
        extra = {"burst_mode": "watch", "burst_interval": CHECK_INTERVAL, "burst_duration": seconds,
                 "burst_max_checks": int(seconds // CHECK_INTERVAL) + 1, "burst_window": WINDOW,
                 "burst_namespace": NAMESPACE, "burst_prometheus_url": self.lab.prometheus_url}
        # The JSON callback hands back the module's decisions whole; the watch prints nothing until it ends anyway.
        env = dict(self.lab.env, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
        with open(self.output, "w") as out, open(self.lab.directory / "burst.log", "w") as err:
            self.process = self.lab.start(demo.playbook_command("burst.yml", *self.lab.inventories)
                                          + ["-e", json.dumps(extra)], stdout=out, stderr=err, env=env)

    def busy(self):
        return self.process.poll() is None

    def finish(self):
        """The decisions of the watch, once it has ended: [{at, rate, action, burst_weight, reason, ...}]."""
        self.process.wait()
        try:
            report = json.loads(self.output.read_text())
        except ValueError:
            report = {}
        results = [result for play in report.get("plays", []) for task in play["tasks"]
                   if task["task"]["name"].endswith(CHECK_TASK)
                   for result in task["hosts"].values()]
        if self.process.returncode != 0 or len(results) != 1:
            failed = [result.get("msg") for play in report.get("plays", []) for task in play["tasks"]
                      for result in task["hosts"].values() if result.get("failed")]
            raise SystemExit(f"The burst job failed (exit {self.process.returncode}): {failed or 'no result'}; "
                             f"see {self.output} and {self.lab.directory / 'burst.log'}")
        return results[0]["decisions"]


class RulebookDriver:
    """The event-driven burst: ansible-rulebook with the rulebook meshops.istio.burst (through scripts/eda.py), which
    runs playbooks/burst.yml once each time the load crosses 15 req/s up or 10 down."""

    title = "the event-driven burst (ansible-rulebook -r meshops.istio.burst)"

    def __init__(self, lab):
        self.lab = lab
        self.rulebook = None
        self.until = None
        # ansible.builtin.junit writes one file per playbook run here, each task's result in it: the decisions.
        self.results = lab.directory / "rulebook-runs"
        self.inventory = lab.directory / "rulebook-inventory"

    def start(self, seconds):
        # ansible-rulebook copies one inventory (file or directory) for its playbooks: both of the demo's in one.
        shutil.rmtree(self.inventory, ignore_errors=True)
        shutil.copytree(demo.SIM_INVENTORY, self.inventory)
        shutil.copy(self.lab.inventories[-1], self.inventory)
        shutil.rmtree(self.results, ignore_errors=True)
        self.results.mkdir()
        # Only the check's results (and any failure) go in the reports, without the task's arguments (a bearer
        # token could be one).
        env = dict(self.lab.env, ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.junit", JUNIT_OUTPUT_DIR=str(self.results),
                   JUNIT_TEST_CASE_PREFIX=f"meshops.istio.burst : {CHECK_TASK}", JUNIT_HIDE_TASK_ARGUMENTS="true")
        # initial low: the mesh was just built on the primary, as the codelab's istiowatcher assumes.
        self.rulebook = eda.start_burst(self.lab.prometheus_url, self.inventory, namespace=NAMESPACE,
                                        poll_interval=1, window=WINDOW, initial="low",
                                        log_path=self.lab.directory / "rulebook.log", env=env)
        demo.remember(self.lab.directory, self.rulebook.proc.pid)
        self.until = time.monotonic() + seconds

    def busy(self):
        """Watching for the time asked, and longer while a playbook it started still runs (ansible-rulebook gives each
        run a private directory in its TMPDIR, removed when the run ends)."""
        return self.rulebook.running() and (time.monotonic() < self.until or any(self.rulebook.dir.glob("eda*")))

    def finish(self):
        """Stop ansible-rulebook (its Java runs in its process) and return the decisions of the playbook runs."""
        died = not self.rulebook.running()
        log = self.rulebook.log_path
        self.close()
        if died:
            raise SystemExit(f"ansible-rulebook stopped on its own (exit {self.rulebook.proc.returncode}); see {log}")
        try:
            return rulebook_decisions(self.results)
        except ValueError as error:
            raise SystemExit(f"{error}; see {log}") from None

    def close(self):
        if self.rulebook:
            self.rulebook.stop()


def rulebook_decisions(directory):
    """The istio_burst decisions of the playbook runs ansible-rulebook started, in the order they ran, from the
    ansible.builtin.junit reports in ``directory`` (one a run: burst-<unix time>.xml, the check's result as JSON)."""
    decisions = []
    for path in sorted(Path(directory).glob("*.xml"), key=lambda p: float(p.stem.rsplit("-", 1)[-1])):
        cases = list(ElementTree.parse(path).getroot().iter("testcase"))
        failed = [case.get("name") for case in cases if case.find("failure") is not None or case.find("error") is not None]
        if failed:
            raise ValueError(f"A burst playbook run failed ({path.name}): {', '.join(failed)}")
        checks = [case for case in cases if case.get("name", "").endswith(CHECK_TASK)]
        if len(checks) != 1:
            raise ValueError(f"A burst playbook run has {len(checks)} results of the task {CHECK_TASK!r} ({path.name})")
        decisions += json.loads(checks[0].findtext("system-out"))["decisions"]
    return decisions


# What can move the worker traffic while the load ramps: start(seconds) begins watching for about that long, busy()
# says whether it still does, finish() waits for the end and returns its decisions (the istio_burst module's).
DRIVERS = {"polling": PollingDriver, "rulebook": RulebookDriver}


def choose_driver(name=None):
    """(driver name, why): the one asked for, else the rulebook where ansible-rulebook can run, else polling."""
    if name:
        return name, "chosen with --driver"
    why = eda.unavailable()
    if why is None:
        return "rulebook", "ansible-rulebook and Java are installed"
    return "polling", why


class Lab:
    """Two simulated clusters in one mesh with the hash app, meshsim and Prometheus; everything it starts is in
    DIR/servers.pid, which `close` stops."""

    def __init__(self, directory):
        self.directory = Path(directory).resolve()
        self.env = dict(demo.tool_env(), **demo.demo_accelerator())
        self.inventories = (demo.SIM_INVENTORY, self.directory / "mesh.clusters.yml")
        self.started = []  # the process groups `close` stopped
        self.urls = []  # where the servers it started listen

    def start(self, command, **popen):
        """Start ``command`` in a process group of its own, remembered for `close`."""
        process = subprocess.Popen(command, cwd=demo.REPO, start_new_session=True, **popen)
        demo.remember(self.directory, process.pid)
        return process

    def play(self, playbook, **extra_vars):
        print(f"\n=== ansible-playbook playbooks/{playbook} ===", flush=True)
        play = self.start(demo.playbook_command(playbook, *self.inventories) + ["-e", json.dumps(extra_vars)],
                          env=self.env)
        if play.wait() != 0:
            raise SystemExit(f"playbooks/{playbook} failed (exit {play.returncode}); see its output above.")

    def open(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        demo.down(self.directory)
        charts = demo.build_charts(self.directory)
        inventory = yaml.safe_load(CODELAB_INVENTORY.read_text())
        contexts = [cluster["context"] for cluster in inventory["clusters"]]
        print(f"Starting the simulated clusters {' and '.join(contexts)} (kubesim) ...", flush=True)
        configs = [demo.start_kubesim(self.directory, context, self.directory / f"{context}.kubeconfig", context)
                   for context in contexts]
        self.kubeconfig = self.directory / "kubeconfig"
        merged = merge_kubeconfigs(configs)
        # Its tokens are the clusters' admin credentials: for this user only, as kubesim writes its own.
        demo.write_file(self.kubeconfig, yaml.safe_dump(merged, sort_keys=False), mode=0o600)
        self.urls += [cluster["cluster"]["server"] for cluster in merged["clusters"]]
        self.write_inventory(inventory)
        self.play("multicluster.yml", control_plane_charts=str(charts),
                  multicluster_root_dir=str(self.directory / "mesh-ca"),
                  # EC keys are made in an instant; the default RSA ones take seconds on a busy machine.
                  multicluster_ca_key_type="ec")
        self.play("hashapp.yml")
        (primary,) = [cluster for cluster in inventory["clusters"] if cluster["role"] == "primary"]
        (burst,) = [cluster for cluster in inventory["clusters"] if cluster["role"] != "primary"]
        self.context = primary["context"]
        mesh_port = demo.start_meshsim(self.directory, self.kubeconfig, self.context, "--cluster", primary["name"],
                                       "--service", f"worker-service:{NAMESPACE}:primary,burst",
                                       "--rate", str(RAMP[0][0]), "--source-workload", "frontend-deployment")
        self.mesh_url = f"http://127.0.0.1:{mesh_port}"
        self.urls.append(self.mesh_url)
        # The worker's two Deployments share a name and differ in their cluster-type label and cluster.
        post(self.mesh_url + "/control", [dict(service=f"{NAMESPACE}/worker-service", version=version, **spec)
                                          for version, spec in worker_versions(primary["name"], burst["name"]).items()])
        self.prometheus_url = f"http://127.0.0.1:{demo.start_prometheus(self.directory, mesh_port)}"
        self.urls.append(self.prometheus_url)
        return self

    def write_inventory(self, inventory):
        """The codelab's inventory, pointed at the simulated clusters' kubeconfig; the hash app's role per cluster."""
        inventory["kubeconfig"] = str(self.kubeconfig)
        for cluster in inventory["clusters"]:
            cluster["vars"] = {"hashapp_cluster_role": "primary" if cluster["role"] == "primary" else "burst",
                               "ansible_python_interpreter": sys.executable}
        demo.write_file(self.directory / "mesh.clusters.yml", yaml.safe_dump(inventory, sort_keys=False))

    def rate(self):
        """The frontend's requests a second to the worker, as the burst job's query sees them (None before data)."""
        query = urllib.parse.urlencode({"query": codelab_query(NAMESPACE, WINDOW)})
        with urllib.request.urlopen(f"{self.prometheus_url}/api/v1/query?{query}", timeout=HTTP_TIMEOUT) as answer:
            result = json.load(answer)["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def weights(self):
        """{subset: weight} of the worker VirtualService on the primary cluster."""
        vs = json.loads(subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), "--context", self.context, "-n", NAMESPACE, "get",
             "virtualservice", VS, "-o", "json"], capture_output=True, text=True, check=True, env=self.env).stdout)
        route = vs["spec"]["http"][0]["route"]
        # The burst job leaves a lone destination at 100% (it takes everything, as in Istio); show both subsets.
        weights = dict.fromkeys(SUBSETS, 0)
        weights.update({d["destination"]["subset"]: 100 if len(route) == 1 else d.get("weight", 0) for d in route})
        return weights

    def set_load(self, rate):
        post(self.mesh_url + "/control", {"service": f"{NAMESPACE}/worker-service", "rate": rate})

    def close(self, timeout=15):
        """Stop every process group started here and wait until they are gone (killed, past ``timeout``)."""
        self.started = demo_pids(self.directory)
        demo.down(self.directory)
        deadline = time.monotonic() + timeout
        while not all(map(gone, self.started)) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pgid in self.started:
            if not gone(pgid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)


def gone(pgid):
    """Whether no process of group ``pgid`` is left (reaping its leader, when it is a child of this one)."""
    try:
        os.waitpid(pgid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def demo_pids(directory):
    pid_file = Path(directory) / "servers.pid"
    return [int(pid) for pid in pid_file.read_text().split()] if pid_file.is_file() else []


def merge_kubeconfigs(paths):
    """One kubeconfig holding every cluster's context, as the codelab's after `kubectx primary=... burst=...`."""
    merged = {"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": [], "users": [], "contexts": []}
    for path in paths:
        config = yaml.safe_load(Path(path).read_text())
        for key in ("clusters", "users", "contexts"):
            merged[key] += config[key]
    merged["current-context"] = merged["contexts"][0]["name"]
    return merged


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as answer:
        return json.load(answer)


def wait_for_rate(lab, timeout=120):
    """Wait until Prometheus has the first rate of the worker calls (it starts scraping a few seconds after start)."""
    deadline = time.monotonic() + timeout
    while first_rate(lab) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"Prometheus has no rate of the worker calls after {timeout}s; "
                             f"see {lab.directory / 'prometheus.log'} and {lab.directory / 'meshsim.log'}")
        time.sleep(0.5)


def first_rate(lab):
    try:
        return lab.rate()
    except urllib.error.HTTPError as error:
        # Prometheus listens before it serves: 503 until its storage is open.
        if error.code == 503:
            return None
        raise


def ramp(lab, driver):
    """Drive the load through RAMP, printing and returning a sample of load, rate and weights every SAMPLE_INTERVAL;
    the last step lasts as long as the driver still watches (up to LINGER seconds more)."""
    begin = time.monotonic()
    print(f"\nThe load ramps from {time.strftime('%H:%M:%SZ', time.gmtime())} (UTC) on:", flush=True)
    print(f"{'time':>5}  {'load':>6}  {'measured':>8}  weights of {VS}", flush=True)
    samples, load = [], None
    while True:
        # Samples on a fixed grid of SAMPLE_INTERVAL; each sample's time says which step of RAMP the load is at.
        elapsed = time.monotonic() - begin
        step = step_at(elapsed)
        if step is None and not (driver.busy() and elapsed < sum(seconds for _load, seconds in RAMP) + LINGER):
            break
        wanted = RAMP[-1 if step is None else step][0]
        if wanted != load:
            load = wanted
            lab.set_load(load)
        rate, weights = lab.rate(), lab.weights()
        samples.append({"second": round(elapsed), "load": load, "rate": rate, "weights": weights})
        print(f"{round(elapsed):>4}s  {load:>4}/s  {'-' if rate is None else f'{rate:.1f}/s':>8}  "
              f"{weights_text(weights)}", flush=True)
        # The next point of the grid: a slow sample skips points instead of bunching the next ones.
        tick = int((time.monotonic() - begin) // SAMPLE_INTERVAL) + 1
        time.sleep(max(0.0, begin + tick * SAMPLE_INTERVAL - time.monotonic()))
    return samples


def step_at(elapsed):
    """The index of the RAMP step at ``elapsed`` seconds into the ramp, None past its end."""
    for step, (_load, seconds) in enumerate(RAMP):
        if elapsed < seconds:
            return step
        elapsed -= seconds
    return None


def weights_text(weights):
    return " / ".join(f"{subset} {weight}%" for subset, weight in weights.items())


def spans(samples):
    """Samples folded into (first second, last second, weights, loads) where the weights did not change."""
    out = []
    for sample in samples:
        if out and out[-1][2] == sample["weights"]:
            first, _last, weights, loads = out[-1]
            out[-1] = (first, sample["second"], weights, loads if sample["load"] in loads else [*loads, sample["load"]])
        else:
            out.append((sample["second"], sample["second"], sample["weights"], [sample["load"]]))
    return out


def report(driver, decisions, samples):
    print(f"\n=== Decision log of {driver.title}, times in UTC ===")
    for first, last, count, d in fold_stays(decisions):
        rates = [x["rate"] for x in decisions[first:last + 1] if x["rate"] is not None]
        at, action, rate = d["at"][11:19], d["action"], "no data"
        if rates:
            low, high = f"{min(rates):.2f}", f"{max(rates):.2f}"
            rate = f"{low} req/s" if low == high else f"{low}-{high} req/s"
        if count > 1:
            at, action = f"{at}-{decisions[last]['at'][11:19]}", f"stay x{count}"
        print(f"{at:<17}  {action:<8} {rate:>17}  burst {d['burst_weight']:>3}%  {d['reason'].split(': ', 1)[-1]}")
    print(f"\n=== Weights of {VS} over time ===")
    for first, last, weights, loads in spans(samples):
        print(f"{first:>4}s - {last:>3}s  {weights_text(weights):<28}  load {' -> '.join(f'{x}/s' for x in loads)}")


def fold_stays(decisions):
    """(first index, last index, count, first decision) of each decision, with runs of "stay" folded into one."""
    out = []
    for i, d in enumerate(decisions):
        if out and d["action"] == "stay" and decisions[out[-1][0]]["action"] == "stay":
            first, _last, count, head = out[-1]
            out[-1] = (first, i, count + 1, head)
        else:
            out.append((i, i, 1, d))
    return out


def outcome(samples):
    """Whether the worker traffic went to the burst cluster and came back, with what to say about it."""
    went = next((i for i, s in enumerate(samples) if s["weights"].get("burst") == 100), None)
    if went is None:
        return False, "The worker traffic never moved to burst: see the measured load and the decisions above."
    if samples[-1]["weights"].get("primary") != 100:
        return False, "The worker traffic did not come back to primary before the ramp ended."
    return True, "The worker traffic went to the burst cluster under load and came back when the load dropped."


def reaction(lab, decisions, since, high=15):
    """Seconds from the load crossing ``high`` req/s (Prometheus's rate, 0.1 s steps, from ``since``, a Unix time)
    to the decision that sent the worker traffic to burst, as [shortest, longest]: istio_burst gives the decision's
    time in whole seconds (cut, not rounded), so the decision came within the second after it. None without either."""
    enter = next((d for d in decisions if d["action"] == "enter"), None)
    if enter is None:
        return None
    entered = datetime.datetime.fromisoformat(enter["at"].replace("Z", "+00:00")).timestamp()
    query = urllib.parse.urlencode({"query": codelab_query(NAMESPACE, WINDOW), "start": since, "end": entered + 1,
                                    "step": "0.1"})
    with urllib.request.urlopen(f"{lab.prometheus_url}/api/v1/query_range?{query}", timeout=HTTP_TIMEOUT) as answer:
        result = json.load(answer)["data"]["result"]
    crossed = next((float(t) for t, value in (result[0]["values"] if result else []) if float(value) > high), None)
    return None if crossed is None else [round(max(0.0, entered - crossed), 1), round(entered + 1 - crossed, 1)]


def run(directory, driver_name, why):
    lab = Lab(directory)
    driver = None
    summary = {"driver": driver_name, "decisions": [], "samples": [], "ok": False}
    try:
        lab.open()
        driver = DRIVERS[driver_name](lab)
        print(f"\nDriver: {driver_name} ({why}).", flush=True)
        # The driver starts while Prometheus takes its first samples: its own start (Ansible's) takes as long.
        seconds = sum(step for _load, step in RAMP)
        print(f"\n=== {driver.title[0].upper()}{driver.title[1:]} watches the load for {seconds}s ===", flush=True)
        driver.start(seconds)
        wait_for_rate(lab)
        began = time.time()
        summary["samples"] = ramp(lab, driver)
        summary["decisions"] = driver.finish()
        report(driver, summary["decisions"], summary["samples"])
        summary["reaction_seconds"] = reaction(lab, summary["decisions"], began)
        if summary["reaction_seconds"] is not None:
            print("\nReaction: {}-{}s from the measured load crossing 15 req/s to the decision moving the weights to "
                  "burst (the decision's time has whole seconds).".format(*summary["reaction_seconds"]))
        summary["ok"], message = outcome(summary["samples"])
        print(f"\n{message}")
        return 0 if summary["ok"] else 1
    finally:
        # A second Ctrl-C must not cut the cleanup short (it takes a few seconds at most).
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        lab.close()
        if isinstance(driver, RulebookDriver):
            # Its process group is gone with the others; what is left is its private directory.
            driver.close()
        summary.update(started=lab.started, urls=lab.urls)
        demo.write_file(lab.directory / "summary.json", json.dumps(summary, indent=2))
        print(f"Stopped everything the demo started ({len(lab.started)} process groups); its logs are in {lab.directory}.")


def interrupted(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=str(DEMO_DIR), help="where the demo keeps its files (default %(default)s)")
    parser.add_argument("--driver", choices=sorted(DRIVERS),
                        help="what moves the worker traffic (default: rulebook where ansible-rulebook and Java are "
                             "installed, else polling)")
    args = parser.parse_args(argv)
    # SIGTERM stops the demo the way Ctrl-C does: through the cleanup in run().
    signal.signal(signal.SIGTERM, interrupted)
    try:
        return run(args.dir, *choose_driver(args.driver))
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except (OSError, subprocess.CalledProcessError) as error:
        # meshsim, Prometheus or kubesim stopped answering: say which, not a traceback.
        detail = error.stderr if isinstance(error, subprocess.CalledProcessError) else error
        print(f"\nThe demo stopped: {detail}. The servers' logs are in {args.dir}.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
