"""Run many module calls fast: one process imports Ansible, kubernetes and the collection once,
then forks a child per call, which runs the real module file as Ansible would (arguments in
ANSIBLE_MODULE_ARGS, result as JSON on stdout, exit code). Forking keeps every call as isolated as
a separate ansible-playbook task, without paying ~1 s of imports each time.

Protocol: one JSON request per stdin line, {"module": name, "args": {...}, "env": {...}}; one JSON
reply per stdout line, {"rc": int, "result": {...} or null, "stdout": str, "stderr": str}.
"""
import json
import os
import runpy
import sys
import tempfile
from pathlib import Path

COLLECTION = Path(__file__).resolve().parents[2]
MODULES = COLLECTION / "plugins" / "modules"


def preload():
    # What every module imports; done once, inherited by every child.
    import ansible.module_utils.basic  # noqa: F401
    import kubernetes  # noqa: F401
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s import client  # noqa: F401
    from ansible_collections.meshops.istio.plugins.module_utils import (  # noqa: F401
        kube, multicluster, prometheus, release, routing, traffic, validation)


def run_child(request, out_path, err_path):
    from ansible.module_utils import basic
    out = os.open(out_path, os.O_WRONLY)
    err = os.open(err_path, os.O_WRONLY)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.environ.update(request.get("env") or {})
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": request["args"]}).encode()
    basic._ANSIBLE_PROFILE = "legacy"
    code = 0
    try:
        runpy.run_path(str(MODULES / (request["module"] + ".py")), run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # a traceback is a finding: the campaign reports it
        import traceback
        traceback.print_exc()
        code = 99
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def call(request):
    with tempfile.NamedTemporaryFile(delete=False) as out, tempfile.NamedTemporaryFile(delete=False) as err:
        pass
    try:
        pid = os.fork()
        if pid == 0:
            run_child(request, out.name, err.name)
        _pid, status = os.waitpid(pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        stdout = Path(out.name).read_text(errors="replace")
        stderr = Path(err.name).read_text(errors="replace")
    finally:
        os.unlink(out.name)
        os.unlink(err.name)
    result = None
    start = stdout.find("{")
    if start >= 0:
        try:
            result = json.loads(stdout[start:])
        except ValueError:
            result = None
    return {"rc": rc, "result": result, "stdout": stdout, "stderr": stderr}


def main():
    preload()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        print(json.dumps(call(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
