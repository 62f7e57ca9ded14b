# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Checks for container image overrides (registry mirrors, tags) before anything is applied."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

# The grammar of github.com/distribution/reference: a registry host (may carry a port) and
# lower-case path components. A mistyped mirror otherwise surfaces much later as pods stuck in
# ImagePullBackOff (or as an API 422 when the string is not a reference at all).
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = r"%s(?:\.%s)*(?::[0-9]+)?" % (_DOMAIN_COMPONENT, _DOMAIN_COMPONENT)
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = r"(?:%s/)?%s(?:/%s)*" % (_DOMAIN, _PATH_COMPONENT, _PATH_COMPONENT)
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_PATTERNS = {
    # A registry prefix is valid when "<prefix>/<name>" is a valid repository (so a bare
    # host such as localhost:5000 is fine).
    "registry": re.compile(r"^%s$" % _REPOSITORY),
    "tag": re.compile(r"^%s$" % _TAG),
    "image": re.compile(r"^%s(?::%s)?(?:@%s)?$" % (_REPOSITORY, _TAG, _DIGEST)),
}

_NAMES = {"registry": "image registry prefix", "tag": "image tag", "image": "image reference"}

_EXAMPLES = {
    "registry": "registry.istio.io/release or mirror.example.com:5000/istio",
    "tag": "1.20.3 or latest",
    "image": "redis:alpine or mirror.example.com:5000/library/redis:7-alpine",
}


def image_reference_problem(value, part="image"):
    """'' when ``value`` is a valid image ``part`` (registry, tag or image), else why it is not."""
    if part not in _PATTERNS:
        raise AnsibleFilterError("image_reference_problem: part must be one of %s, not %r"
                                 % (", ".join(sorted(_PATTERNS)), part))
    if not isinstance(value, str):
        return "it is a %s, not a string (for example %s)" % (type(value).__name__, _EXAMPLES[part])
    if value == "":
        return "it is empty (for example %s)" % _EXAMPLES[part]
    if value != value.strip() or any(ch.isspace() for ch in value):
        return "it contains white space"
    if part == "registry":
        if value.endswith("/"):
            return "it ends with '/'; give the prefix without it (for example %s)" % _EXAMPLES[part]
        if "://" in value:
            return "it contains a URL scheme; give host and path only (for example %s)" % _EXAMPLES[part]
        if "@" in value or re.search(r"/[^/]*:[^/]*$", value):
            return ("it ends in a tag or digest; set the tag in its own variable and give the registry "
                    "prefix only (for example %s)" % _EXAMPLES[part])
    if part == "tag" and (":" in value or "@" in value or "/" in value):
        return "a tag cannot contain ':', '@' or '/' (for example %s)" % _EXAMPLES[part]
    candidate = value + "/x" if part == "registry" else value
    if not _PATTERNS[part].match(candidate):
        if part != "tag" and re.search(r"[A-Z]", value.split("/", 1)[-1] if "/" in value else value):
            return "repository paths must be lower case (for example %s)" % _EXAMPLES[part]
        return "it is not a valid %s (for example %s)" % (_NAMES[part], _EXAMPLES[part])
    return ""


class FilterModule(object):
    def filters(self):
        return {"image_reference_problem": image_reference_problem}
