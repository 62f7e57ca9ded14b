# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Talking to the Kubernetes API, on top of kubernetes.core.

From kubernetes.core: the client and auth (``get_api_client``: kubeconfig path or dict, context,
host/token, TLS, proxies, K8S_AUTH_* variables), kind lookup, reads, patches and deletes through its
``K8SClient`` (which adds the server-side dry run in check mode), and the readiness rules of its waiter.

Ours, each where tests/integration/test_kube_costs.py counts what kubernetes.core's way would cost on the
same 14 Bookinfo-shaped objects (figures in the comments below):

* ``Cluster.apply_objects``: live state read a kind at a time (``LiveObjects``) and no write for an object
  that already holds everything we apply (``already_applied``), a report per object and a diff;
* ``Cluster.wait_ready``: one LIST per kind and namespace per poll instead of a GET per object;
* ``KubeError``/``explain``: one exception type with kind/name/namespace/status and a message that says
  what to do (kubernetes.core's CoreException keeps only a message, without the HTTP status);
* a timeout on every request (option ``request_timeout``) and a bounded retry of what is safe to retry
  (``Backoff``), with a read after a write whose outcome is unknown: kubernetes.core retries no request.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os
import random
import re
import sys
import time

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import (
        AUTH_ARG_SPEC as _K8S_AUTH_ARG_SPEC,
    )
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import (
        CoreException,
    )
    HAS_K8S_CORE = True
except ImportError:  # pragma: no cover - reported by new_module()
    _K8S_AUTH_ARG_SPEC = {}
    HAS_K8S_CORE = False


# Importing the Kubernetes client (kubernetes.client loads every API model) and urllib3 is most of a
# module's start-up. They are imported when a Cluster is built, not with this file: a module that
# only uses the pure parts (prometheus_query's retry policy, input checks that fail before any
# request) does not pay for them.
class _Library:
    """The kubernetes and urllib3 names this file uses, imported on first use."""

    def __getattr__(self, name):
        from kubernetes.client import Configuration, rest
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError, ResourceNotUniqueError
        from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError
        from urllib3.exceptions import TimeoutError as Urllib3TimeoutError
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
        self.__dict__.update(Configuration=Configuration, rest=rest, ApiException=ApiException,
                             NotFoundError=NotFoundError, ResourceNotFoundError=ResourceNotFoundError,
                             ResourceNotUniqueError=ResourceNotUniqueError, Urllib3HTTPError=HTTPError,
                             NewConnectionError=NewConnectionError, ProtocolError=ProtocolError,
                             Urllib3TimeoutError=Urllib3TimeoutError, get_api_client=get_api_client)
        return self.__dict__[name]


_lib = _Library()


class _NeverRaised(Exception):
    """Stands for a library's exception class while the library is not imported: no such exception can
    exist yet, so an isinstance check against this one is right and imports nothing."""


def _loaded(module_name, attr):
    module = sys.modules.get(module_name)
    return getattr(module, attr, _NeverRaised) if module is not None else _NeverRaised


def _api_exception():
    return _loaded("kubernetes.client.exceptions", "ApiException")


def _urllib3(attr):
    return _loaded("urllib3.exceptions", attr)


FIELD_MANAGER = "meshops-istio"
HIDDEN = "<hidden>"

AUTH_ARG_SPEC = copy.deepcopy(_K8S_AUTH_ARG_SPEC)

# Options every module has beside the auth options (documented by the meshops.istio.api_options
# fragment). Not named ``timeout``: kubernetes.core's modules use that for waits.
DEFAULT_REQUEST_TIMEOUT = 30.0
API_ARG_SPEC = dict(request_timeout=dict(type="float", default=DEFAULT_REQUEST_TIMEOUT))

# Fields the server owns; they never take part in "would this apply change anything".
_SERVER_METADATA = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation",
                    "selfLink")


def _names(spec):
    """Every name an argument spec answers to: its options and their aliases."""
    names = {}
    for option, settings in spec.items():
        names[option] = option
        for alias in (settings or {}).get("aliases") or ():
            names[alias] = option
    return names


AUTH_OPTION_NAMES = frozenset(_names(AUTH_ARG_SPEC))


def shadowed_auth_options(argument_spec):
    """[(our name, auth option name)] for every option or alias of ``argument_spec`` that is also a
    name of one of kubernetes.core's auth options."""
    auth = _names(AUTH_ARG_SPEC)
    return sorted((ours, auth[ours]) for ours in _names(argument_spec) if ours in auth)


