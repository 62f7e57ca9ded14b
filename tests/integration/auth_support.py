"""kubernetes.core's auth forms against kubesim, which serves HTTPS with its own CA and checks bearer
tokens, and a listener that must never be reached.

- token_auth(sim, directory): host + api_key + ca_cert (TLS verified), as module options;
- env_only(sim, directory): the K8S_AUTH_* variables alone, with KUBECONFIG pointing nowhere and an
  empty HOME, so that no kubeconfig can be found anywhere;
- Listener: a TCP server on 127.0.0.1 that counts connections and keeps what it received.
"""
import socket
import threading
from pathlib import Path

ADMIN = "kubernetes-admin"    # who kubesim's admin token authenticates as, in its request log


def ca_file(sim, directory):
    path = Path(directory) / ("%s-ca.pem" % sim.name)
    path.write_text(sim.ca_pem)
    return str(path)


def token_auth(sim, directory):
    return {"host": sim.url, "api_key": sim.admin_token, "ca_cert": ca_file(sim, directory)}


def env_only(sim, directory):
    """Environment for ansible-playbook with the K8S_AUTH_* variables as AWX's bearer token credential
    injects them, and no kubeconfig to fall back to."""
    home = Path(directory) / "empty-home"
    home.mkdir(exist_ok=True)
    return {"K8S_AUTH_HOST": sim.url, "K8S_AUTH_API_KEY": sim.admin_token,
            "K8S_AUTH_SSL_CA_CERT": ca_file(sim, directory), "K8S_AUTH_VERIFY_SSL": "true",
            "KUBECONFIG": str(Path(directory) / "no-such-kubeconfig"), "HOME": str(home)}


def authenticated(sim):
    """Requests kubesim accepted with the admin token."""
    return [r for r in sim.request_log if r.user == ADMIN]


class Listener:
    """Accepts TCP connections on 127.0.0.1 and records what each sent (nothing is answered)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self._thread.start()
        return self

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.settimeout(1.0)
            try:
                while b"\r\n\r\n" not in self.received:
                    data = conn.recv(65536)
                    if not data:
                        break
                    self.received += data
                # An answer a client gives up on at once (no retries, no waiting for a timeout).
                conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            finally:
                conn.close()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def closed_port():
    """A loopback port nothing listens on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port
