"""AWSKinesisStreams.CloudWatchMetrics: the same figures, published with PutMetricData every `interval`
seconds under the names a KCL or KPL user knows, as statistic sets (one datum per figure and
interval, never one per record).

It runs on a thread of its own and signs as every client does. A CloudWatch that refuses,
throttles or does not answer is logged, and what was not published is tried again at the next
interval, up to a bound: it never slows or fails a Kinesis call.
"""

import logging
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from ..error import Error, library_error
from ..transport.credentials import signing_source
from ..transport.query import post_form, text_of
from ..transport.signed_request import resolve_endpoint
from .figures import ProducerMeter, WorkerMeter, meters

logger = logging.getLogger("awskinesisstreams")

VERSION = "2010-08-01"
MAX_DATUMS = 1000  # per PutMetricData request
MAX_BYTES = 1024 * 1024  # per request body
MAX_PENDING = 20 * MAX_DATUMS  # kept for the next interval while CloudWatch fails; the oldest go first

Datum = Dict[str, str]  # a MetricData member's fields, as the Query protocol names them


def _datum(name: str, unit: str, dimensions: List[Tuple[str, str]], stats: Tuple[int, float, float, float], when: str) -> Datum:
    count, total, low, high = stats
    datum = {"MetricName": name, "Unit": unit, "Timestamp": when, "StatisticValues.SampleCount": str(count),
             "StatisticValues.Sum": repr(float(total)), "StatisticValues.Minimum": repr(float(low)),
             "StatisticValues.Maximum": repr(float(high))}
    for index, (key, value) in enumerate(dimensions, 1):
        datum["Dimensions.member.%d.Name" % index] = key
        datum["Dimensions.member.%d.Value" % index] = value
    return datum


def _merge(stats: List[Tuple[int, float, float, float]]) -> Tuple[int, float, float, float]:
    return (sum(s[0] for s in stats), sum(s[1] for s in stats), min(s[2] for s in stats), max(s[3] for s in stats))


def collect(when: str) -> List[Datum]:
    """One interval's datums from every live Worker and BufferedProducer (their statistic sets are emptied)."""
    datums: List[Datum] = []
    for meter in meters():
        if isinstance(meter, WorkerMeter):
            datums += _worker(meter, when)
        elif isinstance(meter, ProducerMeter):
            datums += _producer(meter, when)
    return datums


def _worker(meter: WorkerMeter, when: str) -> List[Datum]:
    stream = [("StreamName", meter.stream)]
    out: List[Datum] = []
    per_stream: Dict[str, List[Tuple[int, float, float, float]]] = {"RecordsProcessed": [], "BytesProcessed": [], "MillisBehindLatest": []}
    for shard, figures in sorted(list(meter.shards.items())):
        for name, unit, stat in (("RecordsProcessed", "Count", figures.records_stat), ("BytesProcessed", "Bytes", figures.bytes_stat),
                                 ("MillisBehindLatest", "Milliseconds", figures.millis_stat)):
            taken = stat.take()
            if taken is not None:
                out.append(_datum(name, unit, stream + [("ShardId", shard)], taken, when))
                per_stream[name].append(taken)
    for name, unit in (("RecordsProcessed", "Count"), ("BytesProcessed", "Bytes"), ("MillisBehindLatest", "Milliseconds")):
        if per_stream[name]:
            out.append(_datum(name, unit, stream, _merge(per_stream[name]), when))
    held = float(meter.leases_held())
    out.append(_datum("LeasesHeld", "Count", stream, (1, held, held, held), when))
    return out


def _producer(meter: ProducerMeter, when: str) -> List[Datum]:
    stream = [("StreamName", meter.stream)]
    out = []
    for name, stat in (("UserRecordsPut", meter.ok_stat), ("UserRecordsFailed", meter.failed_stat),
                       ("KinesisRecordsPut", meter.kinesis_stat), ("RetriesPerRecord", meter.retries_stat)):
        taken = stat.take()
        if taken is not None:
            out.append(_datum(name, "Count", stream, taken, when))
    return out