def new_module(argument_spec, name=None, **kwargs):
    """An AnsibleK8SModule with kubernetes.core's auth options merged into ``argument_spec``.

    An option of ours with the name of an auth option would replace it, so that (for example) a
    bearer token from K8S_AUTH_API_KEY would go to whatever that option holds instead of the API
    server: such a module is refused before it is built."""
    clashes = shadowed_auth_options(argument_spec)
    if clashes:
        if name is None:
            caller = sys._getframe(1).f_globals
            name = os.path.splitext(os.path.basename(caller.get("__file__") or "?"))[0]
        raise ValueError("module %s: option %s has the name of kubernetes.core's auth option %s (the "
                         "connection to the API server); rename the option."
                         % (name, ", ".join(repr(ours) for ours, _auth in clashes),
                            ", ".join(sorted(set(repr(auth) for _ours, auth in clashes)))))
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(copy.deepcopy(API_ARG_SPEC))
    spec.update(argument_spec)
    kwargs.setdefault("supports_check_mode", True)
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
    return AnsibleK8SModule(argument_spec=spec, **kwargs)


class KubeError(Exception):
    """An API failure, with where it happened and a message that says what to do."""

    def __init__(self, message, kind=None, name=None, namespace=None, status=None, reason=None):
        super(KubeError, self).__init__(message)
        self.message = message
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.status = status
        self.reason = reason

    def as_dict(self):
        return dict(kind=self.kind, name=self.name, namespace=self.namespace,
                    status=self.status, reason=self.reason)


def run(module, action):
    """Run ``action()``; a KubeError becomes fail_json with its message, never a traceback."""
    try:
        return action()
    except KubeError as e:
        module.fail_json(msg=e.message, error=e.as_dict())


def describe(kind, name=None, namespace=None):
    if not name:
        return kind
    return "%s %s/%s" % (kind, namespace, name) if namespace else "%s %s" % (kind, name)


def _status_body(exc):
    try:
        return json.loads(exc.body)
    except (TypeError, ValueError, AttributeError):
        return {}


def explain(exc, host, verb, kind, name=None, namespace=None):
    """Turn a client exception into a KubeError a person can act on.

    Ours: kubernetes.core's K8sService turns every failure into a CoreException("Failed to ... object:
    <body>") without the status, the object or what to do; ``_call`` needs the status to retry."""
    what = describe(kind, name, namespace)
    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, _api_exception()):
        status = exc.status
        body = _status_body(exc)
        reason = body.get("reason") or exc.reason
        detail = body.get("message") or exc.reason or ""
        if status == 401:
            msg = ("The Kubernetes API at %s rejected the credentials (401 Unauthorized) while trying to "
                   "%s %s: the token or client certificate is invalid or has expired. Refresh the "
                   "kubeconfig (or api_key) and run again." % (host, verb, what))
        elif status == 403:
            msg = ("Not allowed to %s %s (403 Forbidden): %s. Grant the user in this kubeconfig the RBAC "
                   "permission, or run with a kubeconfig that has it." % (verb, what, detail))
        elif status == 409:
            msg = ("Conflict while trying to %s %s (409): %s. Another client changed the object or owns "
                   "these fields; run again, or resolve the ownership conflict." % (verb, what, detail))
        elif status == 422:
            causes = (body.get("details") or {}).get("causes") or []
            fields = "; ".join("%s: %s" % (c.get("field", "?"), c.get("message", "")) for c in causes)
            msg = "The API refused %s as invalid (422): %s" % (what, fields or detail)
        elif status == 404:
            msg = "%s was not found (404): %s" % (what, detail)
        else:
            msg = "Failed to %s %s: %s %s" % (verb, what, status, detail)
        return KubeError(msg, kind, name, namespace, status, reason)
    if isinstance(exc, (_urllib3("HTTPError"), OSError)):
        return KubeError("Cannot reach the Kubernetes API server at %s (%s). Check that the cluster is "
                         "running and that kubeconfig/context (or host) point at it." % (host, exc),
                         kind, name, namespace, None, "Unreachable")
    if HAS_K8S_CORE and isinstance(exc, CoreException):
        return KubeError(str(exc), kind, name, namespace)
    return KubeError("Failed to %s %s: %s" % (verb, what, exc), kind, name, namespace)


def _url_of(exc, module, auth=None):
    """The server a failed connection went to, as precisely as we know it."""
    pool = getattr(exc, "pool", None)
    if pool is not None:
        return "%s://%s:%s" % (pool.scheme, pool.host, pool.port)
    params = auth if auth is not None else module.params
    # The module's own cluster may come from K8S_AUTH_* alone; another cluster's auth is all given.
    host = params.get("host") or (os.environ.get("K8S_AUTH_HOST") if auth is None else None)
    if host:
        return host
    if params.get("context"):
        return "context %s" % params["context"]
    return "the kubeconfig's current context"


