"""The table of the bad-input campaign: every row is an input the collection must refuse with a
clear message before it sends a single write request.

A row is (id, target, input, words): ``target`` is a module name, ``role:<name>`` or ``inventory``;
``words`` must all appear in the failure message (case-insensitive). Rows are built from ``ctx``,
the campaign's files and cluster (see test_bad_input.py), so kubeconfig rows can point at real files.
"""
import functools
from collections import namedtuple

Row = namedtuple("Row", "id target args words")

DNS_LABEL = "DNS-1123 label"
DNS_SUBDOMAIN = "DNS-1123 subdomain"
RE2 = "not a valid RE2 regular expression"


def traffic(ctx, **args):
    base = dict(kubeconfig=ctx.kubeconfig, service="reviews", namespace="bookinfo", subsets={"v1": 100})
    base.update(args)
    return base


def header(regex):
    return [{"subset": "v2", "headers": {"end-user": {"regex": regex}}}]


def traffic_rows(ctx):
    t = functools.partial(traffic, ctx)
    return [
        # weights
        Row("T01", "istio_traffic", t(subsets={"v1": 90, "v2": 20}), ["add up to 110", "100"]),
        Row("T02", "istio_traffic", t(subsets={"v1": -10, "v2": 110}), ["weight of subset v1 is -10", "0 to 100"]),
        Row("T03", "istio_traffic", t(subsets={"v1": 50.5, "v2": 49.5}), ["50.5", "whole number"]),
        Row("T04", "istio_traffic", t(subsets={"v1": "fifty", "v2": 50}), ["'fifty'", "whole number"]),
        Row("T05", "istio_traffic", t(subsets={"v1": True, "v2": 0}), ["True", "whole number"]),
        Row("T06", "istio_traffic", t(subsets={}), ["mapping of subset to weight"]),
        Row("T07", "istio_traffic", t(subsets={"v1": 0, "v2": 0}), ["add up to 0"]),
        Row("T08", "istio_traffic", t(subsets={"v1": "1e2"}), ["'1e2'", "whole number"]),
        Row("T09", "istio_traffic", t(subsets={"v1": None}), ["None", "whole number"]),
        Row("T10", "istio_traffic", t(subsets=[90, 10]), ["subsets", "dict"]),
        # subsets
        Row("T11", "istio_traffic", t(subsets={"v1": 90, "v9": 10}), ["v9", "DestinationRule"]),
        Row("T12", "istio_traffic", t(subsets={"V1": 100}), ["'V1'", DNS_LABEL]),
        Row("T13", "istio_traffic", t(subsets={"v_1": 100}), ["'v_1'", DNS_LABEL]),
        Row("T14", "istio_traffic", t(subsets={"": 100}), ["subset name is empty", DNS_LABEL]),
        Row("T15", "istio_traffic", t(subsets={"v" * 64: 100}), ["64 characters", DNS_LABEL]),
        Row("T16", "istio_traffic", t(subsets={"v1.2": 100}), ["'v1.2'", DNS_LABEL]),
        Row("T17", "istio_traffic", t(subset_labels={"v4": "version=v4"}), ["subset_labels.v4", "mapping of pod labels"]),
        Row("T18", "istio_traffic", t(subset_labels={"v4": {}}), ["subset_labels.v4", "mapping of pod labels"]),
        Row("T19", "istio_traffic", t(subset_labels={"V4": {"version": "v4"}}), ["'V4'", DNS_LABEL]),
        Row("T20", "istio_traffic", t(match=[{"subset": "v2", "headers": {"end-user": "jason"}}],
                                      subsets={"v1": 100}, mirror={"subset": "v2", "percent": 10},
                                      subset_labels={"v2": {"version": "v2"}, "v7": None}),
            ["subset_labels.v7", "mapping of pod labels"]),
        # regexes: what Envoy's RE2 refuses, including what Python's re accepts
        Row("T21", "istio_traffic", t(match=header("([a-")), [RE2, "missing ]", "header end-user"]),
        Row("T22", "istio_traffic", t(match=header("^(?=jason).*")), [RE2, "(?=", "lookarounds"]),
        Row("T23", "istio_traffic", t(match=header(r"(ja)son\1")), [RE2, "invalid escape sequence"]),
        Row("T24", "istio_traffic", t(match=header("a{1001}")), [RE2, "repetition"]),
        Row("T25", "istio_traffic", t(match=header("(?<!x)jason")), [RE2, "(?<"]),
        Row("T26", "istio_traffic", t(match=header("a**")), [RE2, "bad repetition operator"]),
        Row("T27", "istio_traffic", t(match=header("(?i)jason(?#comment)")), [RE2, "(?#"]),
        Row("T28", "istio_traffic", t(match=header("")), ["header end-user needs a non-empty string for regex"]),
        # other match input
        Row("T29", "istio_traffic", t(match=[{"subset": "v2", "headers": {"End User": "jason"}}]),
            ["header name 'End User' is not valid"]),
        Row("T30", "istio_traffic", t(match=[{"subset": "v2", "headers": {"end-user": {"suffix": "on"}}}]),
            ["header end-user must be a string", "regex"]),
        Row("T31", "istio_traffic", t(match=[{"headers": {"end-user": "jason"}}]), ["subset", "required"]),
        Row("T32", "istio_traffic", t(match=[{"subset": "Bad_Sub", "headers": {"end-user": "jason"}}]),
            ["'Bad_Sub'", DNS_LABEL]),
        Row("T33", "istio_traffic", t(match=[{"subset": "v2", "cookie": {"name": "user"}}]),
            ["cookie must be {name: ..., value: ...}"]),
        Row("T34", "istio_traffic", t(match=[{"subset": "v2"}]), ["needs headers or cookie"]),
        # mirror
        Row("T35", "istio_traffic", t(mirror={"subset": "v2", "percent": 150}), ["mirror.percent is 150", "at most 100"]),
        Row("T36", "istio_traffic", t(mirror={"subset": "v2", "percent": 0}), ["mirror.percent is 0", "more than 0"]),
        Row("T37", "istio_traffic", t(mirror={"subset": "V2"}), ["mirror subset name 'V2'", DNS_LABEL]),
        # durations
        Row("T38", "istio_traffic", t(timeout="5 seconds"), ["timeout is '5 seconds'", "not a duration"]),
        Row("T39", "istio_traffic", t(timeout="10"), ["timeout is '10'", "not a duration"]),
        Row("T40", "istio_traffic", t(retries={"attempts": 2, "perTryTimeout": "2x"}),
            ["retries.perTryTimeout is '2x'", "not a duration"]),
        Row("T41", "istio_traffic", t(state="absent", subsets=None, timeout="5s"), ["only apply with state=present"]),
        # names
        Row("T42", "istio_traffic", t(namespace="Bookinfo"), ["namespace 'Bookinfo'", DNS_LABEL]),
        Row("T43", "istio_traffic", t(namespace="book_info"), ["namespace 'book_info'", DNS_LABEL]),
        Row("T44", "istio_traffic", t(namespace="n" * 64), ["64 characters", DNS_LABEL]),
        Row("T45", "istio_traffic", t(service="Reviews"), ["service 'Reviews'", DNS_SUBDOMAIN]),
        Row("T46", "istio_traffic", t(service="reviews..bookinfo"), ["'reviews..bookinfo'", DNS_SUBDOMAIN]),
        Row("T47", "istio_traffic", t(virtual_service="Reviews_VS"), ["virtual_service 'Reviews_VS'", DNS_SUBDOMAIN]),
        Row("T48", "istio_traffic", t(destination_rule="-dr"), ["destination_rule '-dr'", DNS_SUBDOMAIN]),
        Row("T49", "istio_traffic", t(service="nosuchservice"), ["Service bookinfo/nosuchservice does not exist"]),
        Row("T50", "istio_traffic", t(api_version="networking.istio.io/v2"), ["api_version", "networking.istio.io/v1"]),
        Row("T51", "istio_traffic", t(state="gone"), ["state", "present, absent"]),
        Row("T52", "istio_traffic", t(prune_subsets="maybe"), ["prune_subsets", "bool"]),
    ]


