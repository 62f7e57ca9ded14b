"""ServiceAccount token Secrets: a token and ca.crt filled in, as the token controller does."""
import base64

from ..store import clone
from .base import SECRETS, SERVICEACCOUNTS


class TokenController:
    """Service account token Secrets."""

    def _secret(self, event):
        if event.type == "DELETED":
            return
        secret = event.obj
        if secret.get("type") != "kubernetes.io/service-account-token":
            return
        self._fill_token(secret)

    def _fill_token(self, secret):
        meta = secret["metadata"]
        sa_name = (meta.get("annotations") or {}).get("kubernetes.io/service-account.name")
        if not sa_name:
            return
        sa = self.store.peek(SERVICEACCOUNTS, meta["namespace"], sa_name)
        if sa is None:
            return
        data = secret.get("data") or {}
        token = base64.b64decode(data["token"]).decode() if data.get("token") else None
        if token and self.sim.token_subject(token) is not None:
            return
        token = self.sim.issue_token(f"system:serviceaccount:{meta['namespace']}:{sa_name}", None,
                                     sa["metadata"]["uid"], secret=(meta["namespace"], meta["name"]))
        secret = clone(secret)
        secret["data"] = dict(data, **{
            "token": base64.b64encode(token.encode()).decode(),
            "ca.crt": base64.b64encode(self.sim.ca_pem.encode()).decode(),
            "namespace": base64.b64encode(meta["namespace"].encode()).decode()})
        secret["metadata"].setdefault("annotations", {})["kubernetes.io/service-account.uid"] = sa["metadata"]["uid"]
        self._put(SECRETS, secret)

    def _serviceaccount(self, event):
        if event.type != "ADDED":
            return
        self._retry_failed_creates()
        ns = event.obj["metadata"]["namespace"]
        for secret in self.store.list(SECRETS, ns, where=lambda s: s.get("type") == "kubernetes.io/service-account-token"
                                      and not (s.get("data") or {}).get("token")):
            self._fill_token(secret)
