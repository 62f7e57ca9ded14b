"""Label and field selectors, parsed the way the apiserver parses them."""
import re

from .errors import bad_request

_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|[^\s!=(),]+)")


def _tokens(text):
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise bad_request(f"unable to parse requirement: invalid label selector {text!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def parse_label_selector(text):
    """'a=b,c!=d,e in (x,y),f notin (z),g,!h' -> [(key, op, [values])]."""
    if not text or not text.strip():
        return []
    toks = _tokens(text)
    reqs, i = [], 0

    def fail(msg):
        raise bad_request(f"unable to parse requirement: {msg} in label selector {text!r}")

    while i < len(toks):
        if toks[i] == "!":
            if i + 1 >= len(toks):
                fail("missing key after '!'")
            reqs.append((toks[i + 1], "!", []))
            i += 2
        else:
            key = toks[i]
            i += 1
            if i >= len(toks) or toks[i] == ",":
                reqs.append((key, "exists", []))
            elif toks[i] in ("=", "==", "!="):
                op = "!=" if toks[i] == "!=" else "="
                i += 1
                value = ""
                if i < len(toks) and toks[i] != ",":
                    value = toks[i]
                    i += 1
                reqs.append((key, op, [value]))
            elif toks[i].lower() in ("in", "notin"):
                op = toks[i].lower()
                i += 1
                if i >= len(toks) or toks[i] != "(":
                    fail(f"expected '(' after {op}")
                i += 1
                values = []
                while i < len(toks) and toks[i] != ")":
                    if toks[i] != ",":
                        values.append(toks[i])
                    i += 1
                if i >= len(toks):
                    fail("missing ')'")
                i += 1
                reqs.append((key, op, values))
            else:
                fail(f"unexpected {toks[i]!r}")
        if i < len(toks):
            if toks[i] != ",":
                fail(f"expected ',' before {toks[i]!r}")
            i += 1
    return reqs


def match_labels(reqs, labels):
    labels = labels or {}
    for key, op, values in reqs:
        present = key in labels
        value = labels.get(key)
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
        if op == "=" and value != values[0]:
            return False
        if op == "!=" and present and value == values[0]:
            return False
        if op == "in" and value not in values:
            return False
        if op == "notin" and present and value in values:
            return False
    return True


def match_label_selector_object(selector, labels):
    """A metav1.LabelSelector ({matchLabels, matchExpressions}); an empty selector matches everything."""
    if selector is None:
        return True
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def parse_field_selector(text):
    """'metadata.name=x,status.phase!=Running' -> [(path, op, value)]."""
    if not text or not text.strip():
        return []
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(!=|==|=)\s*(.*)", part)
        if not m:
            raise bad_request(f"invalid field selector: {part!r}: expected <field>=<value> or <field>!=<value>")
        out.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
    return out


def field_value(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def match_fields(reqs, obj):
    for path, op, value in reqs:
        actual = field_value(obj, path)
        if (actual == value) != (op == "="):
            return False
    return True
