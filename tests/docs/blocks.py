"""The shell blocks of README.md and docs/*.md, and the markers that say whether the test runs them.

A fenced block in bash/sh/shell/console that a user would run is preceded (the line before its fence, blank
lines allowed) by one of (docs/DEVELOPING.md, "Executable documentation"):

    <!-- run: kubesim -->                              run against one simulated cluster
    <!-- run: kubesim, clusters primary and burst -->  run against two (contexts primary and burst)
    <!-- norun: <why it cannot run against a simulated cluster> -->

`console` blocks give commands as `$ <command>` lines; the lines after one are its expected output,
compared as written.
"""
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The pages in the order a user reads them: README first; apps before the control plane page, whose last
# steps uninstall Istio.
PAGES = ("README.md", "docs/apps.md", "docs/releases.md", "docs/control-plane.md", "docs/multicluster.md",
         "docs/DEVELOPING.md")
SHELL = ("bash", "sh", "shell", "console")
MARKER = re.compile(r"^<!-- (?P<kind>run|norun): (?P<note>.+?) -->$")
ENVIRONMENTS = {"kubesim": "one", "kubesim, clusters primary and burst": "two"}
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\s*$")


class BlockError(ValueError):
    pass


@dataclass
class Block:
    page: str
    line: int
    lang: str
    text: str
    kind: str = None      # run, norun or None
    note: str = None

    @property
    def id(self):
        return "%s:%d" % (self.page, self.line)

    @property
    def environment(self):
        return ENVIRONMENTS.get(self.note) if self.kind == "run" else None

    def commands(self):
        """[(command, expected output or None)]: a bash block is one script; a console block, $ lines."""
        if self.lang != "console":
            return [(self.text, None)]
        out = []
        for line in self.text.splitlines():
            if line.startswith("$ "):
                out.append([line[2:], []])
            elif out:
                out[-1][1].append(line)
        return [(command, "\n".join(lines).rstrip() + "\n" if lines else None) for command, lines in out]


def blocks(page):
    """Every fenced block of a page, with the marker right above it."""
    lines = (REPO / page).read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start = i
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise BlockError("%s:%d: a fenced block that never closes" % (page, start + 1))
        block = Block(page, start + 1, match["lang"], "\n".join(lines[start + 1:end]) + "\n")
        above = start - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        marker = MARKER.match(lines[above].strip()) if above >= 0 else None
        if marker:
            block.kind, block.note = marker["kind"], marker["note"]
            if block.kind == "run" and block.note not in ENVIRONMENTS:
                raise BlockError("%s: <!-- run: %s -->: the test knows %s" % (
                    block.id, block.note, ", ".join("<!-- run: %s -->" % e for e in ENVIRONMENTS)))
        out.append(block)
        i = end + 1
    return out


def all_blocks():
    return [b for page in PAGES for b in blocks(page)]


def with_simulated_inventory(command, extra_inventory):
    """The command with one more inventory source after each `-i inventories/...` it gives: the variables
    that point the simulated cluster's hosts at local charts, addon manifests and the simulated Prometheus."""
    return re.sub(r"(-i\s+inventories/[\w./-]+)", r"\1 -i %s" % extra_inventory, command)