def namespace_rows(ctx):
    def n(names, **args):
        return dict(dict(kubeconfig=ctx.kubeconfig, name=names), **args)
    return [
        Row("N01", "istio_namespace", n(["campaign-good", "Bad_NS"]), ["namespace[1] 'Bad_NS'", DNS_LABEL]),
        Row("N02", "istio_namespace", n(["-leading"]), ["'-leading'", DNS_LABEL]),
        Row("N03", "istio_namespace", n(["trailing-"]), ["'trailing-'", DNS_LABEL]),
        Row("N04", "istio_namespace", n(["a.b"]), ["'a.b'", DNS_LABEL]),
        Row("N05", "istio_namespace", n([""]), ["namespace is empty", DNS_LABEL]),
        Row("N06", "istio_namespace", n(["x" * 64]), ["64 characters", DNS_LABEL]),
        Row("N07", "istio_namespace", n(["ns with space"]), ["'ns with space'", DNS_LABEL]),
        Row("N08", "istio_namespace", n(["campaign-a", "campaign-b", "UPPER", "under_score"]),
            ["namespace[2] 'UPPER'", "namespace[3] 'under_score'"]),
        Row("N09", "istio_namespace", n(["campaign-rev"], injection="revision"), ["revision"]),
        Row("N10", "istio_namespace", n(["campaign-rev"], injection="revision", revision="1.24.0"),
            ["revision '1.24.0'", DNS_LABEL]),
        Row("N11", "istio_namespace", n(["campaign-rev"], injection="revision", revision="Canary"),
            ["revision 'Canary'", DNS_LABEL]),
        Row("N12", "istio_namespace", n(["campaign-x"], injection="on"), ["injection", "enabled"]),
        Row("N13", "istio_namespace", n(["campaign-x"], state="deleted"), ["state", "present, absent"]),
    ]


