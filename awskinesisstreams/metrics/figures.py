"""The figures every client counts: plain integers and fixed-bucket histograms, bumped where the work
is done, on the thread that does it, with no lock and no request.

Each Worker and BufferedProducer owns a meter registered here weakly: an instance that is gone
leaves the output with it. Requests are counted for the whole process, by service, operation and
outcome, under one lock (a request costs far more than the lock).
"""

import threading
import weakref
from bisect import bisect_left
from typing import Callable, Dict, Iterator, List, Optional, Tuple

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PROCESS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
OUTCOME_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Histogram:
    """Counts of observations per bucket (upper bounds, `le`), their sum and count."""

    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds: Tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float, times: int = 1) -> None:
        self.counts[bisect_left(self.bounds, value)] += times
        self.sum += value * times
        self.count += times

    def cumulative(self) -> List[Tuple[str, int]]:
        """(le, count of observations at or below it) per bucket, "+Inf" last, as Prometheus writes them."""
        total, out = 0, []
        for bound, count in zip(self.bounds + (float("inf"),), self.counts):
            total += count
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
        return out


class StatSet:
    """Sample count, sum, minimum and maximum since it was last taken: what CloudWatch's statistic sets hold."""

    __slots__ = ("count", "sum", "min", "max")

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.count, self.sum, self.min, self.max = 0, 0.0, float("inf"), float("-inf")

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def take(self) -> Optional[Tuple[int, float, float, float]]:
        """(count, sum, min, max), then empty again; None when nothing was observed."""
        if not self.count:
            return None
        taken = (self.count, self.sum, self.min, self.max)
        self._clear()
        return taken


class Requests:
    """Every HTTP request of the process: count by (service, operation, outcome), latency by (service, operation)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Dict[Tuple[str, str, str], int] = {}
        self.seconds: Dict[Tuple[str, str], Histogram] = {}

    def record(self, service: str, operation: str, outcome: str, seconds: float) -> None:
        with self.lock:
            key = (service, operation, outcome)
            self.counts[key] = self.counts.get(key, 0) + 1
            histogram = self.seconds.get((service, operation))
            if histogram is None:
                histogram = self.seconds[(service, operation)] = Histogram(REQUEST_BUCKETS)
            histogram.observe(seconds)


REQUESTS = Requests()


class ShardFigures:
    """One shard's figures in a Worker (loop thread, but `lost` and `taken` on the Worker's own threads)."""

    __slots__ = ("records", "bytes", "millis", "taken", "lost", "checkpoints", "process", "records_stat", "bytes_stat",
                 "millis_stat")

    def __init__(self) -> None:
        self.records = self.bytes = self.taken = self.lost = self.checkpoints = 0
        self.millis: Optional[int] = None
        self.process = Histogram(PROCESS_BUCKETS)
        self.records_stat, self.bytes_stat, self.millis_stat = StatSet(), StatSet(), StatSet()

    def batch(self, records: int, size: int, millis: Optional[int]) -> None:
        """A batch handed to processRecords."""
        self.records += records
        self.bytes += size
        self.records_stat.observe(records)
        self.bytes_stat.observe(size)
        if millis is not None:
            self.millis = millis
            self.millis_stat.observe(millis)


class WorkerMeter:
    """A Worker's figures: per shard, and the leases it holds now."""

    kind = "worker"

    def __init__(self, application: str, stream: str, worker: str, leases_held: Callable[[], int]) -> None:
        self.labels = (("application", application), ("stream", stream), ("worker", worker))
        self.stream = stream
        self.leases_held = leases_held
        self.shards: Dict[str, ShardFigures] = {}

    def shard(self, shard_id: str) -> ShardFigures:
        figures = self.shards.get(shard_id)
        if figures is None:
            figures = self.shards[shard_id] = ShardFigures()
        return figures

    def max_millis_behind(self) -> Optional[int]:
        """The largest millisBehindLatest of the shards it reads (the application-level lag, as one worker sees it)."""
        known = [figures.millis for figures in list(self.shards.values()) if figures.millis is not None]
        return max(known) if known else None


class ProducerMeter:
    """A BufferedProducer's figures (loop thread), and how much it buffers now."""

    kind = "producer"

    def __init__(self, stream: str, buffered_records: Callable[[], int], buffered_bytes: Callable[[], int]) -> None:
        self.labels = (("stream", stream),)
        self.stream = stream
        self.ok = self.failed = self.kinesis_records = self.retries = 0
        self.buffered_records = buffered_records
        self.buffered_bytes = buffered_bytes
        self.seconds = Histogram(OUTCOME_BUCKETS)
        self.ok_stat, self.failed_stat, self.kinesis_stat, self.retries_stat = StatSet(), StatSet(), StatSet(), StatSet()


_METERS: "weakref.WeakSet[object]" = weakref.WeakSet()
_METERS_LOCK = threading.Lock()


def register(meter: object) -> None:
    """Show `meter` while its owner lives."""
    with _METERS_LOCK:
        _METERS.add(meter)


def meters() -> Iterator[object]:
    """The meters of the live instances, in a stable order."""
    with _METERS_LOCK:
        live = list(_METERS)
    return iter(sorted(live, key=lambda meter: (meter.kind, meter.labels)))  # type: ignore[attr-defined]
