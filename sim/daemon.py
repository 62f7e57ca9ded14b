"""A local server binary (Prometheus, Alertmanager) run for as long as a test or demo needs it: its own
temporary directory and log, started on a free port and ready once its /-/ready answers 200."""
import abc
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon(abc.ABC):
    name = "daemon"

    def __init__(self, port=None):
        self.port = port or free_port()
        self.dir = None
        self.proc = None
        self.log = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @abc.abstractmethod
    def write_config(self, directory):
        """Write the configuration into ``directory``; return the command line."""

    def start(self, timeout=30):
        self.dir = Path(tempfile.mkdtemp(prefix=self.name + "-"))
        argv = self.write_config(self.dir)
        log_path = self.dir / (self.name + ".log")
        self.log = open(log_path, "w")  # noqa: SIM115  (lives as long as the server)
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited: %s" % (self.name, log_path.read_text()[-2000:]))
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("%s did not become ready in %ss" % (self.name, timeout))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.dir:
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