def release(ctx, **args):
    base = dict(kubeconfig=ctx.kubeconfig, service="reviews", namespace="bookinfo", action="start", canary="v2",
                steps=[10, 50, 100], prometheus={"url": ctx.prometheus_url}, analysis={"success_rate": 99})
    base.update(args)
    return base


def release_rows(ctx):
    r = functools.partial(release, ctx)
    return [
        Row("R01", "istio_release", r(steps=[10, 50, 30]), ["step plan must increase", "30%"]),
        Row("R02", "istio_release", r(steps=[10, 150]), ["150"]),
        Row("R03", "istio_release", r(steps=["ten", 100]), ["'ten'"]),
        Row("R04", "istio_release", r(steps=[-10, 100]), ["-10"]),
        Row("R05", "istio_release", r(steps=None, step_weight=-5), ["step_weight"]),
        Row("R06", "istio_release", r(step_weight=10), ["mutually exclusive", "steps", "step_weight"]),
        Row("R07", "istio_release", r(steps=None, step_weight=10, max_weight=150), ["max_weight"]),
        Row("R08", "istio_release", r(canary="V2"), ["canary name 'V2'", DNS_LABEL]),
        Row("R09", "istio_release", r(stable="v_1"), ["stable name 'v_1'", DNS_LABEL]),
        Row("R10", "istio_release", r(stable="v2"), ["stable", "canary", "v2"]),
        Row("R11", "istio_release", r(canary="v9"), ["v9"]),
        Row("R12", "istio_release", r(name="Release_1"), ["release name 'Release_1'", DNS_LABEL]),
        Row("R13", "istio_release", r(analysis={"interval": "1 minute", "success_rate": 99}), ["interval", "1 minute"]),
        Row("R14", "istio_release", r(analysis={"window": "-5s", "success_rate": 99}), ["window", "-5s"]),
        Row("R15", "istio_release", r(analysis={"success_rate": 150}), ["success_rate", "150"]),
        Row("R16", "istio_release", r(analysis={"success_rate": -1}), ["success_rate", "-1"]),
        Row("R17", "istio_release", r(analysis={"latency_p99": -5}), ["latency_p99", "-5"]),
        Row("R18", "istio_release", r(analysis={"success_rate": 99, "min_requests": -1}), ["min_requests", "-1"]),
        Row("R19", "istio_release", r(analysis={"success_rate": 99, "threshold": 1000}), ["threshold", "1000"]),
        Row("R20", "istio_release", r(analysis={"checks": [{"name": "errors", "query": "vector(1)"}]}),
            ["checks[0]", "min and/or max"]),
        Row("R21", "istio_release", r(analysis={"checks": [{"name": "errors"}]}), ["checks[0]", "query"]),
        Row("R22", "istio_release", r(prometheus={"url": "ftp://prometheus:9090"}),
            ["prometheus.url", "ftp://prometheus:9090", "http://"]),
        Row("R23", "istio_release", r(prometheus={"url": "prometheus:9090"}), ["prometheus.url", "prometheus:9090"]),
        Row("R24", "istio_release", r(prometheus={"url": "http://"}), ["prometheus.url 'http://'", "with a host"]),
        Row("R29", "istio_release", r(prometheus={"url": "http://prometheus:99999"}), ["prometheus.url", "port"]),
        Row("R25", "istio_release", r(action="launch"), ["action", "start"]),
        Row("R26", "istio_release", r(canary=None), ["canary"]),
        Row("R27", "istio_release", r(namespace="Bookinfo"), ["namespace 'Bookinfo'", DNS_LABEL]),
        Row("R28", "istio_release", r(service="reviews_svc"), ["service 'reviews_svc'", DNS_SUBDOMAIN]),
    ]


