"""x-kubernetes-validations (CEL rules), evaluated with cel-python plus the Kubernetes CEL library
functions the rules in use call (strings: substring/charAt/indexOf/...; URLs; durations)."""
import json
import re
import threading
import urllib.parse

import celpy
from celpy import celtypes

from .causes import _cause, _join


def _k8s_substring(text, start, end=None):
    text = str(text)
    start = int(start)
    end = len(text) if end is None else int(end)
    if start < 0 or end > len(text) or start > end:
        raise ValueError(f"substring({start}, {end}) is out of range for a string of length {len(text)}")
    return celtypes.StringType(text[start:end])


def _k8s_char_at(text, index):
    text, index = str(text), int(index)
    if index < 0 or index > len(text):
        raise ValueError(f"charAt({index}) is out of range")
    return celtypes.StringType(text[index:index + 1])


def _k8s_index_of(text, part, start=0):
    return celtypes.IntType(str(text).find(str(part), int(start)))


def _k8s_last_index_of(text, part):
    return celtypes.IntType(str(text).rfind(str(part)))


class _URL:
    """The value Kubernetes' url() returns: an absolute URI or an absolute path reference."""

    def __init__(self, text):
        parsed = urllib.parse.urlsplit(text)
        if not (parsed.scheme or text.startswith("/")):
            # Kubernetes' url() uses Go's url.ParseRequestURI; this is its error for such input.
            raise ValueError(f'URL parse error during conversion from string to url: parse "{text}": '
                             "invalid URI for request")
        self.parsed = parsed


def _k8s_url(text):
    return _URL(str(text))


def _k8s_is_url(text):
    try:
        _URL(str(text))
    except ValueError:
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


_GO_DURATION = re.compile(r"[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h))+|[-+]?0")


def _k8s_duration(text):
    """duration() with Go's time.ParseDuration grammar and error text."""
    if isinstance(text, celtypes.DurationType):
        return text
    text = str(text)
    if not _GO_DURATION.fullmatch(text):
        raise ValueError(f'time: invalid duration "{text}"')
    if text.lstrip("+-") == "0":
        return celtypes.DurationType(0)
    return celtypes.DurationType(text)


_CEL_FUNCTIONS = {
    "duration": _k8s_duration,
    "substring": _k8s_substring,
    "charAt": _k8s_char_at,
    "indexOf": _k8s_index_of,
    "lastIndexOf": _k8s_last_index_of,
    "lowerAscii": lambda text: celtypes.StringType(str(text).lower()),
    "upperAscii": lambda text: celtypes.StringType(str(text).upper()),
    "trim": lambda text: celtypes.StringType(str(text).strip()),
    "url": _k8s_url,
    "isURL": _k8s_is_url,
    "getScheme": lambda url: celtypes.StringType(url.parsed.scheme),
    "getHost": lambda url: celtypes.StringType(url.parsed.netloc.rpartition("@")[2]),
    "getHostname": lambda url: celtypes.StringType(url.parsed.hostname or ""),
    "getPort": lambda url: celtypes.StringType("" if url.parsed.port is None else str(url.parsed.port)),
    "getEscapedPath": lambda url: celtypes.StringType(url.parsed.path),
}

_cel_env = None
_cel_programs = {}
_cel_lock = threading.Lock()


def _cel_program(rule):
    global _cel_env
    found = _cel_programs.get(rule)
    if found is None:
        with _cel_lock:
            if _cel_env is None:
                _cel_env = celpy.Environment()
            try:
                found = _cel_env.program(_cel_env.compile(rule), functions=_CEL_FUNCTIONS)
            except celpy.CELParseError as exc:
                found = exc
            _cel_programs[rule] = found
    return found


def _eval_detail(exc):
    """The readable reason of a failed evaluation: cel-python wraps errors raised by functions
    as (summary, exception type, exception args)."""
    args = exc.args
    if len(args) >= 3 and isinstance(args[2], tuple) and args[2]:
        return str(args[2][0])
    return str(args[0]) if args else type(exc).__name__


def _rule_text(rule):
    return (rule.get("message") or rule.get("rule") or "").strip()


def _cel_causes(value, node, path, causes):
    """Evaluate the rules of every node present in the object, as the apiserver does after the
    OpenAPI checks passed. Transition rules (oldSelf) need the old object and are left out."""
    if not isinstance(node, dict):
        return
    rules = node.get("x-kubernetes-validations")
    if rules:
        activation = {"self": celpy.json_to_cel(value)}
        for rule in rules:
            text = rule.get("rule", "")
            if "oldSelf" in text:
                continue
            program = _cel_program(text)
            where = f"{path}.{rule['fieldPath'].lstrip('.')}" if rule.get("fieldPath") else path
            type_name = node.get("type", "")
            if isinstance(program, Exception):
                causes.append(_cause("FieldValueInvalid", where or "<nil>",
                                     f'Invalid value: "{type_name}": compilation failed for rule: {text}'))
                continue
            try:
                outcome = program.evaluate(activation)
            except (celpy.CELEvalError, ValueError, TypeError, KeyError) as exc:
                detail = _eval_detail(exc)
                causes.append(_cause("FieldValueInvalid", where or "<nil>",
                                     f'Invalid value: "{type_name}": {detail} evaluating rule: {_rule_text(rule)}'))
                continue
            if outcome is not True and not (isinstance(outcome, celtypes.BoolType) and bool(outcome)):
                message = (rule.get("message") or f"failed rule: {text}").strip()
                causes.append(_cause("FieldValueInvalid", where or "<nil>", f'Invalid value: "{type_name}": {message}'))
    if isinstance(value, dict):
        props = node.get("properties") or {}
        additional = node.get("additionalProperties")
        for key, child in value.items():
            if key in props:
                _cel_causes(child, props[key], _join(path, key), causes)
            elif isinstance(additional, dict):
                _cel_causes(child, additional, f"{path}[{key}]", causes)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            _cel_causes(item, node["items"], f"{path}[{index}]", causes)


def _has_rules(schema):
    return "x-kubernetes-validations" in json.dumps(schema)
