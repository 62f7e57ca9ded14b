"""ObjectMeta checks the apiserver makes for every kind (apimachinery's ValidateObjectMeta)."""
import re

from .causes import _cause, _invalid
from .validation import _split_api_version


_DNS1123_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"

_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                  "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                  f"validation is '{_DNS1123_SUBDOMAIN}')")
_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
              "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
              f"validation is '{_DNS1123_LABEL}')")
_DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                f"regex used for validation is '{_DNS1035_LABEL}')")
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                    f"'12345', regex used for validation is '{_LABEL_VALUE}')")
_QUALIFIED_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                  "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                  f"validation is '{_QUALIFIED_NAME}')")

# Kinds whose names must be DNS labels rather than subdomains (their names end up in DNS or paths).
_NAME_RULES = {("", "Namespace"): ("label", _DNS1123_LABEL, _LABEL_MSG, 63),
               ("", "Service"): ("dns1035", _DNS1035_LABEL, _DNS1035_MSG, 63)}


def metadata_causes(obj):
    """The apiserver's ObjectMeta checks (name syntax, name or generateName present, label and
    annotation keys and values); not part of validate() because the server runs them after
    admission, which may change metadata."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return []
    causes = []
    name = meta.get("name")
    group = _split_api_version(obj.get("apiVersion", ""))[0]
    _, pattern, message, limit = _NAME_RULES.get((group, obj.get("kind")),
                                                 ("subdomain", _DNS1123_SUBDOMAIN, _SUBDOMAIN_MSG, 253))
    if not name and not meta.get("generateName"):
        causes.append(_cause("FieldValueRequired", "metadata.name",
                             "Required value: name or generateName is required"))
    elif isinstance(name, str) and name:
        if len(name) > limit:
            causes.append(_invalid("metadata.name", name, f"must be no more than {limit} characters"))
        if not re.fullmatch(pattern, name):
            causes.append(_invalid("metadata.name", name, message))
    for key, value in (meta.get("labels") or {}).items() if isinstance(meta.get("labels"), dict) else ():
        causes.extend(_qualified_key_causes("metadata.labels", key))
        if isinstance(value, str) and (len(value) > 63 or not re.fullmatch(_LABEL_VALUE, value)):
            detail = "must be no more than 63 characters" if len(value) > 63 else _LABEL_VALUE_MSG
            causes.append(_invalid("metadata.labels", value, detail))
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        for key in annotations:
            causes.extend(_qualified_key_causes("metadata.annotations", key))
        size = sum(len(k) + len(v) for k, v in annotations.items() if isinstance(v, str))
        if size > 256 * 1024:
            causes.append(_cause("FieldValueTooLong", "metadata.annotations",
                                 "Too long: may not be more than 262144 bytes"))
    return causes


def _qualified_key_causes(path, key):
    prefix, slash, name = key.rpartition("/")
    causes = []
    if slash and (not prefix or len(prefix) > 253 or not re.fullmatch(_DNS1123_SUBDOMAIN, prefix)):
        causes.append(_invalid(path, key, "prefix part " + _SUBDOMAIN_MSG))
    if not name or len(name) > 63 or not re.fullmatch(_QUALIFIED_NAME, name):
        detail = "name part must be no more than 63 characters" if len(name) > 63 else _QUALIFIED_MSG
        causes.append(_invalid(path, key, detail))
    return causes
