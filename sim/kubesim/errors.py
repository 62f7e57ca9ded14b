"""API errors in the exact `Status` shape the real kube-apiserver returns.

Clients key their behaviour on `reason` and `code` (kubectl's "already exists" handling,
client-go retry on Conflict, kubernetes.core's 404 detection), so these must match upstream.
"""

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An error answered to the client as a v1 Status."""

    def __init__(self, code, message, reason=None, details=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason if reason is not None else REASONS.get(code, "Unknown")
        self.details = details

    def status(self):
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        }
        if self.reason:   # omitempty: a webhook's denial carries no reason
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        return body


def _qualified(rtype):
    return f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural


def _details(rtype, name):
    details = {"name": name, "kind": rtype.plural}
    if rtype.group:
        details["group"] = rtype.group
    return details


def not_found(rtype, name):
    return ApiError(404, f'{_qualified(rtype)} "{name}" not found', details=_details(rtype, name))


def already_exists(rtype, name):
    return ApiError(409, f'{_qualified(rtype)} "{name}" already exists', "AlreadyExists",
                    _details(rtype, name))


def conflict(rtype, name, why="the object has been modified; please apply your changes to the latest version and try again"):
    return ApiError(409, f'Operation cannot be fulfilled on {_qualified(rtype)} "{name}": {why}', "Conflict",
                    _details(rtype, name))


def invalid(rtype, name, causes):
    """422 Invalid; causes are dicts with reason/message/field, as schema validation returns them."""
    kind = f"{rtype.kind}.{rtype.group}" if rtype.group else rtype.kind
    parts = []
    for cause in causes:
        field = cause.get("field")
        parts.append(f"{field}: {cause.get('message', '')}" if field else cause.get("message", ""))
    if len(parts) == 1:
        summary = parts[0]
    else:
        summary = "[" + ", ".join(parts) + "]"
    details = {"name": name, "kind": rtype.kind, "causes": list(causes)}
    if rtype.group:
        details["group"] = rtype.group
    return ApiError(422, f'{kind} "{name}" is invalid: {summary}', "Invalid", details)


def bad_request(message):
    return ApiError(400, message, "BadRequest")


def forbidden(message, rtype=None, name=""):
    return ApiError(403, message, "Forbidden", _details(rtype, name) if rtype else None)


def method_not_allowed():
    return ApiError(405, "the server does not allow this method on the requested resource", "MethodNotAllowed",
                    {})


def unknown_path():
    return ApiError(404, "the server could not find the requested resource", "NotFound", {})


def unsupported_media_type(content_type, accepted):
    return ApiError(415, f'the body of the request was in an unknown format - accepted media types include: '
                         f'{", ".join(accepted)}', "UnsupportedMediaType")


def gone(message):
    return ApiError(410, message, "Expired")


UNAUTHORIZED = ApiError(401, "Unauthorized", "Unauthorized")
