# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Knowing when the job that started a long-running module is gone.

ansible-playbook runs each task in a worker that starts its own session (``setsid``), so a
``kill -9`` of the ansible-playbook process group does not reach the worker or the module under
it: the module's own parent stays alive, waiting for an answer nobody will read. The module is
still part of a job as long as every process between it and the ansible-playbook that started it
lives, so ``JobGuard`` records that chain when the module starts (each process with its start
time, so a recycled pid does not pass for it) and a module that runs for minutes asks
``guard.gone()`` at each step boundary. SIGTERM and SIGINT are caught the same way: the module
stops at the next boundary rather than in the middle of a write.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import time

POLL = 0.2
_MAX_DEPTH = 16


def _stat(pid):
    """(ppid, session, start time) of a process from /proc, or None when it does not exist or has
    exited (a zombie not yet reaped)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[3]), fields[19]


def job_chain(pid=None):
    """[(pid, start time, parent)] of the processes from ``pid``'s parent up to the one that started the
    session ``pid`` runs in (the ansible worker) and that one's parent (ansible-playbook)."""
    pid = os.getpid() if pid is None else pid
    me = _stat(pid)
    if me is None:
        return []
    chain = []
    parent = me[0]
    for _depth in range(_MAX_DEPTH):
        if parent <= 1:
            break
        info = _stat(parent)
        if info is None:
            break
        chain.append((parent, info[2], info[0]))
        if info[1] == parent:
            # The session leader; its parent is the process that started the job.
            if info[0] > 1:
                outer = _stat(info[0])
                if outer is not None:
                    # Its own parent may go (a closed terminal under nohup) without ending the job.
                    chain.append((info[0], outer[2], None))
            break
        parent = info[0]
    return chain


class JobGuard:
    """Tells a long-running module that it should stop: the job that started it is gone, or it
    was asked to stop (SIGTERM, SIGINT)."""

    def __init__(self):
        self.parent = os.getppid()
        self.chain = job_chain()
        self.signal = None
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                signal.signal(signum, self._on_signal)
            except (ValueError, OSError):  # pragma: no cover - not the main thread
                pass

    def _on_signal(self, signum, _frame):
        self.signal = signum

    def gone(self):
        """Why the module should stop now, or None."""
        if self.signal is not None:
            return "it received %s" % signal.Signals(self.signal).name
        if os.getppid() != self.parent:
            return "its parent process (pid %d) ended" % self.parent
        for pid, started, parent in self.chain:
            info = _stat(pid)
            # A process whose parent ended is handed to another one at once: its parent changes.
            if info is None or info[2] != started:
                return "the job that started it (pid %d) ended" % pid
            if parent not in (None, info[0]):
                return "the job that started it (pid %d) ended" % parent
        return None

    def sleep(self, seconds):
        """Sleep ``seconds``, or less when the job goes; returns gone()."""
        end = time.monotonic() + max(seconds, 0)
        while True:
            why = self.gone()
            left = end - time.monotonic()
            if why or left <= 0:
                return why
            time.sleep(min(POLL, left))