def burst(ctx, **args):
    base = dict(kubeconfig=ctx.kubeconfig, prometheus={"url": ctx.prometheus_url})
    base.update(args)
    return base


def burst_rows(ctx):
    b = functools.partial(burst, ctx)
    return [
        Row("B01", "istio_burst", b(high=5, low=10), ["high (5.0) must be above low (10.0)"]),
        Row("B02", "istio_burst", b(low=-1), ["low (-1.0) must be 0 or more"]),
        Row("B03", "istio_burst", b(step=0), ["step (0) must be between 1 and 100"]),
        Row("B04", "istio_burst", b(step=150), ["step (150) must be between 1 and 100"]),
        Row("B05", "istio_burst", b(burst_subset="primary"), ["both 'primary'"]),
        Row("B06", "istio_burst", b(burst_subset="Burst"), ["burst_subset name 'Burst'", DNS_LABEL]),
        Row("B07", "istio_burst", b(namespace="Default"), ["namespace 'Default'", DNS_LABEL]),
        Row("B08", "istio_burst", b(prometheus={"url": "prometheus:9090"}), ["prometheus:9090"]),
        Row("B09", "istio_burst", b(mode="watch", interval=0), ["interval > 0"]),
        Row("B10", "istio_burst", b(duration=-1), ["duration must be more than 0"]),
        Row("B11", "istio_burst", b(source_workload="Front_End"), ["source_workload 'Front_End'", DNS_SUBDOMAIN]),
        Row("B12", "istio_burst", b(mode="forever"), ["mode", "once"]),
        Row("B13", "istio_burst", b(window="15 s"), ["window", "15 s"]),
    ]


def query_rows(ctx):
    def q(**args):
        return dict(dict(url=ctx.prometheus_url, metric="success_rate", service="reviews", namespace="bookinfo"), **args)
    return [
        Row("P01", "prometheus_query", q(url="ftp://prometheus:9090"), ["ftp://prometheus:9090"]),
        Row("P02", "prometheus_query", q(service=None), ["service"]),
        Row("P03", "prometheus_query", q(window="1 minute"), ["1 minute"]),
        Row("P04", "prometheus_query", q(start="now-5m", step="0s"), ["step must be more than 0"]),
        Row("P08", "prometheus_query", q(url="http://"), ["url 'http://'", "with a host"]),
        Row("P05", "prometheus_query", q(time="yesterday"), ["yesterday"]),
        Row("P06", "prometheus_query", q(metric="errors"), ["metric", "success_rate"]),
        Row("P07", "prometheus_query", q(url="http://127.0.0.1:1"), ["127.0.0.1:1"]),
    ]


def remote(ctx, **args):
    base = dict(kubeconfig=ctx.kubeconfig, cluster="campaign", wait_timeout=5,
                targets=[{"name": "other", "kubeconfig": ctx.kubeconfig}])
    base.update(args)
    return base


