"""The shared doc fragments (routing, prometheus) say what the shared argspecs do."""

import yaml

from ansible_collections.meshops.istio.plugins.doc_fragments import prometheus as prometheus_doc
from ansible_collections.meshops.istio.plugins.doc_fragments import routing as routing_doc
from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom
from ansible_collections.meshops.istio.plugins.module_utils import routing_args


def options(text):
    return yaml.safe_load(text)["options"]


def spec_of(doc):
    """An option's documentation in argspec terms: type, choices, default, suboptions."""
    out = dict((k, doc[k]) for k in ("type", "choices", "default") if k in doc)
    if "suboptions" in doc:
        out["options"] = dict((name, spec_of(sub)) for name, sub in doc["suboptions"].items())
    return out


def plain(spec):
    """An argspec without what docs do not show (no_log)."""
    out = dict((k, v) for k, v in spec.items() if k in ("type", "choices", "default"))
    if "options" in spec:
        out["options"] = dict((name, plain(sub)) for name, sub in spec["options"].items())
    return out


def test_the_routing_fragments_document_the_routing_argspec():
    fragment = options(routing_doc.ModuleDocFragment.DOCUMENTATION)
    fragment.update(options(routing_doc.ModuleDocFragment.GATEWAY_API))
    spec = routing_args.routing_spec()
    assert set(fragment) == set(spec)
    for name, option in fragment.items():
        # required is the module's word (istio_burst has defaults instead).
        assert spec_of(option) == plain(spec[name]), name
    assert set(options(routing_doc.ModuleDocFragment.DOCUMENTATION)) == set(routing_args.routing_spec(gateway_api=False))


def test_istio_burst_gives_the_routing_options_defaults_instead_of_requiring_them():
    spec = routing_args.routing_spec(gateway_api=False, service="worker-service", namespace="default")
    assert spec["service"] == dict(type="str", default="worker-service")
    assert spec["namespace"] == dict(type="str", default="default")
    assert routing_args.routing_spec()["service"] == dict(type="str", required=True)


def test_the_prometheus_fragment_documents_the_prometheus_option():
    fragment = options(prometheus_doc.ModuleDocFragment.DOCUMENTATION)["prometheus"]
    option = prom.prometheus_option()
    assert spec_of(fragment) == plain(option)
    # The secrets stay out of logs and results.
    assert option["options"]["password"]["no_log"] and option["options"]["bearer_token"]["no_log"]
    assert prom.prometheus_option(default={})["default"] == {}
    # Each call its own copy: AnsibleModule may fill in an argspec it is given.
    assert prom.prometheus_option()["options"] is not option["options"]


def test_the_service_suboptions_are_the_same_nested_and_at_the_top_level():
    nested = options(prometheus_doc.ModuleDocFragment.DOCUMENTATION)["prometheus"]["suboptions"]["service"]
    top = options(prometheus_doc.ModuleDocFragment.SERVICE)["prometheus_service"]
    assert nested["suboptions"] == top["suboptions"]
    assert spec_of(top)["options"] == plain(dict(options=prom.SERVICE_ARG_SPEC))["options"]
