"""TokenReview and SubjectAccessReview: answered from the cluster's tokens (every request allowed)."""
from ..store import clone


class Reviews:
    """The review APIs."""

    def review(self, rtype, body):
        body = clone(body or {})
        body.setdefault("metadata", {})["creationTimestamp"] = None
        if rtype.kind == "TokenReview":
            token = (body.get("spec") or {}).get("token", "")
            subject = self.sim.token_subject(token)
            if subject is None:
                body["status"] = {"authenticated": False, "error": "invalid bearer token", "user": {}}
            else:
                body["status"] = {"authenticated": True,
                                  "user": {"username": subject, "groups": ["system:authenticated"]}}
        else:
            body["status"] = {"allowed": True, "reason": "kubesim allows every request"}
        return body