def remote_secret_rows(ctx):
    def target(**auth):
        return remote(ctx, targets=[dict(name="other", **auth)])
    return [
        Row("M01", "istio_remote_secret", remote(ctx, cluster="Cluster_1"), ["cluster 'Cluster_1'", DNS_LABEL]),
        Row("M02", "istio_remote_secret", target(kubeconfig=ctx.missing), ["Target other", "does not exist",
                                                                           "nothing was changed"]),
        Row("M03", "istio_remote_secret", target(kubeconfig=ctx.kubeconfig, context="nope"), ["Target other", "nope"]),
        Row("M04", "istio_remote_secret", target(kubeconfig=ctx.unreachable), ["Target other", "127.0.0.1:1"]),
        Row("M05", "istio_remote_secret", target(kubeconfig=ctx.malformed), ["Target other", "kubeconfig"]),
        Row("M06", "istio_remote_secret", target(kubeconfig=ctx.expired), ["Target other", "401"]),
        Row("M07", "istio_remote_secret", target(kubeconfig=ctx.wrong_ca), ["Target other", "certificate"]),
        Row("M08", "istio_remote_secret", target(), ["targets[0] (other) gives no kubeconfig, context or host"]),
        Row("M09", "istio_remote_secret", remote(ctx, targets=[{"name": "one", "kubeconfig": ctx.kubeconfig},
                                                               {"name": "two", "kubeconfig": ctx.missing}]),
            ["Target two", "does not exist"]),
        Row("M10", "istio_remote_secret", remote(ctx, wait_timeout=0), ["wait_timeout must be at least 1"]),
        Row("M11", "istio_remote_secret", remote(ctx, server="10.0.0.1:6443"), ["10.0.0.1:6443", "not a URL"]),
        Row("M12", "istio_remote_secret", remote(ctx, state="absent", rotate=True), ["rotate only applies"]),
        Row("M13", "istio_remote_secret", remote(ctx, namespace="Istio_System"), ["namespace 'Istio_System'",
                                                                                  DNS_LABEL]),
        Row("M14", "istio_remote_secret", remote(ctx, service_account="Reader_SA"), ["service_account 'Reader_SA'",
                                                                                     DNS_SUBDOMAIN]),
        Row("M15", "istio_remote_secret", remote(ctx, namespace="absent-ns"),
            ["Target other", "namespace absent-ns does not exist there", "nothing was changed"]),
    ]


def other_module_rows(ctx):
    def ca(**args):
        return dict(dict(kubeconfig=ctx.kubeconfig, cluster="campaign", root_dir=ctx.ca_dir), **args)

    def pre(**args):
        return dict(dict(kubeconfig=ctx.kubeconfig, version="1.28.0"), **args)
    return [
        Row("C01", "istio_cacerts", ca(cluster="Bad_Cluster"), ["cluster 'Bad_Cluster'", DNS_LABEL]),
        Row("C02", "istio_cacerts", ca(days=0), ["days must be at least 1"]),
        Row("C03", "istio_cacerts", ca(renew_within_days=800), ["renew_within_days (800)"]),
        Row("C04", "istio_cacerts", ca(key_type="dsa"), ["key_type", "rsa"]),
        Row("C05", "istio_cacerts", ca(namespace="Istio_System"), ["namespace 'Istio_System'", DNS_LABEL]),
        Row("C06", "istio_cacerts", ca(root_dir=None), ["root_dir"]),
        Row("V01", "istio_precheck", pre(version="latest"), ["latest"]),
        Row("V02", "istio_precheck", pre(version="1.x"), ["1.x"]),
        Row("V03", "istio_precheck", pre(mode="canary"), ["revision"]),
        Row("V04", "istio_precheck", pre(revision="1.24"), ["revision '1.24'", DNS_LABEL]),
        Row("V05", "istio_precheck", pre(namespace="Istio-System"), ["namespace 'Istio-System'", DNS_LABEL]),
        Row("I01", "istio_info", dict(kubeconfig=ctx.kubeconfig, proxies="sometimes"), ["proxies", "bool"]),
    ]


