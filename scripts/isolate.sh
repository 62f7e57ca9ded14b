# shellcheck shell=bash
# Sourced by scripts/test.sh (and by the test that checks it): Ansible, ansible-lint, molecule and
# ansible-test's Ansible runs keep their state in the checkout, never in ~/.ansible. ansible-compat
# (molecule's prerun, ansible-lint online) installs a built copy of this collection into
# $ANSIBLE_HOME/collections; in ~/.ansible that copy would shadow the real collection for the user.
: "${root:?set root to the checkout before sourcing scripts/isolate.sh}"
export ANSIBLE_HOME="$root/.tools/ansible-home"
# Temporary files of tasks on local hosts; its default (~/.ansible/tmp) does not follow ANSIBLE_HOME.
export ANSIBLE_REMOTE_TEMP="$ANSIBLE_HOME/tmp"
mkdir -p "$ANSIBLE_HOME"
