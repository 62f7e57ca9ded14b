# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""The release report: a markdown page and an SVG chart of canary weight and success rate over time.

Written by istio_release where the user asks (an AWX job can keep it as an artifact). Pure
rendering: strings in, strings out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils import release as rl

WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 60, 150, 40, 50
WEIGHT_COLOUR, RATE_COLOUR, FAIL_COLOUR = "#1f77b4", "#ff7f0e", "#d62728"


def _esc(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def series(state):
    """([(t, canary weight)], [(t, success rate or None)]) with t in seconds since the start."""
    history = state.get("history") or []
    if not history:
        return [], []
    t0 = history[0]["ts"]
    canary = state["canary"]
    weights, rates = [], []
    for entry in history:
        t = entry["ts"] - t0
        weight = (entry.get("weights") or {}).get(canary, 0)
        if not weights or weights[-1][1] != weight:
            weights.append((t, weight))
        if entry["event"] == "analysis":
            rates.append((t, (entry.get("values") or {}).get("success_rate")))
    end = history[-1]["ts"] - t0
    if weights and weights[-1][0] < end:
        weights.append((end, weights[-1][1]))
    return weights, rates


def svg(state):
    """An SVG line chart: canary weight (stepped) and measured success rate, 0-100%, over time."""
    weights, rates = series(state)
    span = max([point[0] for point in weights + rates] + [1.0])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t):
        return LEFT + plot_w * t / span

    def y(v):
        return TOP + plot_h * (1 - v / 100.0)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="12">' % (WIDTH, HEIGHT, WIDTH, HEIGHT),
           '<title>%s</title>' % _esc("Release %s: %s weight and success rate" % (state["name"], state["canary"])),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>' % (
               LEFT, _esc("Release %s (%s -> %s): %s" % (state["name"], state["stable"], state["canary"], state["phase"])))]
    for v in (0, 25, 50, 75, 100):
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (LEFT, y(v), LEFT + plot_w, y(v)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%d%%</text>' % (LEFT - 6, y(v) + 4, v))
    for i in range(6):
        t = span * i / 5
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x(t), TOP + plot_h + 18, _duration(t)))
    out.append('<text x="%d" y="%d" text-anchor="middle">time since start</text>' % (LEFT + plot_w // 2, HEIGHT - 10))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>' % (LEFT, TOP + plot_h, LEFT + plot_w, TOP + plot_h))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>' % (LEFT, TOP, LEFT, TOP + plot_h))
    if weights:
        points = []
        for i, (t, w) in enumerate(weights):
            if i:
                points.append("%.1f,%.1f" % (x(t), y(weights[i - 1][1])))
            points.append("%.1f,%.1f" % (x(t), y(w)))
        out.append('<polyline id="weight" fill="none" stroke="%s" stroke-width="2.5" points="%s"/>'
                   % (WEIGHT_COLOUR, " ".join(points)))
    measured = [(t, r) for t, r in rates if r is not None]
    if len(measured) > 1:
        out.append('<polyline id="success-rate" fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="4 2" '
                   'points="%s"/>' % (RATE_COLOUR, " ".join("%.1f,%.1f" % (x(t), y(r)) for t, r in measured)))
    for t, r in rates:
        if r is None:
            # No traffic is drawn as a red cross on the axis, never as a rate of 0 or 100.
            out.append('<text class="no-data" x="%.1f" y="%.1f" fill="%s" text-anchor="middle">x</text>'
                       % (x(t), y(0) - 3, FAIL_COLOUR))
        else:
            out.append('<circle class="rate" cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s</title></circle>'
                       % (x(t), y(r), RATE_COLOUR, _esc("%.2f%% at %s" % (r, _duration(t)))))
    lx = LEFT + plot_w + 15
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2.5"/>'
               % (lx, TOP + 10, lx + 20, TOP + 10, WEIGHT_COLOUR))
    out.append('<text x="%d" y="%d">%s weight</text>' % (lx + 25, TOP + 14, _esc(state["canary"])))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-dasharray="4 2"/>' % (
        lx, TOP + 30, lx + 20, TOP + 30, RATE_COLOUR))
    out.append('<text x="%d" y="%d">%s success rate</text>' % (lx + 25, TOP + 34, _esc(state["canary"])))
    out.append('<text x="%d" y="%d" fill="%s">x  no traffic</text>' % (lx + 5, TOP + 54, FAIL_COLOUR))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _duration(t):
    t = int(round(t))
    if t < 120:
        return "%ds" % t
    if t < 7200:
        return "%dm%02ds" % (t // 60, t % 60)
    return "%dh%02dm" % (t // 3600, (t % 3600) // 60)


def _cell(value, unit=""):
    if value is None:
        return ""
    return ("%.2f" % value).rstrip("0").rstrip(".") + unit


def markdown(state, now, chart_name):
    lines = ["# Release %s" % state["name"], "",
             "| | |", "|---|---|",
             "| Service | %s in %s |" % (state["host"], state["namespace"]),
             "| Stable -> canary | %s -> %s |" % (state["stable"], state["canary"]),
             "| Plan (canary %%) | %s |" % ", ".join(str(w) for w in state["plan"]),
             "| Phase | %s |" % state["phase"],
             "| Weights now | %s |" % rl.split_text(state["weights"]),
             "| Started | %s |" % state["started"],
             "| Updated | %s |" % state["updated"],
             "", "## Summary", "", "```", rl.summary(state, now), "```", "",
             "![Canary weight and success rate over time](%s)" % chart_name, "",
             "## History", "",
             "| Time | Event | Weights | Requests | Success rate | P99 | Note |",
             "|---|---|---|---|---|---|---|"]
    for entry in state.get("history") or []:
        values = entry.get("values") or {}
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            entry["time"], entry["event"], rl.split_text(entry.get("weights") or {}), _cell(values.get("requests")),
            _cell(values.get("success_rate"), "%"), _cell(values.get("latency_p99"), " ms"),
            entry.get("message", "").replace("|", "\\|")))
    return "\n".join(lines) + "\n"
