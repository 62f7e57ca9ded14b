"""The collection's event sources, imported by path as ansible-rulebook loads them (they are not Python packages)."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EDA = ROOT / "extensions" / "eda"
SOURCES = EDA / "plugins" / "event_source"
RULEBOOKS = EDA / "rulebooks"
PROMETHEUS_FILES = EDA / "prometheus"


def load(name):
    spec = importlib.util.spec_from_file_location("meshops_eda_%s" % name, SOURCES / ("%s.py" % name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


threshold = load("prometheus_threshold")
webhook = load("alertmanager_webhook")
