"""AWSKinesisStreams.BufferedProducer: many user records per request, KPL-aggregated, in key order."""

import time
from concurrent.futures import Future
from functools import partial
from typing import Any, Callable, List, Optional

from ..error import Error, internal_error, library_error
from ..loop import LOOP
from ..put_record_result import PutRecordResult
from ..record import MAX_RECORD_BYTES, Record, _describe, is_finite_number
from ..streams import AWSKinesisStreams, Outcome, close_seconds
from ..transport.signed_request import Timeout
from ..metrics.figures import ProducerMeter, register
from .accumulator import Accumulator
from .lazy_future import LazyFuture
from .outcomes import answer
from .sender import Sender

MIN_AGGREGATE_BYTES = 1024
MAX_AGGREGATE_BYTES = MAX_RECORD_BYTES - 1024  # room for the aggregate's partition key (up to 256 characters)


def _number(value: object, low: float, name: str, wrong: List[str], integer: bool = False) -> None:
    """Add to `wrong` unless `value` is an int (where `integer`) or a finite float-sized number, of at least `low`."""
    kinds = (int,) if integer else (int, float)
    typed = isinstance(value, kinds) and not isinstance(value, bool)
    if not typed or not (integer or is_finite_number(value)) or not value >= low:  # type: ignore[operator]
        kind = "an integer" if integer else "a finite number"
        wrong.append("%s must be %s >= %s, got %s" % (name, kind, low, _describe(value)))


class _Batch:
    """The records of one putRecords call: one callback once each has its outcome."""

    def __init__(self, count: int, callback: Any, future: LazyFuture) -> None:
        self.results: List[Optional[PutRecordResult]] = [None] * count
        self.failed = 0
        self.left = count
        self.callback = callback
        self.future = future

    def one(self, index: int, error: Optional[Error], result: Optional[PutRecordResult]) -> None:
        """Record `index`'s outcome; the last one runs the call's callback."""
        if error is not None:
            result = PutRecordResult(error.awsErrorType or error.type.name, error.details)
            self.failed += 1
        self.results[index] = result
        self.left -= 1
        if not self.left:
            answer(self.callback, self.future, (None, self.failed, self.results))


