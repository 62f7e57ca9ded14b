# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""The release report: a markdown page, an SVG chart of canary weight and success rate over time, and an
SVG chart of every analysed step (both versions' success rate and P99, the verdict and the p-values).

Written by istio_release where the user asks (an AWX job can keep it as an artifact). Pure
rendering: strings in, strings out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils.release import state as rl

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


def steps(state):
    """One row per analysis: canary weight, both versions' success rate and P99, the verdict and the p-values."""
    rows = []
    for entry in state.get("history") or []:
        if entry["event"] != "analysis":
            continue
        values = entry.get("values") or {}
        compared = entry.get("compared") or {}
        canary, stable = compared.get("canary") or {}, compared.get("stable") or {}
        judge = compared.get("judge") or {}
        rows.append(dict(
            time=entry["time"], weights=entry.get("weights") or {},
            weight=(entry.get("weights") or {}).get(state["canary"], 0),
            canary_success_rate=_first(canary.get("success_rate"), values.get("success_rate")),
            stable_success_rate=stable.get("success_rate"),
            canary_latency_p99=_first(canary.get("latency_p99"), values.get("latency_p99")),
            stable_latency_p99=stable.get("latency_p99"),
            status=entry.get("status") or ("passed" if entry.get("passed") else "failed"),
            verdict=judge.get("verdict") or compared.get("skipped"),
            p_values=judge.get("p_values") or {}))
    return rows


def _first(*values):
    for value in values:
        if value is not None:
            return value
    return None


def _p(value):
    if value is None:
        return "-"
    return "%.2g" % value if value < 0.001 else ("%.4f" % value).rstrip("0").rstrip(".")


def steps_svg(state):
    """Per analysed step: both versions' success rate (top) and P99 (bottom), the verdict and p-values below."""
    rows = steps(state)
    width = max(WIDTH, LEFT + 40 + 110 * len(rows) + RIGHT)
    panel_h, gap = 150, 70
    top_sr, top_p99 = TOP, TOP + panel_h + gap
    height = top_p99 + panel_h + 90
    plot_w = width - LEFT - RIGHT
    column = plot_w / float(max(len(rows), 1))
    rates = [v for r in rows for v in (r["canary_success_rate"], r["stable_success_rate"]) if v is not None]
    # Start the success-rate axis just below the lowest value: 99.9% and 97% must look different.
    low = min([90.0] + [5 * (int(v) // 5) for v in rates])
    p99s = [v for r in rows for v in (r["canary_latency_p99"], r["stable_latency_p99"]) if v is not None]
    high = max(p99s + [1.0]) * 1.15

    def cx(i):
        return LEFT + column * (i + 0.5)

    def y_rate(v):
        return top_sr + panel_h * (1 - (v - low) / (100.0 - low))

    def y_p99(v):
        return top_p99 + panel_h * (1 - v / high)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="11">' % (width, height, width, height),
           '<title>%s</title>' % _esc("Release %s: %s against %s per step" % (state["name"], state["canary"],
                                                                              state["stable"])),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>' % (
               LEFT, _esc("Release %s: %s (canary) against %s (stable), per analysed step"
                          % (state["name"], state["canary"], state["stable"])))]
    for top, label, ticks, y in ((top_sr, "success rate", [low, (low + 100) / 2.0, 100.0], y_rate),
                                 (top_p99, "P99", [0.0, high / 2.0, high], y_p99)):
        out.append('<text x="%d" y="%d" font-weight="bold">%s</text>' % (LEFT, top - 6, label))
        for v in ticks:
            out.append('<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>' % (LEFT, y(v), LEFT + plot_w, y(v)))
            out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (
                LEFT - 6, y(v) + 4, _cell(v, "%" if y is y_rate else " ms")))
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>' % (LEFT, top, LEFT, top + panel_h))
    for i, row in enumerate(rows):
        x = cx(i)
        for who, colour, dx in (("stable", WEIGHT_COLOUR, -12), ("canary", RATE_COLOUR, 12)):
            for metric, y, unit in (("success_rate", y_rate, "%"), ("latency_p99", y_p99, " ms")):
                value = row["%s_%s" % (who, metric)]
                if value is None:
                    continue
                out.append('<circle class="%s-%s" cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s</title></circle>' % (
                    who, metric.replace("_", "-"), x + dx, y(value), colour,
                    _esc("%s %s %s" % (who, metric, _cell(value, unit)))))
                out.append('<text x="%.1f" y="%.1f" text-anchor="middle" fill="%s">%s</text>'
                           % (x + dx, y(value) - 7, colour, _esc(_cell(value, unit))))
        base = top_p99 + panel_h + 18
        failed = row["status"] != "passed"
        out.append('<text class="step" x="%.1f" y="%d" text-anchor="middle">%s</text>'
                   % (x, base, _esc("#%d %s %d%%" % (i + 1, state["canary"], row["weight"]))))
        out.append('<text class="status" x="%.1f" y="%d" text-anchor="middle" fill="%s">%s</text>'
                   % (x, base + 15, FAIL_COLOUR if failed else "#2ca02c", _esc(row["status"])))
        if row["verdict"]:
            out.append('<text class="verdict" x="%.1f" y="%d" text-anchor="middle">%s</text>'
                       % (x, base + 30, _esc(row["verdict"][:24])))
        if row["p_values"]:
            out.append('<text class="p-value" x="%.1f" y="%d" text-anchor="middle">%s</text>' % (
                x, base + 45, _esc(" ".join("p=%s" % _p(row["p_values"][m]) for m in sorted(row["p_values"])))))
    lx = LEFT + plot_w + 15
    for j, (who, colour) in enumerate(((state["stable"] + " (stable)", WEIGHT_COLOUR),
                                       (state["canary"] + " (canary)", RATE_COLOUR))):
        out.append('<circle cx="%d" cy="%d" r="4" fill="%s"/>' % (lx + 5, TOP + 10 + 20 * j, colour))
        out.append('<text x="%d" y="%d">%s</text>' % (lx + 15, TOP + 14 + 20 * j, _esc(who)))
    if not rows:
        out.append('<text x="%d" y="%d">no analysis yet</text>' % (LEFT + 10, top_sr + panel_h // 2))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def markdown(state, now, chart_name, steps_chart_name=None):
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
    at = lines.index("## History")
    lines[at:at] = _steps_section(state, steps_chart_name)
    for entry in state.get("history") or []:
        values = entry.get("values") or {}
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            entry["time"], entry["event"], rl.split_text(entry.get("weights") or {}), _cell(values.get("requests")),
            _cell(values.get("success_rate"), "%"), _cell(values.get("latency_p99"), " ms"),
            entry.get("message", "").replace("|", "\\|")))
    return "\n".join(lines) + "\n"


def _steps_section(state, steps_chart_name):
    rows = steps(state)
    if not rows:
        return []
    lines = ["## Steps", ""]
    if steps_chart_name:
        lines += ["![Both versions per analysed step](%s)" % steps_chart_name, ""]
    lines += ["| Step | Time | Weights | Success rate %s / %s | P99 %s / %s | Analysis | Judge | p-values |" % (
        state["canary"], state["stable"], state["canary"], state["stable"]), "|---|---|---|---|---|---|---|---|"]
    for i, row in enumerate(rows):
        lines.append("| #%d | %s | %s | %s / %s | %s / %s | %s | %s | %s |" % (
            i + 1, row["time"], rl.split_text(row["weights"]), _cell(row["canary_success_rate"], "%") or "-",
            _cell(row["stable_success_rate"], "%") or "-", _cell(row["canary_latency_p99"], " ms") or "-",
            _cell(row["stable_latency_p99"], " ms") or "-", row["status"], row["verdict"] or "-",
            ", ".join("%s %s" % (m, _p(p)) for m, p in sorted(row["p_values"].items())) or "-"))
    return lines + [""]