def kubeconfig_rows(ctx):
    """The same good istio_namespace call with a bad connection: each must fail before any write."""
    def k(**auth):
        return dict(dict(name=["campaign-kubeconfig"]), **auth)
    return [
        Row("K01", "istio_namespace", k(kubeconfig=ctx.missing), ["kubeconfig file", "does not exist"]),
        Row("K02", "istio_namespace", k(kubeconfig=ctx.malformed), ["kubeconfig"]),
        Row("K03", "istio_namespace", k(kubeconfig=ctx.kubeconfig, context="nope"), ["nope"]),
        Row("K04", "istio_namespace", k(kubeconfig=ctx.expired), ["401"]),
        Row("K05", "istio_namespace", k(kubeconfig=ctx.wrong_token), ["401"]),
        Row("K06", "istio_namespace", k(kubeconfig=ctx.wrong_ca), ["certificate"]),
        Row("K07", "istio_namespace", k(kubeconfig=ctx.unreachable), ["127.0.0.1:1"]),
        Row("K08", "istio_namespace", k(host="kubesim:6443", api_key="campaign-token"), ["kubesim:6443", "URL"]),
        Row("K09", "istio_traffic", traffic(ctx, kubeconfig=ctx.expired), ["401"]),
        Row("K10", "istio_release", release(ctx, kubeconfig=ctx.wrong_ca), ["certificate"]),
    ]


def module_rows(ctx):
    return (traffic_rows(ctx) + namespace_rows(ctx) + release_rows(ctx) + burst_rows(ctx) + query_rows(ctx)
            + remote_secret_rows(ctx) + other_module_rows(ctx) + kubeconfig_rows(ctx))


