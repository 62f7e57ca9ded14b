# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""What the roles say when a helm task fails (kubernetes.core.helm reports only helm's own stderr)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shlex

PENDING = "another operation (install/upgrade/rollback) is in progress"


def _release(command):
    """The release a kubernetes.core.helm command works on: ``helm upgrade -i ... <release> '<chart>'``,
    ``helm list ... --filter <release>``, ``helm uninstall <release> ...``."""
    try:
        words = shlex.split(command or "")
    except ValueError:
        return None
    if "--filter" in words[:-1]:
        return words[words.index("--filter") + 1].strip("^$")
    if "upgrade" in words and len(words) >= 2:
        return words[-2]
    if "uninstall" in words[:-1]:
        return words[words.index("uninstall") + 1]
    return None


def helm_failure(result, task, namespace):
    """The message for a failed helm task: the task (it names the chart), the release, what helm said and, for a
    release that a helm run left pending, how to settle it."""
    result = result if isinstance(result, dict) else {}
    failed = [r for r in result.get("results") or [] if isinstance(r, dict) and r.get("failed")] or [result]
    lines = []
    for r in failed:
        item = r.get("item") if isinstance(r.get("item"), dict) else {}
        release = _release(r.get("command")) or item.get("name") or item.get("release") or "the release"
        where = item.get("namespace") or namespace
        said = (r.get("stderr") or r.get("msg") or "no message").strip()
        line = "%s: Helm release %s/%s: %s" % (task, where, release, said)
        if PENDING in said:
            line += (" The release was left pending by a helm run that did not finish (the API server refused even"
                     " the write that records its outcome, or helm was stopped), and helm refuses to touch it while"
                     " another run may be at work on it. When none is, settle it - `helm rollback %s -n %s`, or"
                     " `helm uninstall %s -n %s` if `helm history %s -n %s` shows no deployed revision - and run"
                     " again." % (release, where, release, where, release, where))
        lines.append(line)
    return " ".join(lines)


class FilterModule(object):
    def filters(self):
        return {"helm_failure": helm_failure}
