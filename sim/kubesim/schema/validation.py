"""Validation, the outcome of validate(): the object to store and what the server answers with."""
from dataclasses import dataclass, field


@dataclass
class Validation:
    object: dict
    causes: list = field(default_factory=list)
    unknown_fields: list = field(default_factory=list)
    decode_errors: list = field(default_factory=list)
    schema_found: bool = True

    @property
    def ok(self):
        return not self.causes and not self.decode_errors

    def _prefix(self):
        kind = self.object.get("kind", "")
        version = _split_api_version(self.object.get("apiVersion", ""))[1]
        return f'{kind} in version "{version}" cannot be handled as a {kind}: '

    def strict_error(self):
        """The 400 message kube-apiserver gives for unknown fields under fieldValidation=Strict."""
        if not self.unknown_fields:
            return None
        listed = ", ".join(f'unknown field "{p}"' for p in self.unknown_fields)
        return self._prefix() + "strict decoding error: " + listed

    def warnings(self):
        """Warning header texts for fieldValidation=Warn (the server's default)."""
        return [f'unknown field "{p}"' for p in self.unknown_fields]

    def bad_request(self, field_validation="Warn"):
        """The 400 BadRequest message to answer with, or None."""
        if self.decode_errors:
            # The Go decoder stops at the first field it cannot decode.
            return self._prefix() + self.decode_errors[0]
        if (field_validation or "Warn").lower() == "strict" and self.unknown_fields:
            return self.strict_error()
        return None


def _drop_nulls(value):
    """Go's JSON decoder turns null into the zero value, which encodes as absent."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _delete_path(obj, instance_path, key):
    node = obj
    for segment in instance_path:
        node = node[segment]
    node.pop(key, None)




def _split_api_version(api_version):
    group, _, version = (api_version or "").rpartition("/")
    return group, version
