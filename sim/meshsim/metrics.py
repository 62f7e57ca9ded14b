"""Istio's standard request metrics, kept in memory and written in Prometheus text format."""
import threading

# Istio's default buckets for istio_request_duration_milliseconds.
DURATION_BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
                    600000, 1800000, 3600000)

LABELS = ("reporter", "source_workload", "source_workload_namespace", "source_cluster", "destination_service",
          "destination_service_name", "destination_service_namespace", "destination_workload",
          "destination_workload_namespace", "destination_version", "destination_cluster", "request_protocol",
          "response_code", "response_flags")


def _escape(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class IstioMetrics:
    def __init__(self):
        self._lock = threading.Lock()
        self._requests = {}
        self._durations = {}

    def touch(self, labels):
        """Create a series at zero (so rate() sees its first increments)."""
        key = tuple(labels.get(name, "") for name in LABELS)
        with self._lock:
            self._requests.setdefault(key, 0)
            self._durations.setdefault(key, [[0] * len(DURATION_BUCKETS), 0.0, 0])

    def record(self, labels, duration_ms):
        key = tuple(labels.get(name, "") for name in LABELS)
        with self._lock:
            self._requests[key] = self._requests.get(key, 0) + 1
            buckets, total, count = self._durations.get(key) or [[0] * len(DURATION_BUCKETS), 0.0, 0]
            for i, bound in enumerate(DURATION_BUCKETS):
                if duration_ms <= bound:
                    buckets[i] += 1
            self._durations[key] = [buckets, total + duration_ms, count + 1]

    def totals(self, **where):
        """Sum of istio_requests_total over series whose labels equal ``where``."""
        index = dict((name, i) for i, name in enumerate(LABELS))
        with self._lock:
            return sum(v for k, v in self._requests.items()
                       if all(k[index[name]] == str(value) for name, value in where.items()))

    def exposition(self):
        lines = ["# HELP istio_requests_total Total requests.", "# TYPE istio_requests_total counter"]
        with self._lock:
            requests = sorted(self._requests.items())
            durations = sorted((k, ([*b], s, c)) for k, (b, s, c) in self._durations.items())
        for key, value in requests:
            lines.append("istio_requests_total{%s} %d" % (self._labels(key), value))
        lines += ["# HELP istio_request_duration_milliseconds Request duration.",
                  "# TYPE istio_request_duration_milliseconds histogram"]
        for key, (buckets, total, count) in durations:
            labels = self._labels(key)
            for bound, n in zip(DURATION_BUCKETS, buckets):
                lines.append('istio_request_duration_milliseconds_bucket{%s,le="%s"} %d' % (labels, _le(bound), n))
            lines.append('istio_request_duration_milliseconds_bucket{%s,le="+Inf"} %d' % (labels, count))
            lines.append("istio_request_duration_milliseconds_sum{%s} %s" % (labels, repr(float(total))))
            lines.append("istio_request_duration_milliseconds_count{%s} %d" % (labels, count))
        return "\n".join(lines) + "\n"

    @staticmethod
    def _labels(key):
        return ",".join('%s="%s"' % (name, _escape(value)) for name, value in zip(LABELS, key))


def _le(bound):
    return repr(float(bound)) if bound != int(bound) else "%d" % bound
