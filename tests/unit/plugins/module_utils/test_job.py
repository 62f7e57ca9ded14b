"""JobGuard: a long-running module knows when the job that started it is gone."""
import os
import signal
import subprocess
import sys
import textwrap

from ansible_collections.meshops.istio.plugins.module_utils import job

# A process in a session of its own (as ansible's worker is) whose child runs a JobGuard and reports what it sees.
PROBE = textwrap.dedent("""
    import os, sys
    sys.path[:0] = %r
    from ansible_collections.meshops.istio.plugins.module_utils.job import JobGuard
    child = os.fork()
    if child == 0:
        guard = JobGuard()
        print("ready", flush=True)
        why = guard.sleep(30)
        print("stopped:", why, flush=True)
        os._exit(0)
    # The worker lives as long as its child, so the test leaves no process behind.
    os.waitpid(child, 0)
""")


def test_the_chain_reaches_the_session_leader_and_its_parent():
    chain = job.job_chain()
    assert chain and chain[0][0] == os.getppid()
    pids = [pid for pid, _start, _parent in chain]
    assert len(set(pids)) == len(pids) and 1 not in pids


def test_nothing_is_gone_while_the_job_lives_and_a_signal_stops_it():
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        guard = job.JobGuard()
        assert guard.gone() is None and guard.sleep(0.3) is None
        os.kill(os.getpid(), signal.SIGTERM)
        assert guard.sleep(5) == "it received SIGTERM"
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def test_a_killed_job_is_seen_although_the_modules_own_parent_lives():
    """The outer process starts a session-leading worker (setsid, as ansible does); killing the outer process leaves
    the worker alive, and the guard in the worker's child still sees the job gone."""
    outer = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                              "subprocess.Popen([sys.executable, '-c', sys.argv[1]], start_new_session=True, "
                              "stdout=sys.stdout); time.sleep(60)", PROBE % (sys.path,)],
                             stdout=subprocess.PIPE, text=True)
    assert outer.stdout.readline().strip() == "ready"
    outer.kill()
    outer.wait()
    line = outer.stdout.readline().strip()
    assert line.startswith("stopped: the job that started it (pid %d) ended" % outer.pid), line
