"""The process's figures in the Prometheus text exposition format (0.0.4), served at /metrics.

    server = AWSKinesisStreams.serveMetrics(port=9102)   # then scrape http://host:9102/metrics
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from .figures import REQUESTS, Histogram, ProducerMeter, WorkerMeter, meters

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "awskinesisstreams_"
Labels = Sequence[Tuple[str, str]]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels) -> str:
    return "{%s}" % ",".join('%s="%s"' % (name, _escape(str(value))) for name, value in labels) if labels else ""


class Family:
    """One metric's HELP and TYPE lines and its samples."""

    def __init__(self, name: str, kind: str, help: str) -> None:
        self.name, self.kind, self.help = PREFIX + name, kind, help
        self.lines: List[str] = []

    def sample(self, labels: Labels, value: float, suffix: str = "") -> None:
        self.lines.append("%s%s%s %s" % (self.name, suffix, _labels(labels), _number(value)))

    def histogram(self, labels: Labels, histogram: Histogram) -> None:
        for le, count in histogram.cumulative():
            self.sample(tuple(labels) + (("le", le),), count, "_bucket")
        self.sample(labels, histogram.sum, "_sum")
        self.sample(labels, histogram.count, "_count")

    def text(self) -> str:
        head = "# HELP %s %s\n# TYPE %s %s\n" % (self.name, self.help, self.name, self.kind)
        return head + "".join(line + "\n" for line in self.lines)


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def render() -> str:
    """Every figure of the process, as a scrape reads it."""
    families = {
        "requests": Family("requests_total", "counter", "HTTP requests by service, operation and outcome (ok, the AWS error type, or network)."),
        "request_seconds": Family("request_seconds", "histogram", "HTTP request latency in seconds, by service and operation."),
        "records": Family("worker_records_processed_total", "counter", "User records handed to processRecords."),
        "bytes": Family("worker_bytes_processed_total", "counter", "Bytes of the records handed to processRecords."),
        "millis": Family("worker_millis_behind_latest", "gauge", "The last millisBehindLatest read, per shard."),
        "held": Family("worker_leases_held", "gauge", "Leases this worker holds now."),
        "taken": Family("worker_leases_taken_total", "counter", "Leases this worker took."),
        "lost": Family("worker_leases_lost_total", "counter", "Leases this worker lost (taken over, not renewed, stuck)."),
        "checkpoints": Family("worker_checkpoints_total", "counter", "Checkpoints written."),
        "process": Family("worker_process_records_seconds", "histogram", "Seconds from a batch handed to processRecords to its cb."),
        "user": Family("producer_user_records_total", "counter", "User records answered, by outcome (ok or failed)."),
        "kinesis": Family("producer_kinesis_records_total", "counter", "Kinesis records sent and accepted."),
        "retries": Family("producer_retries_total", "counter", "Kinesis records sent again after a failure."),
        "buffered_records": Family("producer_buffered_records", "gauge", "User records given and not yet answered."),
        "buffered_bytes": Family("producer_buffered_bytes", "gauge", "Bytes buffered, counted against maxBufferedBytes."),
        "user_seconds": Family("producer_user_record_seconds", "histogram", "Seconds from putRecord to the outcome."),
    }
    with REQUESTS.lock:
        counts = sorted(REQUESTS.counts.items())
        seconds = [(key, _copy(histogram)) for key, histogram in sorted(REQUESTS.seconds.items())]
    for (service, operation, outcome), count in counts:
        families["requests"].sample((("service", service), ("operation", operation), ("outcome", outcome)), count)
    for (service, operation), histogram in seconds:
        families["request_seconds"].histogram((("service", service), ("operation", operation)), histogram)
    for meter in meters():
        if isinstance(meter, WorkerMeter):
            _worker(families, meter)
        elif isinstance(meter, ProducerMeter):
            _producer(families, meter)
    return "".join(family.text() for family in families.values())


def _copy(histogram: Histogram) -> Histogram:
    copied = Histogram(histogram.bounds)
    copied.counts, copied.sum, copied.count = list(histogram.counts), histogram.sum, histogram.count
    return copied


def _worker(families: Any, meter: WorkerMeter) -> None:
    labels = meter.labels
    families["held"].sample(labels, meter.leases_held())
    for shard, figures in sorted(list(meter.shards.items())):
        per = tuple(labels) + (("shard", shard),)
        families["records"].sample(per, figures.records)
        families["bytes"].sample(per, figures.bytes)
        if figures.millis is not None:
            families["millis"].sample(per, figures.millis)
        families["taken"].sample(per, figures.taken)
        families["lost"].sample(per, figures.lost)
        families["checkpoints"].sample(per, figures.checkpoints)
        families["process"].histogram(per, _copy(figures.process))


def _producer(families: Any, meter: ProducerMeter) -> None:
    labels = meter.labels
    families["user"].sample(tuple(labels) + (("outcome", "ok"),), meter.ok)
    families["user"].sample(tuple(labels) + (("outcome", "failed"),), meter.failed)
    families["kinesis"].sample(labels, meter.kinesis_records)
    families["retries"].sample(labels, meter.retries)
    families["buffered_records"].sample(labels, meter.buffered_records())
    families["buffered_bytes"].sample(labels, meter.buffered_bytes())
    families["user_seconds"].histogram(labels, _copy(meter.seconds))


class MetricsServer:
    """GET /metrics on a daemon thread; `port` is where it listens, `close()` stops it."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics is served here")
                    return
                body = render().encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.host, self.port = host, self._server.server_address[1]
        self._thread: Optional[threading.Thread] = threading.Thread(
            target=self._server.serve_forever, name="awskinesisstreams-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and free the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread = None

    def __enter__(self) -> "MetricsServer":
        return self

    def __exit__(self, *exc: Iterable[Any]) -> None:
        self.close()

    def __repr__(self) -> str:
        return "AWSKinesisStreams.serveMetrics(port=%d, host=%r)" % (self.port, self.host)


def serve_metrics(port: int = 0, host: str = "127.0.0.1") -> MetricsServer:
    """Serve the process's figures at http://host:port/metrics until `close()`; port 0 picks a free one."""
    return MetricsServer(port, host)
