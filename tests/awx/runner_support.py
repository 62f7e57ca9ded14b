"""Jobs run the way AWX runs them: ansible-runner with a private data dir that holds the project checkout, the
collections a project sync installed, the inventory an inventory update produced (as the script AWX writes),
the extra vars of the survey answers, and the credential injected into the environment:

- token: AWX's "OpenShift or Kubernetes API Bearer Token" credential - K8S_AUTH_HOST, K8S_AUTH_API_KEY,
  K8S_AUTH_VERIFY_SSL and K8S_AUTH_SSL_CA_CERT (a file AWX writes into the private data dir's env/);
- kubeconfig: the kubeconfig credential type of awx/configure.yml - K8S_AUTH_KUBECONFIG (a file, likewise).
No kubeconfig is found anywhere else (KUBECONFIG points nowhere, HOME is empty)."""
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import ansible_runner

from tests.awx.awx_support import TEMPLATES, extravars
from tests.conftest import REPO

BIN = Path(sys.executable).parent
INVENTORY_SOURCE = "inventories/local/local.clusters.yml"


def write_secret(directory, name, text):
    """A credential file as AWX writes it: in the private data dir's env/, readable by the owner only."""
    path = Path(directory) / name
    path.write_text(text)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return str(path)


def credential_env(sim, kind, env_dir):
    if kind == "token":
        return {"K8S_AUTH_HOST": sim.url, "K8S_AUTH_API_KEY": sim.admin_token, "K8S_AUTH_VERIFY_SSL": "True",
                "K8S_AUTH_SSL_CA_CERT": write_secret(env_dir, "ssl_ca_cert", sim.ca_pem)}
    if kind == "kubeconfig":
        kubeconfig = Path(sim.kubeconfig_path).read_text()
        return {"K8S_AUTH_KUBECONFIG": write_secret(env_dir, "kubeconfig", kubeconfig)}
    raise ValueError(kind)


class Job:
    """One finished job: its status, events, stats and set_stats artifacts."""

    def __init__(self, runner):
        self.status = runner.status
        self.rc = runner.rc
        self.events = list(runner.events)
        self.stdout = runner.stdout.read()
        (stats,) = [e for e in self.events if e.get("event") == "playbook_on_stats"]
        self.stats = stats["event_data"]
        # What AWX keeps as the job's artifacts and hands to the next workflow node as extra vars.
        self.artifacts = self.stats.get("artifact_data", {})

    @property
    def changed(self):
        return sum(self.stats.get("changed", {}).values())

    @property
    def failures(self):
        return sum(self.stats.get(k, {}).get(h, 0) for k in ("failures", "dark") for h in self.stats.get(k, {}))

    def changed_tasks(self):
        return [e["event_data"]["task"] for e in self.events
                if e.get("event") == "runner_on_ok" and e["event_data"]["res"].get("changed")]

    def failed_msgs(self):
        return [e["event_data"]["res"].get("msg") for e in self.events if e.get("event") == "runner_on_failed"]

    def __repr__(self):
        return "Job(status=%s, rc=%s, failed=%s, tail=%r)" % (
            self.status, self.rc, self.failed_msgs(), self.stdout[-3000:])


class AWX:
    """Launches the job templates of awx/job_templates.yml against one cluster."""

    def __init__(self, root, collections, sim):
        self.root = Path(root)
        self.collections = Path(collections)
        self.sim = sim
        self.count = 0
        # A project checkout: what AWX's project sync copies into each job.
        self.project = self.root / "project"
        for folder in ("playbooks", "inventories", "collections"):
            shutil.copytree(REPO / folder, self.project / folder)
        self.inventories = {}
        # (template, credential, seconds) of every job, in order.
        self.log = []

    def base_env(self, kind, env_dir):
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        tmp = self.root / "tmp"
        tmp.mkdir(exist_ok=True)
        env = {
            "PATH": "%s:%s:/usr/bin:/bin" % (REPO / ".tools" / "bin", BIN),
            "HOME": str(home), "KUBECONFIG": str(self.root / "no-such-kubeconfig"), "TMPDIR": str(tmp),
            # Only the collections the project sync installed (and the ansible package's, as in an EE).
            "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
            "ANSIBLE_LOCALHOST_WARNING": "False",
        }
        env.update(credential_env(self.sim, kind, env_dir))
        return env

    def inventory(self, kind):
        """The hosts an inventory update of the clusters plugin source gives, with the same credential."""
        if kind not in self.inventories:
            env_dir = self.root / ("inventory-update-" + kind)
            env_dir.mkdir()
            proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", INVENTORY_SOURCE, "--list", "--export"],
                                  capture_output=True, text=True, cwd=self.project, check=False,
                                  env=dict(os.environ, **self.base_env(kind, env_dir)))
            assert proc.returncode == 0, proc.stderr
            self.inventories[kind] = json.loads(proc.stdout)
            assert list(self.inventories[kind]["_meta"]["hostvars"]) == ["local"], proc.stderr
        return self.inventories[kind]

    def launch(self, template_id, credential="token", answers=None, extra_vars=None):
        """Run the template's playbook with its survey's defaults and ``answers``, and ``extra_vars`` (the
        template's extra-vars prompt)."""
        self.count += 1
        pdd = self.root / ("job-%02d-%s-%s" % (self.count, template_id, credential))
        (pdd / "env").mkdir(parents=True)
        os.symlink(self.project, pdd / "project")
        script = pdd / "inventory" / "hosts"
        script.parent.mkdir()
        script.write_text("#!%s\nimport sys\nsys.stdout.write(%r)\n" % (
            sys.executable, json.dumps(self.inventory(credential))))
        script.chmod(0o700)
        variables = extravars(template_id, **(answers or {}))
        variables.update(extra_vars or {})
        variables.update(awx_job_id=self.count, awx_job_template_name=TEMPLATES[template_id]["name"])
        start = time.monotonic()
        runner = ansible_runner.run(private_data_dir=str(pdd), playbook=TEMPLATES[template_id]["playbook"],
                                    inventory=str(script), extravars=variables, quiet=True,
                                    envvars=self.base_env(credential, pdd / "env"),
                                    settings={"suppress_env_files": True})
        self.log.append((template_id, credential, time.monotonic() - start))
        return Job(runner)