class _WithoutAuthEnvironment:
    """Hides the K8S_AUTH_* variables while a client for another cluster is built.

    They describe the module's own cluster: kubernetes.core would fill every auth option a target
    leaves out from them, and a K8S_AUTH_HOST + K8S_AUTH_API_KEY pair even wins over the target's
    kubeconfig, which would send the target's requests (and that token) to the wrong cluster."""

    def __enter__(self):
        self.saved = dict((k, v) for k, v in os.environ.items() if k.startswith("K8S_AUTH_"))
        for key in self.saved:
            del os.environ[key]
        return self

    def __exit__(self, *exc):
        os.environ.update(self.saved)
        return False


def strip_server_fields(obj):
    """A copy of ``obj`` without the bookkeeping the server adds (for diffs and comparisons)."""
    if not obj:
        return obj
    obj = copy.deepcopy(obj)
    meta = obj.get("metadata", {})
    for key in _SERVER_METADATA:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if not annotations:
        meta.pop("annotations", None)
    obj.pop("status", None)
    return obj


def hide_secret_data(obj):
    """Secrets appear in diffs and results with their keys but never their values."""
    if not obj or obj.get("kind") != "Secret":
        return obj
    obj = copy.deepcopy(obj)
    for field in ("data", "stringData"):
        if obj.get(field):
            obj[field] = dict((key, HIDDEN) for key in obj[field])
    return obj


def is_subset(desired, live):
    """True when every field of ``desired`` is already in ``live`` with the same value."""
    if isinstance(desired, dict):
        # A null in an applied object sets nothing (server-side apply drops it): the field may be absent.
        return isinstance(live, dict) and all(
            live.get(key) is None if value is None else key in live and is_subset(value, live[key])
            for key, value in desired.items())
    if isinstance(desired, list):
        return (isinstance(live, list) and len(desired) == len(live)
                and all(is_subset(d, lv) for d, lv in zip(desired, live)))
    return desired == live


def _owned_fields_within(fields, desired):
    """True when every field in a managedFields ``fieldsV1`` tree is present in ``desired``.

    Server-side apply removes fields a manager applied before and no longer applies, so an
    object may only be left alone when we still apply every field we own."""
    for key, subtree in fields.items():
        if key == ".":
            continue
        kind, _sep, value = key.partition(":")
        if kind == "f":
            if not isinstance(desired, dict) or value not in desired:
                return False
            child = desired[value]
        elif kind == "k":
            # A key field missing from ``desired`` was defaulted by the server (e.g. protocol: TCP).
            wanted = json.loads(value)
            matches = [item for item in desired or [] if isinstance(item, dict)
                       and all(item.get(k, v) == v for k, v in wanted.items())] if isinstance(desired, list) else []
            if not matches:
                return False
            child = matches[0]
        elif kind == "v":
            if not isinstance(desired, list) or json.loads(value) not in desired:
                return False
            continue
        elif kind == "i":
            if not isinstance(desired, list) or int(value) >= len(desired):
                return False
            child = desired[int(value)]
        else:
            return False
        if subtree and not _owned_fields_within(subtree, child):
            return False
    return True


def already_applied(desired, live, field_manager=FIELD_MANAGER):
    """True when applying ``desired`` to ``live`` cannot change anything, so no write is needed."""
    if live is None or not is_subset(desired, live):
        return False
    for entry in live.get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") == field_manager and entry.get("operation") == "Apply":
            return _owned_fields_within(entry.get("fieldsV1") or {}, desired)
    # The API server keeps no entry for a manager that owns no field: an object given by its name alone (a
    # ServiceAccount, a Namespace) leaves none, and applying it again would set nothing.
    return not _sets_fields(desired)


_IDENTITY = ("apiVersion", "kind")


def _sets_fields(desired):
    """True when ``desired`` holds any field beyond apiVersion, kind, metadata.name and metadata.namespace."""
    meta = desired.get("metadata") or {}
    return (any(key not in _IDENTITY + ("metadata",) for key in desired)
            or any(key not in ("name", "namespace") for key in meta))


def object_key(obj):
    meta = obj.get("metadata") or {}
    return (obj.get("apiVersion"), obj.get("kind"), meta.get("namespace"), meta.get("name"))