def batches(datums: List[Datum]) -> List[List[Datum]]:
    """The datums grouped into PutMetricData requests: at most MAX_DATUMS and MAX_BYTES of body each."""
    groups: List[List[Datum]] = []
    size = 0
    for datum in datums:
        weight = sum(len(key) + 24 + len(value) * 3 for key, value in datum.items())  # encoded, numbered, generously
        if groups and len(groups[-1]) < MAX_DATUMS and size + weight <= MAX_BYTES - 4096:
            groups[-1].append(datum)
            size += weight
        else:
            groups.append([datum])
            size = weight
    return groups


def request_params(datums: List[Datum], namespace: str) -> Dict[str, str]:
    """One PutMetricData request's parameters, as the Query protocol numbers them."""
    params = {"Action": "PutMetricData", "Version": VERSION, "Namespace": namespace}
    for index, datum in enumerate(datums, 1):
        params.update(("MetricData.member.%d.%s" % (index, key), value) for key, value in datum.items())
    return params


class CloudWatchMetrics:
    """Publishes the process's figures to CloudWatch every `interval` seconds (see the module's docstring).

    `CloudWatchMetrics(region, accessKeyId, secretAccessKey, namespace, *, endpoint=None,
    sessionToken=None, credentials=None, interval=60.0)`; `close()` publishes what is left.
    """

    def __init__(
        self, region: str, accessKeyId: Optional[str], secretAccessKey: Optional[str], namespace: str, *,
        endpoint: Optional[str] = None, sessionToken: Optional[str] = None, credentials: Any = None, interval: float = 60.0,
    ) -> None:
        source, wrong = signing_source(accessKeyId, secretAccessKey, sessionToken, credentials)
        for name, value in (("region", region), ("namespace", namespace)):
            if not isinstance(value, str) or not value:
                wrong.append("%s must be a non-empty string" % name)
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 < interval <= 86400:
            wrong.append("interval must be seconds, more than 0 and at most 86400")
        self.namespace = namespace
        self._source = source
        self._region = region
        self._url = resolve_endpoint("monitoring", region, endpoint) if not wrong else ""
        self._interval = interval
        self._pending: List[Datum] = []
        self._lock = threading.Lock()  # one publish at a time
        self._stop = threading.Event()
        self.published = 0  # datums CloudWatch accepted
        self.failures = 0  # requests that failed
        self.error: Optional[Error] = library_error("CloudWatchMetrics wrongly initialized: %s" % "; ".join(wrong)) if wrong else None
        if self.error is not None:
            logger.warning("%s", self.error.details)
            return
        self._thread = threading.Thread(target=self._run, name="awskinesisstreams-cloudwatch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.publish()

    def publish(self) -> bool:
        """Publish now what was counted since the last time (and what failed then): True if all went."""
        if self.error is not None:
            return False
        with self._lock:
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            datums = self._pending + collect(when)
            self._pending = []
            failed: List[Datum] = []
            for group in batches(datums):
                if self._put(request_params(group, self.namespace), len(group)):
                    self.published += len(group)
                else:
                    failed += group
            self._pending = failed[-MAX_PENDING:]
            if len(failed) > MAX_PENDING:
                logger.warning("CloudWatch metrics: %d data points dropped (more than %d waiting)", len(failed) - MAX_PENDING, MAX_PENDING)
            return not failed

    def _put(self, params: Dict[str, str], count: int) -> bool:
        try:
            status, root = post_form(self._url, self._region, "monitoring", params, self._source.keys())
        except Exception as exc:  # no answer, or no credentials: logged, kept for the next interval
            self.failures += 1
            logger.warning("CloudWatch metrics: PutMetricData of %d data points failed: %s", count, getattr(exc, "details", type(exc).__name__))
            return False
        if status != 200:
            self.failures += 1
            logger.warning("CloudWatch metrics: PutMetricData answered HTTP %d %s %s", status, text_of(root, "Code"), text_of(root, "Message"))
            return False
        return True

    def close(self, timeout: Optional[float] = None) -> bool:
        """Stop the timer and publish what is left: True if it all went."""
        if self.error is not None:
            return False
        self._stop.set()
        self._thread.join(timeout)
        return self.publish()

    def __enter__(self) -> "CloudWatchMetrics":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "AWSKinesisStreams.CloudWatchMetrics(namespace=%r, interval=%r)" % (self.namespace, self._interval)

