# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this code is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.
"""The main() the collection's modules share, so that a module file is its docs, its argspec and
one call (the shape of kubernetes.core's k8s.py): build the module with kubernetes.core's auth
options beside ours, run the module's work, and turn the two kinds of error a person can act on
into fail_json - bad input (InputError, raised before the first request) and an API failure
(KubeError, with where it happened) - never into a traceback."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

from ansible_collections.meshops.istio.plugins.module_utils.kube import new_module, run
from ansible_collections.meshops.istio.plugins.module_utils.validation import InputError


def run_module(argument_spec, work, **rules):
    """Build the module from ``argument_spec`` (``rules``: required_if, mutually_exclusive, ... as
    AnsibleModule takes them), call ``work(module)`` and exit with the dict it returns."""
    # new_module names the module in its refusal of an option shadowing an auth option: the
    # module is whoever called us.
    caller = sys._getframe(1).f_globals.get("__file__") or "?"
    module = new_module(argument_spec, name=os.path.splitext(os.path.basename(caller))[0], **rules)
    try:
        result = run(module, lambda: work(module))
    except InputError as e:
        module.fail_json(msg=str(e))
    module.exit_json(**result)