class LiveObjects:
    """The live state of a list of objects, read a group at a time and only when first asked for.

    A group is the objects of one apiVersion, kind and namespace: a group of one is read with a GET, a
    larger one with one LIST of the namespace (the cost ``kubectl apply`` has per object, or less).
    Reading on first use keeps working when a list creates a CRD and then objects of its kind."""

    def __init__(self, cluster, objects):
        self.cluster = cluster
        self.groups = {}
        for obj in objects:
            key = object_key(obj)
            self.groups.setdefault(key[:3], set()).add(key[3])
        self.known = {}
        self.read_groups = set()

    def of(self, obj):
        key = object_key(obj)
        group = key[:3]
        if key not in self.known and group not in self.read_groups:
            self._read(group)
        return self.known.get(key)

    def update(self, obj, live):
        self.known[object_key(obj)] = live

    def _read(self, group):
        api_version, kind, namespace = group
        names = self.groups.get(group) or set()
        self.read_groups.add(group)
        if len(names) == 1:
            (name,) = names
            self.known[group + (name,)] = self.cluster.get(api_version, kind, name, namespace)
            return
        resource = self.cluster.resource(api_version, kind)
        items = self.cluster.list(api_version, kind, namespace=namespace if resource.namespaced else None)
        by_name = dict((item["metadata"]["name"], item) for item in items)
        for name in names:
            self.known[group + (name,)] = by_name.get(name)


def _established(obj):
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _ready_with(predicate_name):
    """kubernetes.core's readiness rule of a workload kind, applied to a plain dict."""
    def ready(obj):
        # Imported here: only a module that waits needs the waiter (and its ResourceInstance).
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s import waiter
        from kubernetes.dynamic.resource import ResourceInstance
        return getattr(waiter, predicate_name)(ResourceInstance(None, copy.deepcopy(obj)))
    return ready


