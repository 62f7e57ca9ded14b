# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Checks of user input that every module (and, through the filter of the same name, every role's
preflight) applies before its first request, so that bad input is refused by the collection with
a message that names the rule, never half-applied and then refused by the API server (422).

Pure functions: each returns the problem as a sentence (or None), or raises InputError.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from importlib.util import find_spec

from ansible.module_utils.six.moves.urllib.parse import urlparse

# Found, not imported: only header regexes need RE2, and importing it costs every module process about
# 2.7 ms (python -X importtime of the AnsiballZ payloads of istio_namespace, istio_apply and istio_info,
# median of 15 each). re2_problem imports it.
HAS_RE2 = find_spec("re2") is not None

RE2_PACKAGE = "google-re2"

# Kubernetes' own rules (k8s.io/apimachinery validation): namespaces, Istio subsets, revisions and
# cluster names are labels; object names (Services, VirtualServices, ServiceAccounts) are subdomains.
_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_RULE = ("a DNS-1123 label: at most 63 characters, only lower-case letters, digits and '-', "
              "starting and ending with a letter or digit, for example my-name")
SUBDOMAIN_RULE = ("a DNS-1123 subdomain: at most 253 characters, lower-case letters, digits, '-' and '.', "
                  "each dot-separated part starting and ending with a letter or digit, for example my-name")


class InputError(ValueError):
    """Input a person has to fix; the message says what is wrong and the rule to follow."""


def label_problem(value, what):
    """None, or why ``value`` (described as ``what``, e.g. "namespace") is not a DNS-1123 label."""
    if not isinstance(value, str) or isinstance(value, bool):
        return "%s %r is not a name: it must be %s." % (what, value, LABEL_RULE)
    if not value:
        return "%s is empty: it must be %s." % (what, LABEL_RULE)
    if len(value) > 63:
        return "%s %r is %d characters long: it must be %s." % (what, value, len(value), LABEL_RULE)
    if not _LABEL_RE.match(value):
        return "%s %r is not valid: it must be %s." % (what, value, LABEL_RULE)
    return None


def subdomain_problem(value, what):
    """None, or why ``value`` is not a DNS-1123 subdomain (the rule for most object names)."""
    if not isinstance(value, str) or isinstance(value, bool):
        return "%s %r is not a name: it must be %s." % (what, value, SUBDOMAIN_RULE)
    if not value:
        return "%s is empty: it must be %s." % (what, SUBDOMAIN_RULE)
    if len(value) > 253 or not all(_LABEL_RE.match(part) for part in value.split(".")):
        return "%s %r is not valid: it must be %s." % (what, value, SUBDOMAIN_RULE)
    return None


PROBLEMS = dict(label=label_problem, subdomain=subdomain_problem)


def name_problems(checks):
    """Every problem of ``checks``, an iterable of (value, what, kind) with kind "label" or
    "subdomain"; a value of None is an option left unset and is skipped. All are reported at once,
    so that one run shows everything to fix."""
    problems = []
    for value, what, kind in checks:
        if value is None:
            continue
        problem = PROBLEMS[kind](value, what)
        if problem:
            problems.append(problem)
    return problems


def require_names(checks):
    """InputError listing every problem of ``checks`` (see name_problems)."""
    problems = name_problems(checks)
    if problems:
        raise InputError(" ".join(problems))


def list_checks(values, what, kind="label"):
    """(value, "what[i]", kind) for each of a list option's values; "[]" in ``what`` takes the index
    (mesh_namespace_list[].name -> mesh_namespace_list[1].name)."""
    if "[]" not in what and len(values or ()) == 1:
        return [(values[0], what, kind)]
    return [(value, what.replace("[]", "[%d]" % index, 1) if "[]" in what else "%s[%d]" % (what, index), kind)
            for index, value in enumerate(values or ())]


def re2_problem(pattern, what):
    """None, or why Envoy would refuse ``pattern``: Envoy compiles header regexes with RE2, which
    refuses constructs Python's re accepts (lookarounds, backreferences) and accepts some it
    refuses (\\pL, \\C), so only RE2 itself can tell."""
    if not HAS_RE2:
        return ("%s cannot be checked: the Python package %s (module re2) is missing on the controller. "
                "Install it (pip install %s) in the Python that runs Ansible's modules."
                % (what, RE2_PACKAGE, RE2_PACKAGE))
    if not isinstance(pattern, str):
        return "%s %r is not a string: write the regular expression as a string." % (what, pattern)
    import re2

    options = re2.Options()
    options.log_errors = False  # the reason goes into our message, not to stderr
    try:
        re2.compile(pattern, options)
    except Exception as e:  # re2.error, and TypeError/ValueError for odd input
        reason = e.args[0] if e.args else type(e).__name__
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        return ("%s %r is not a valid RE2 regular expression (the syntax Envoy uses): %s. RE2 has no "
                "lookarounds or backreferences; see https://github.com/google/re2/wiki/Syntax."
                % (what, pattern, reason))
    return None


def require_re2(pattern, what):
    problem = re2_problem(pattern, what)
    if problem:
        raise InputError(problem)
    return pattern


def host_checks(params, what="service"):
    """The checks of a routed service host, its namespace and the VirtualService/DestinationRule
    names a routing module sends (istio_traffic, istio_release, istio_burst)."""
    host = params.get("service")
    # A host may be a wildcard (*.example.com); what follows the wildcard is still a DNS name.
    if isinstance(host, str) and host.startswith("*."):
        host = host[2:]
    return [(host, what, "subdomain"), (params.get("namespace"), "namespace", "label"),
            (params.get("virtual_service"), "virtual_service", "subdomain"),
            (params.get("destination_rule"), "destination_rule", "subdomain")]


def url_problem(url, what, example="http://prometheus.istio-system:9090"):
    """None, or why ``url`` is not an http(s) URL with a host (checked before any connection, so the
    error names the option instead of a connection failure)."""
    if not isinstance(url, str) or not url.strip():
        return "%s is empty: give an http:// or https:// URL, for example %s." % (what, example)
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or any(ch.isspace() for ch in url):
        return "%s %r is not an http:// or https:// URL with a host: write it like %s." % (what, url, example)
    try:
        parsed.port  # noqa: B018 - urlparse checks the port only when it is read
    except ValueError:
        return "%s %r has a port that is not a number from 1 to 65535: write it like %s." % (what, url, example)
    return None
