# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""The names check of module_utils/validation for roles' preflight asserts: one rule, one message,
whether a name reaches the API through a module or through a role."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.module_utils import validation as val


def name_problems(value, what, kind="label"):
    """[] when ``value`` (a name, or a list of names) follows the DNS-1123 ``kind`` rule, else one
    sentence per bad name. None and '' (an option left unset) are not checked."""
    if kind not in val.PROBLEMS:
        raise AnsibleFilterError("name_problems: kind must be one of %s, not %r" % (", ".join(sorted(val.PROBLEMS)), kind))
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return val.name_problems(val.list_checks(list(value), what, kind))
    return val.name_problems([(value, what, kind)])


class FilterModule(object):
    def filters(self):
        return {"name_problems": name_problems}