# What "ready" means per kind when a caller waits for what it applied: workloads by kubernetes.core's
# rules (rolled out and available), CRDs Established (served, so objects of their kind can follow).
WAITED_KINDS = {
    ("apps", "Deployment"): _ready_with("deployment_ready"),
    ("apps", "DaemonSet"): _ready_with("daemonset_ready"),
    ("apps", "StatefulSet"): _ready_with("statefulset_ready"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _established,
}


def ready_rule(obj):
    group = (obj.get("apiVersion") or "").rpartition("/")[0]
    return WAITED_KINDS.get((group, obj.get("kind")))


def is_ready(obj, live):
    """True when ``live`` (the live state of ``obj``) exists and is ready; kinds without a rule are ready
    as soon as they exist."""
    if not live:
        return False
    rule = ready_rule(obj)
    return rule is None or bool(rule(live))


# Actions that change nothing: "kept" is an object created only when missing and left to its owner.
_UNCHANGED = ("unchanged", "absent", "kept")


class ApplyReport:
    """What ``apply_objects``/``delete_objects`` did, per object and in total."""

    def __init__(self):
        self.results = []
        self.before = []
        self.after = []

    @property
    def changed(self):
        return any(r["action"] not in _UNCHANGED for r in self.results)

    def add(self, obj, action, before, after):
        meta = obj.get("metadata", {})
        self.results.append(dict(kind=obj.get("kind"), apiVersion=obj.get("apiVersion"),
                                 name=meta.get("name"), namespace=meta.get("namespace"),
                                 action=action))
        if action not in _UNCHANGED:
            self.before.append(hide_secret_data(strip_server_fields(before)) or {})
            self.after.append(hide_secret_data(strip_server_fields(after)) or {})

    @property
    def diff(self):
        """One {before, after} pair over all changed objects, keyed by kind/namespace/name.

        Not kubernetes.core's diff_objects: that gives the changed subtrees of one object, and its hidden
        fields are dropped where ours show each Secret key with its value masked."""
        return dict(before=_keyed(self.before), after=_keyed(self.after))


def _keyed(objects):
    keyed = {}
    for obj in objects:
        if obj:
            meta = obj.get("metadata", {})
            keyed["%s/%s/%s" % (obj.get("kind"), meta.get("namespace", ""), meta.get("name"))] = obj
    return keyed


def api_server_problem(host):
    """Why ``host`` (the auth option, or K8S_AUTH_HOST) cannot be an API server URL, or None.

    Without a scheme the Kubernetes client speaks plain HTTP to port 80 of whatever ``host`` names,
    with the bearer token: a service name given there (as the Istio service options were once
    called ``host``) would receive the token."""
    if not host:
        return None
    if not re.match(r"^https?://[^/?#\s]+", host):
        return ("host (the API server's URL, also K8S_AUTH_HOST) is %r, which is not a URL such as "
                "https://api.example.com:6443, so nothing was sent there. The service whose traffic this "
                "collection routes is given with the option 'service'." % host)
    return None


# -- timeouts and retries -------------------------------------------------------------------------

# What client-go retries: too many requests, and the server (or a proxy before it) failing for a
# moment. Everything else (4xx) is an answer that a second try would only repeat.
RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRY_AFTER_LIMIT = 30.0


class Backoff:
    # Ours: kubernetes.core retries no request (K8SClient and K8sService send once; only its Waiter polls on).
    """A bounded exponential backoff: ``attempts`` tries in all, waiting ``base`` seconds after the
    first failure, doubling up to ``cap``, with up to 10% jitter so that many clients that failed
    together do not come back together. A Retry-After from the server (429) is honoured instead,
    up to RETRY_AFTER_LIMIT."""

    ATTEMPTS, BASE, CAP = 5, 0.5, 8.0

    def __init__(self, attempts=None, base=None, cap=None, sleep=time.sleep):
        self.attempts = attempts or self.ATTEMPTS
        self.base = self.BASE if base is None else base
        self.cap = self.CAP if cap is None else cap
        self.sleep = sleep

    def delay(self, failures, retry_after=None):
        """Seconds to wait after the ``failures``-th failed try (1, 2, ...)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), RETRY_AFTER_LIMIT)
        wait = min(self.base * 2 ** (failures - 1), self.cap)
        return wait + random.uniform(0, wait / 10)

    def wait(self, failures, retry_after=None):
        self.sleep(self.delay(failures, retry_after))


def retry_after(exc):
    """The Retry-After seconds of an HTTP error, or None."""
    headers = getattr(exc, "headers", None) or {}
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")
        return float(value) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


def _refused(exc):
    """No connection could be made (nothing listens there, or the name does not resolve)."""
    return any(isinstance(e, (_urllib3("NewConnectionError"), ConnectionRefusedError))
               for e in (exc, getattr(exc, "reason", None)))


def _dropped():
    """A connection that dropped or timed out (urllib3 raises its own kinds, or the socket's)."""
    return (_urllib3("ProtocolError"), _urllib3("TimeoutError"), ConnectionResetError, ConnectionAbortedError,
            BrokenPipeError, TimeoutError)


def transient(exc):
    """True for a failure that a later try may not meet: RETRY_STATUSES, a dropped connection, a
    timeout. Not retried: a refused connection (nothing listens there, and saying so at once helps
    more than saying it after the backoff), TLS failures, and every other answer."""
    if isinstance(exc, _api_exception()):
        return exc.status in RETRY_STATUSES
    if _refused(exc):
        return False
    dropped = _dropped()
    return any(isinstance(e, dropped) for e in (exc, getattr(exc, "reason", None)))


def may_have_reached(exc):
    """False only when the server cannot have acted on the request: it refused it with 429, or the
    connection was never made. A 5xx, a timeout or a dropped connection leave a write uncertain."""
    if isinstance(exc, _api_exception()):
        return exc.status != 429
    return not _refused(exc)


def merge_patch_holds(patch, live):
    """True when ``live`` already holds every field a JSON merge patch sets (null: removes)."""
    if isinstance(patch, dict):
        if not isinstance(live, dict):
            return False
        for key, value in patch.items():
            if value is None:
                if key in live:
                    return False
            elif key not in live or not merge_patch_holds(value, live[key]):
                return False
        return True
    return patch == live


_TIMEOUT = [DEFAULT_REQUEST_TIMEOUT]


def _install_request_timeout(seconds):
    """Give every request of this process a timeout of ``seconds``.

    kubernetes.core builds the client without one, and the requests it makes itself (discovery,
    while the client is built and when a kind is first used) take no per-call ``_request_timeout``
    the way our DynamicClient calls do; without a timeout a request the server holds is waited out
    for ever. So the REST layer under all of them gets the default; a per-call value still wins."""
    _TIMEOUT[0] = seconds
    rest = _lib.rest
    if getattr(rest.RESTClientObject.request, "meshops_timeout", False):
        return
    original = rest.RESTClientObject.request

    def request(self, method, url, headers=None, body=None, post_params=None, _request_timeout=None):
        return original(self, method, url, headers=headers, body=body, post_params=post_params,
                        _request_timeout=_request_timeout or _TIMEOUT[0])

    request.meshops_timeout = True
    rest.RESTClientObject.request = request


def _without_library_retries(api_client):
    """Our Backoff is the one retry policy: urllib3's own (3 silent retries of a dropped GET) would
    multiply it and hide the count of requests."""
    try:
        pool_manager = api_client.client.client.rest_client.pool_manager
    except AttributeError:  # pragma: no cover - another client layout
        return
    pool_manager.connection_pool_kw["retries"] = False
    pool_manager.clear()


class Cluster:
    """One cluster, reached with the module's auth options."""

    def __init__(self, module, field_manager=FIELD_MANAGER, auth=None, backoff=None):
        """``auth``: auth options (kubeconfig, context, host, api_key, ...) of another cluster
        than the module's own, for modules that work on several clusters at once. Only what
        ``auth`` holds is used: the K8S_AUTH_* variables belong to the module's own cluster.
        ``backoff``: the retry policy (a Backoff; the default one when not given)."""
        self.module = module
        self.field_manager = field_manager
        self.check_mode = module.check_mode
        self.backoff = backoff or Backoff()
        self.retries = 0
        _install_request_timeout(module.params.get("request_timeout") or DEFAULT_REQUEST_TIMEOUT)
        server = auth.get("host") if auth is not None else (
            module.params.get("host") or os.environ.get("K8S_AUTH_HOST"))
        problem = api_server_problem(server)
        if problem:
            raise KubeError(problem, reason="BadHost")
        kubeconfig = (auth if auth is not None else module.params).get("kubeconfig")
        if isinstance(kubeconfig, str) and not os.path.isfile(os.path.expanduser(kubeconfig)):
            # The client would only say "No configuration found", without naming the file.
            raise KubeError("The kubeconfig file %s does not exist. Fix the kubeconfig option (or K8S_AUTH_KUBECONFIG)."
                            % kubeconfig, reason="NoKubeconfig")
        failures = 0
        while True:
            try:
                self.k8s = self._client(module, auth)
                break
            except (_lib.Urllib3HTTPError, OSError, _lib.ApiException) as e:
                # Building the client already reads discovery, so an unreachable server or a refused
                # token shows up here.
                failures += 1
                if transient(e) and failures < self.backoff.attempts:
                    self.retries += 1
                    self.backoff.wait(failures, retry_after(e))
                    continue
                raise explain(e, _url_of(e, module, auth), "connect to", "the API server") from e
            except Exception as e:
                raise KubeError("Could not build a Kubernetes client from the auth options: %s. Check "
                                "kubeconfig, context or host/api_key." % e) from e
        _without_library_retries(self.k8s)
        # get_api_client turns the dry run on from a module only: the client of another cluster (auth) is built
        # without one, and its writes must be dry runs in check mode all the same.
        self.k8s.dry_run = self.check_mode
        self.host = self.k8s.configuration.host
        self.dynamic = self.k8s.client
        self._resources = {}
        self._not_served_kinds = set()
        self._not_served_versions = set()

    @staticmethod
    def _client(module, auth):
        if auth is None:
            return _lib.get_api_client(module=module)
        if auth.get("host") and not (auth.get("kubeconfig") or auth.get("context")):
            # kubernetes.core starts a host/token client from a copy of the process-wide
            # default configuration, which the module's own kubeconfig filled: its
            # token-refresh hook (run before every request, discovery included) would send
            # this client's requests to that cluster, with that cluster's credentials.
            _lib.Configuration.set_default(None)
        with _WithoutAuthEnvironment():
            return _lib.get_api_client(**dict((k, v) for k, v in auth.items() if v is not None))

    # -- lookup -----------------------------------------------------------------------
    def resource(self, api_version, kind):
        key = (api_version, kind)
        if key in self._not_served_kinds or api_version in self._not_served_versions:
            # The client reads all of discovery again on every miss; a kind found missing stays missing for
            # this run (check mode asks for every object of a kind whose CRD was only dry-run).
            raise self._not_served(api_version, kind)
        if key not in self._resources:
            try:
                self._resources[key] = self._call("discover", kind, None, None,
                                                  lambda: self.k8s.resource(kind, api_version))
            except KubeError as e:
                cause = e.__cause__
                if not isinstance(cause, (_lib.ResourceNotFoundError, _lib.ResourceNotUniqueError)):
                    raise
                if isinstance(cause, _lib.ResourceNotFoundError):
                    self._not_served_kinds.add(key)
                    if not self.serves(api_version):
                        self._not_served_versions.add(api_version)
                raise self._not_served(api_version, kind) from cause
        return self._resources[key]

    def serves(self, api_version):
        """False when the API serves no kind at all of ``api_version`` (one GET instead of a discovery
        read for each of its kinds); True when it does, or when that cannot be told."""
        if "/" not in api_version:
            return True
        try:
            self.dynamic.request("GET", "/apis/%s" % api_version)
        except _lib.NotFoundError:
            return False
        except Exception:  # pragma: no cover - unknown: ask kind by kind as before
            return True
        return True

    def _not_served(self, api_version, kind):
        group = api_version.split("/")[0] if "/" in api_version else ""
        if group.endswith("istio.io"):
            return KubeError(
                "Istio is not installed in this cluster (%s): the API does not serve %s %s. "
                "Install Istio first (playbooks/install.yml) or check the context."
                % (self.host, api_version, kind), kind, reason="IstioNotInstalled")
        return KubeError("The cluster at %s does not serve %s %s. Check the apiVersion and kind, "
                         "or install the CRD that provides it." % (self.host, api_version, kind),
                         kind, reason="NoSuchKind")

    def _call(self, verb, kind, name, namespace, fn, written=None):
        """``fn()``, tried again after a transient failure (Backoff).

        Every write we send is safe to send twice: server-side apply and merge patches with fixed
        values are idempotent, and the release's patches carry the resourceVersion they were decided
        on. ``written``, for a write: a read that returns the live object when it holds the write,
        else None. It settles a write whose outcome is unknown (a timeout, a dropped connection, a
        5xx), and a 409 after such a try (our own first try moved the resourceVersion on)."""
        failures = 0
        uncertain = False
        while True:
            try:
                return fn()
            except KubeError:
                raise
            except Exception as e:
                error = e
            failures += 1
            if written is not None and uncertain and getattr(error, "status", None) == 409:
                live = self._settle(written, error, verb, kind, name, namespace)
                if live is not None:
                    return live
            if written is not None and may_have_reached(error) and transient(error):
                uncertain = True
            if transient(error) and failures < self.backoff.attempts:
                self.retries += 1
                self.backoff.wait(failures, retry_after(error))
                continue
            failed = explain(error, self.host, verb, kind, name, namespace)
            if written is not None and uncertain:
                live = self._settle(written, error, verb, kind, name, namespace)
                if live is not None:
                    return live
                failed.message += (" The write was tried %d times; a read afterwards shows it was not made, so "
                                   "nothing changed: run again when the API server answers." % failures)
            elif transient(error):
                failed.message += " (tried %d times)" % failures
            raise failed from error

    def _settle(self, written, error, verb, kind, name, namespace):
        """The live object when the uncertain write did happen, None when it did not."""
        try:
            return written()
        except KubeError as e:
            failed = explain(error, self.host, verb, kind, name, namespace)
            raise KubeError("%s Whether the write was made is unknown: reading %s back failed too (%s). Check it "
                            "before running again." % (failed.message, describe(kind, name, namespace), e.message),
                            kind, name, namespace, failed.status, "Uncertain") from error

    @staticmethod
    def _namespace_arg(resource, namespace):
        return namespace if resource.namespaced else None

    # -- reads --------------------------------------------------------------------------
    def get(self, api_version, kind, name, namespace=None):
        resource = self.resource(api_version, kind)

        def read():
            try:
                return self.k8s.get(resource, name=name, namespace=self._namespace_arg(resource, namespace)).to_dict()
            except _lib.NotFoundError:
                return None
        return self._call("read", kind, name, namespace, read)

    def list(self, api_version, kind, namespace=None, label_selector=None):
        resource = self.resource(api_version, kind)
        return self._call("list", kind, None, namespace, lambda: self.k8s.get(
            resource, namespace=self._namespace_arg(resource, namespace),
            label_selector=label_selector).to_dict().get("items", []))

    # -- writes -------------------------------------------------------------------------
    def apply_one(self, obj, live=None, known_live=False):
        """Server-side apply ``obj``; returns (action, before, after)."""
        kind = obj.get("kind")
        meta = obj.get("metadata", {})
        name, namespace = meta.get("name"), meta.get("namespace")
        resource = self.resource(obj.get("apiVersion"), kind)
        if not known_live:
            live = self.get(obj["apiVersion"], kind, name, namespace)
        if already_applied(obj, live, self.field_manager):
            return "unchanged", live, live

        def written():
            now = self.get(obj["apiVersion"], kind, name, namespace)
            return now if now is not None and is_subset(obj, now) else None

        # The DynamicClient's apply, not K8SClient.apply: that one GETs the object before every write
        # (test_kube_costs write_each: 28 requests for 14 objects against our 14); its dry-run flag is used.
        dry_run = {"dry_run": self.k8s.K8S_SERVER_DRY_RUN} if self.k8s.dry_run else {}
        after = self._call("apply", kind, name, namespace, lambda: self.dynamic.server_side_apply(
            resource, body=obj, name=name, namespace=self._namespace_arg(resource, namespace),
            field_manager=self.field_manager, force_conflicts=True, **dry_run).to_dict(),
            written=None if self.check_mode else written)
        if live is None:
            return "created", None, after
        # Not kubernetes.core's diff_objects: on these stripped objects it says what == says, and importing its
        # k8s.service (ansible.module_utils.urls, cryptography) adds 0.58 s to every module's start (-X importtime).
        if strip_server_fields(after) == strip_server_fields(live):
            return "unchanged", live, after
        return "updated", live, after

    def apply_objects(self, objects, report=None, live=None):
        """Apply ``objects`` in the given order (so callers control e.g. DestinationRule
        before VirtualService); stops at the first failure.

        The live objects are read a group at a time (``LiveObjects``: one LIST per kind and namespace
        holding several of them) instead of one GET per object, and an object that already holds
        everything we apply is not written at all. ``live``: a LiveObjects to share the reads with.

        Not kubernetes.core.k8s's runner (K8sService.retrieve + apply per object): on test_kube_costs'
        14 objects it sends 42 requests and 14 PATCHes both on creation and when converged; this sends 17
        (14 PATCHes) on creation and 3 GETs, no write, when converged."""
        report = report or ApplyReport()
        live = live or LiveObjects(self, objects)
        for obj in objects:
            action, before, after = self.apply_one(obj, live=live.of(obj), known_live=True)
            if not self.check_mode:
                live.update(obj, after)
            report.add(obj, action, before, after)
        return report

    # -- waiting ------------------------------------------------------------------------
    def wait_ready(self, objects, timeout, sleep=1.0, known=None):
        """Wait until every object of a kind with a readiness rule (WAITED_KINDS) is ready; returns
        the objects that are not ready when ``timeout`` seconds have passed (missing ones included),
        as ``[(obj, live or None)]``.

        ``known``: live objects already read in this run (a LiveObjects); those that are ready cost no
        request. The others are read again a group at a time (one LIST per kind and namespace).

        Not kubernetes.core's Waiter, which GETs one object per poll: 6 GETs for test_kube_costs' 6 ready
        Deployments against 1 LIST here (0 with ``known``). Its readiness rules are used (WAITED_KINDS)."""
        waited = [obj for obj in objects if ready_rule(obj) is not None]
        deadline = time.monotonic() + timeout
        pending = [obj for obj in waited if not (known and is_ready(obj, known.of(obj)))]
        while pending:
            live = LiveObjects(self, pending)
            pending = [obj for obj in pending if not is_ready(obj, live.of(obj))]
            if not pending or time.monotonic() + sleep > deadline:
                return [(obj, live.of(obj)) for obj in pending]
            time.sleep(sleep)
        return []

    def patch(self, api_version, kind, name, namespace, patch, patch_type="merge"):
        resource = self.resource(api_version, kind)
        written = None
        if patch_type == "merge" and not self.check_mode:
            # The resourceVersion a guarded patch carries is not a field it sets.
            fields = copy.deepcopy(patch)
            (fields.get("metadata") or {}).pop("resourceVersion", None)

            def written():
                now = self.get(api_version, kind, name, namespace)
                return now if now is not None and merge_patch_holds(fields, now) else None
        return self._call("patch", kind, name, namespace, lambda: self.k8s.patch(
            resource, patch, name=name, namespace=self._namespace_arg(resource, namespace),
            content_type="application/%s-patch+json" % patch_type).to_dict(), written=written)

    def _delete(self, resource, name, namespace, propagation=None):
        # Without a propagation policy, deleting a batch/v1 Job orphans its pods (they go on running).
        options = {"body": {"propagationPolicy": propagation}} if propagation else {}
        try:
            return self.k8s.delete(resource, name=name, namespace=self._namespace_arg(resource, namespace),
                                   **options).to_dict()
        except _lib.NotFoundError:
            return None

    def delete_objects(self, objects, report=None, propagation=None):
        """Delete ``objects`` in reverse order (what was applied last goes first); ``propagation``: the
        propagationPolicy for their dependents (Background, Foreground, Orphan), the server's default when None.

        K8SClient.delete, not K8sService.delete: that one needs the object read first and drops the HTTP
        status our retries go by (test_kube_costs: 28 requests for 14 objects against 14; a 404 here says
        "absent" in the one request a GET would take)."""
        report = report or ApplyReport()
        for obj in reversed(list(objects)):
            meta = obj.get("metadata", {})
            kind, name, namespace = obj.get("kind"), meta.get("name"), meta.get("namespace")
            try:
                resource = self.resource(obj.get("apiVersion"), kind)
            except KubeError as e:
                if e.reason in ("IstioNotInstalled", "NoSuchKind"):
                    report.add(obj, "absent", None, None)
                    continue
                raise

            gone = self._call("delete", kind, name, namespace,
                              lambda res=resource, n=name, ns=namespace: self._delete(res, n, ns, propagation))
            if gone is None:
                report.add(obj, "absent", None, None)
            else:
                # The server answers with the deleted object (or a Status for some kinds).
                report.add(obj, "deleted", gone if gone.get("kind") == kind else obj, None)
        return report
