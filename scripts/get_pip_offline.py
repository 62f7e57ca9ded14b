"""Stand-in for pip's get-pip.py bootstrap script.

ansible-test downloads get-pip.py from ci-files.testing.ansible.com, which this network cannot
reach. It runs the script inside a fresh virtual environment with pip's install options as
arguments; we give it the same effect with Python's bundled ensurepip followed by a pip install
of the requested version from PyPI. scripts/sanity.sh puts this file into ansible-test's cache.
"""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
options = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *options])
