# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Role variables that are lists of dicts, from the text an AWX survey can give (a textarea answer is a
string, and Ansible cannot turn a string into a list of dicts on its own)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import yaml

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.six import string_types

FORMS = ("a list of items; or, as text (an AWX survey textarea), a YAML list such as "
         "'- {key}: first' on each line, or {key}s separated by commas")


def survey_list(value, what, key="name"):
    """``value`` as a list: a list is returned as it is; text is read as YAML - a list stays a list (its
    plain strings become {key: string}), a plain word or comma-separated words become one item each."""
    forms = FORMS.format(key=key)
    if value is None:
        return []
    if is_sequence(value):
        return [{key: item} if isinstance(item, string_types) else item for item in value]
    if not isinstance(value, string_types):
        raise AnsibleFilterError("%s is %s (%r); give %s." % (what, type(value).__name__, value, forms))
    text = str(value).strip()
    if not text:
        return []
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        raise AnsibleFilterError("%s is not valid YAML%s (%s); give %s." % (
            what, where, getattr(e, "problem", None) or e, forms)) from None
    if isinstance(parsed, string_types):
        return [{key: word} for word in re.split(r"[,\s]+", parsed) if word]
    if isinstance(parsed, list):
        bad = [i for i, item in enumerate(parsed) if not isinstance(item, (dict, string_types))]
        if bad:
            raise AnsibleFilterError("%s[%d] is %r, neither a mapping nor a %s; give %s." % (
                what, bad[0], parsed[bad[0]], key, forms))
        return [{key: item} if isinstance(item, string_types) else item for item in parsed]
    raise AnsibleFilterError("%s is YAML for %s, not a list; give %s." % (what, type(parsed).__name__, forms))


class FilterModule(object):
    def filters(self):
        return {"survey_list": survey_list}