class BufferedProducer(AWSKinesisStreams):
    """Buffers user records and writes them in PutRecords requests, aggregated the KPL way by default.

    `BufferedProducer(region, accessKeyId, secretAccessKey, streamName, *, endpoint=None,
    sessionToken=None, aggregate=True, maxBufferedTime=0.1, recordTtl=30.0,
    maxBufferedBytes=64 * 2**20, rateLimit=1.0)`; beyond the contract, `timeout=` (a Timeout)
    and `maxAggregateBytes=` (256 KiB: cheaper per user record than the KPL's 51,200, see the
    README's "Speed"). Records of one partition key reach
    the stream in the order given; each user record gets exactly one callback.
    """

    def __init__(
        self,
        region: str,
        accessKeyId: str,
        secretAccessKey: str,
        streamName: str,
        *,
        endpoint: Optional[str] = None,
        sessionToken: Optional[str] = None,
        aggregate: bool = True,
        maxBufferedTime: float = 0.1,
        recordTtl: float = 30.0,
        maxBufferedBytes: int = 64 * 2**20,
        rateLimit: float = 1.0,
        maxAggregateBytes: int = 256 * 1024,
        timeout: Optional[Timeout] = None,
        credentials: Any = None,
    ) -> None:
        if timeout is None and isinstance(recordTtl, (int, float)) and not isinstance(recordTtl, bool) and recordTtl > 0:
            # a request that hangs must not hold its records much past their time to live
            timeout = Timeout(min(Timeout.connect, recordTtl), min(Timeout.read, recordTtl))
        # retries=0: the sender retries failed records itself, per shard and within recordTtl
        super().__init__(
            region, accessKeyId, secretAccessKey, streamName, endpoint=endpoint, sessionToken=sessionToken,
            timeout=timeout, retries=0, credentials=credentials,
        )
        self._accumulator: Optional[Accumulator] = None
        wrong: List[str] = []
        if not isinstance(aggregate, bool):
            wrong.append("aggregate must be True or False, got %s" % _describe(aggregate))
        _number(maxBufferedTime, 0, "maxBufferedTime", wrong)
        _number(recordTtl, 0.001, "recordTtl", wrong)
        _number(maxBufferedBytes, 1, "maxBufferedBytes", wrong, integer=True)
        _number(rateLimit, 0.001, "rateLimit", wrong)
        _number(maxAggregateBytes, MIN_AGGREGATE_BYTES, "maxAggregateBytes", wrong, integer=True)
        if isinstance(maxAggregateBytes, int) and maxAggregateBytes > MAX_AGGREGATE_BYTES:
            wrong.append("maxAggregateBytes must be at most %d, got %s" % (MAX_AGGREGATE_BYTES, _describe(maxAggregateBytes)))
        if wrong:
            earlier = self._init_error.details + "; " if self._init_error else "BufferedProducer wrongly initialized: "
            self._init_error = library_error(earlier + "; ".join(wrong))
        if self._init_error is not None:
            return
        assert self._kinesis is not None
        accumulator: List[Accumulator] = []  # the meter's gauges read it once it is made
        self._meter = ProducerMeter(streamName, lambda: accumulator[0].outstanding, lambda: accumulator[0].buffered)
        self._sender = Sender(self._kinesis, self._meter)
        self._accumulator = Accumulator(
            maxAggregateBytes if aggregate else None,
            float(maxBufferedTime),
            float(recordTtl),
            maxBufferedBytes,
            float(rateLimit),
            wake=self._sender.wake,
            meter=self._meter,
        )
        accumulator.append(self._accumulator)
        self._sender.serve(self._accumulator)
        register(self._meter)

    @property
    def outstandingRecords(self) -> int:
        """User records given and not yet answered."""
        return self._accumulator.outstanding if self._accumulator else 0

    def _refuse(self, error: Error, callback: Any, failure: Outcome) -> "Future[Outcome]":
        """Deliver a LIBRARY_ERROR (bad argument, closed, buffer full) to the callback on the loop."""
        return self._track(LOOP.deliver((error,) + failure, callback if callable(callback) else None))

    def _check(self, callback: Any) -> None:
        if self._init_error is not None:
            raise self._init_error
        if self._closed:
            raise library_error("BufferedProducer is closed")
        if callback is not None and not callable(callback):
            raise library_error("callback must be callable")

    def putRecord(
        self,
        record: Record,
        callback: Optional[Callable[[Any, Optional[PutRecordResult]], Any]] = None,
    ) -> "Future[Outcome]":
        """Buffer one record; `callback(error, putRecordResult)` once it is written or given up."""
        try:
            if self._closed or self._init_error is not None or (callback is not None and not callable(callback)):
                self._check(callback)
            if not isinstance(record, Record):
                raise library_error("record must be an AWSKinesisStreams.Record, got %s" % _describe(record))
            data = record.encode()
            entry = self._accumulator.add(record.partitionKey, record.explicitHashKey, data, callback)  # type: ignore[union-attr]
        except Exception as exc:
            return self._refuse(exc if isinstance(exc, Error) else internal_error("putRecord", exc), callback, (None,))
        return self._refuse(entry, callback, (None,)) if type(entry) is Error else entry  # type: ignore[return-value]

    def putRecords(
        self,
        records: List[Record],
        callback: Optional[Callable[[Any, int, List[PutRecordResult]], Any]] = None,
    ) -> "Future[Outcome]":
        """Buffer a list of records; `callback(error, failedRecordCount, putRecordResults)` once all have an outcome.

        The results are in the order of `records`. A wrong argument fails the whole call
        (nothing is buffered), as with Producer.putRecords.
        """
        count = 0
        try:
            count = len(records) if isinstance(records, list) else 0
            self._check(callback)
            if not isinstance(records, list) or not records:
                raise library_error("records must be a non-empty list of AWSKinesisStreams.Record, got %s" % _describe(records))
            for index, record in enumerate(records):
                if not isinstance(record, Record):
                    raise library_error("records[%d] must be an AWSKinesisStreams.Record, got %s" % (index, _describe(record)))
            encoded = [record.encode() for record in records]
            batch = _Batch(count, callback, LazyFuture())
            items = [
                (record.partitionKey, record.explicitHashKey, data, partial(batch.one, index))
                for index, (record, data) in enumerate(zip(records, encoded))
            ]
            error = self._accumulator.add_all(items)  # type: ignore[union-attr]
        except Exception as exc:
            error = exc if isinstance(exc, Error) else internal_error("putRecords", exc)
        return batch.future if error is None else self._refuse(error, callback, (count, []))

    def flush(self, callback: Optional[Callable[[Any], Any]] = None) -> "Future[Outcome]":
        """Send what is buffered now; `callback(error)` once every record given before this call has its outcome."""
        try:
            if self._init_error is not None:
                raise self._init_error
            if callback is not None and not callable(callback):
                raise library_error("callback must be callable")
        except Error as error:
            return self._refuse(error, callback, ())
        return self._track(self._accumulator.flush(callback))  # type: ignore[union-attr]

    def close(self, timeout: Optional[float] = None) -> bool:
        """Flush, refuse new records (LIBRARY_ERROR), and wait until every record given has its outcome.

        True when all have (callbacks run, futures resolved, flushes answered), False if `timeout`
        seconds passed first (they still get their callbacks later). From a callback it cannot
        wait for the loop it runs on: False unless nothing is outstanding. A `timeout` that is
        not a number >= 0 counts as 0: close never raises.
        """
        accumulator = self._accumulator
        if accumulator is None:
            return super().close(timeout)
        seconds = close_seconds(timeout)
        deadline = None if seconds is None else time.monotonic() + seconds
        self._closed = True
        accumulator.close()
        if LOOP.on_loop_thread():
            return accumulator.idle() and super().close(0)
        idle = accumulator.wait_idle(seconds)
        return idle and super().close(None if deadline is None else max(0.0, deadline - time.monotonic()))