def role_rows(ctx):
    """(id, role, vars, words): run in one ansible-playbook, each role included with its vars."""
    def r(rid, role, words, **variables):
        return Row(rid, "role:" + role, variables, words)
    spec = "argument"  # Ansible's argument spec failure says "Validation of arguments failed" ... "argument"
    return [
        r("L01", "mesh_namespace", ["mesh_namespace_list[1].name 'Bad_NS'", DNS_LABEL],
          mesh_namespace_list=[{"name": "campaign-role-good"}, {"name": "Bad_NS"}]),
        r("L02", "mesh_namespace", ["campaign-role-x", "injection revision needs"],
          mesh_namespace_list=[{"name": "campaign-role-x", "injection": "revision"}]),
        r("L03", "mesh_namespace", [spec, "injection"],
          mesh_namespace_list=[{"name": "campaign-role-x", "injection": "on"}]),
        r("L04", "mesh_namespace", ["mesh_namespace_list is YAML for dict, not a list"],
          mesh_namespace_list="name: campaign-role-x"),
        r("L05", "mesh_namespace", ["revision '1.24'", DNS_LABEL],
          mesh_namespace_list=[{"name": "campaign-role-x", "injection": "revision", "revision": "1.24"}]),
        r("L06", "bookinfo", ["bookinfo_namespace 'Book_Info'", DNS_LABEL], bookinfo_namespace="Book_Info"),
        r("L07", "bookinfo", ["bookinfo_routes.reviews is \"v9\""], bookinfo_routes={"reviews": "v9"}),
        r("L08", "bookinfo", ["bookinfo_routes names \"nope\"", "bookinfo_routes.ratings"],
          bookinfo_routes={"nope": "v1", "ratings": "v7"}),
        r("L09", "bookinfo", [spec, "bookinfo_state"], bookinfo_state="gone"),
        r("L10", "bookinfo", ["bookinfo_image_registry", "ends with '/'"], bookinfo_image_registry="http://mirror/"),
        r("L11", "bookinfo", ["bookinfo_revision '1.24'", DNS_LABEL], bookinfo_injection="revision",
          bookinfo_revision="1.24"),
        r("L12", "hashapp", ["hashapp_worker_weights", "add up to 100"],
          hashapp_worker_weights={"primary": 60, "burst": 60}),
        r("L13", "hashapp", ["hashapp_worker_weights", "add up to 100"],
          hashapp_worker_weights={"primary": -10, "burst": 110}),
        r("L14", "hashapp", ["hashapp_worker_weights", "whole numbers"],
          hashapp_worker_weights={"primary": "x", "burst": 100}),
        r("L15", "hashapp", ["hashapp_worker_weights names canary"],
          hashapp_worker_weights={"primary": 50, "canary": 50}),
        r("L16", "hashapp", ["hashapp_namespace 'Hash'", DNS_LABEL], hashapp_namespace="Hash"),
        r("L17", "release", ["release_steps", "release_step_weight"], release_steps=[10, 5]),
        r("L18", "release", ["release_success_rate=150"], release_success_rate=150),
        r("L19", "release", ["release_prometheus_url", "http://"], release_prometheus_url="prometheus:9090"),
        r("L20", "release", ["release_canary_version 'V2'", DNS_LABEL], release_canary_version="V2"),
        r("L21", "release", [spec, "release_action"], release_action="launch"),
        r("L22", "release", ["release_namespace 'Bookinfo'", DNS_LABEL], release_namespace="Bookinfo"),
        r("L23", "release", ["release_threshold=500"], release_threshold=500),
        r("L24", "release", ["release_name 'my.release'", DNS_LABEL], release_name="my.release"),
        r("L25", "burst", ["burst_high (5)", "burst_low (10)"], burst_high=5, burst_low=10),
        r("L26", "burst", ["burst_step (0)"], burst_step=0),
        r("L27", "burst", ["burst_primary_subset 'Primary'", DNS_LABEL], burst_primary_subset="Primary"),
        r("L28", "burst", [spec, "burst_mode"], burst_mode="forever"),
        r("L29", "control_plane", [spec, "control_plane_method"], control_plane_method="magic"),
        r("L30", "control_plane", ["revision '1.24'", DNS_LABEL], control_plane_revision="1.24"),
        r("L31", "control_plane", ["latest"], control_plane_version="latest"),
        r("L32", "control_plane", [spec, "control_plane_istiod_values", "dict"],
          control_plane_istiod_values="{{ lookup('ansible.builtin.file', '%s') }}" % ctx.bad_values),
        r("L33", "control_plane", ["namespace 'Istio_System'", DNS_LABEL], control_plane_namespace="Istio_System"),
        r("L34", "gateways", [spec, "gateways_method"], gateways_method="magic"),
        r("L35", "addons", [spec, "addons_state"], addons_state="gone"),
        r("L36", "multicluster", [spec, "multicluster_state"], multicluster_state="gone"),
        r("L38", "control_plane", ["from_yaml", "while parsing", "line 3"],
          control_plane_istiod_values="{{ lookup('ansible.builtin.file', '%s') | ansible.builtin.from_yaml }}"
          % ctx.bad_values),
        r("L39", "control_plane", ["1.28", "MAJOR.MINOR.PATCH"], control_plane_version="1.28"),
        r("L40", "addons", ["addons_source=\"htp://example.com/addons\"", "neither"], addons_source="htp://example.com/addons"),
        r("L41", "control_plane", ["/nonexistent/charts"], control_plane_charts="/nonexistent/charts"),
        r("L42", "gateways", ["gateways_version=\"x.y\"", "MAJOR.MINOR.PATCH"], gateways_version="x.y"),
        r("L43", "release", [spec, "release_istio_api_version"], release_istio_api_version="networking.istio.io/v2"),
        r("L44", "burst", ["burst_prometheus_url=\"prometheus\"", "http://"], burst_prometheus_url="prometheus"),
        r("L45", "hashapp", ["hashapp_revision 'Rev'", DNS_LABEL], hashapp_injection="revision", hashapp_revision="Rev"),
        r("L46", "mesh_namespace", ["mesh_namespace_list[0].name 'Bad.Dots'", DNS_LABEL],
          mesh_namespace_list=[{"name": "Bad.Dots"}]),
        r("L37", "mesh_app", [spec, "mesh_app_state"], mesh_app_state="gone", mesh_app_name="x",
          mesh_app_namespace="x"),
        # Valid variables, but from a play: the internal role refuses, naming the roles to use.
        r("L47", "mesh_app", ["meshops.istio.mesh_app is an internal role", "meshops.istio.bookinfo and "
                              "meshops.istio.hashapp", "from a play"], mesh_app_name="x", mesh_app_namespace="x"),
    ]
