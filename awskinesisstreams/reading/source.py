"""Where one shard's records come from: a source of batches the reader pulls one at a time, as the KCL's RecordsPublisher.

A reader asks `source.next(deliver)` when it is ready for more, and `deliver(error, batch)`
runs once, later, on the library's loop thread. Pull-based, so a source that is pushed its
records (SubscribeToShard) holds at most a small queue and the reader's pace is its
backpressure. Pacing, iterator renewal and backoff stay inside the source: its user only
sees batches, the end of the shard, and the errors it must hear about.

`PollingSource` reads with GetShardIterator and GetRecords.
"""

import math
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from ..enums import AWS_KINESIS_STREAMS_ERROR, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as ITERATOR
from ..error import Error, as_error, library_error
from ..wire.kinesis import MAX_GET_LIMIT, Kinesis
from ..wire.received_records import size_of
from ..loop import LOOP, Timer
from ..record import Record

MIN_POLL_INTERVAL = 0.2  # at most 5 GetRecords calls a second per shard (the service limit)
MAX_BACKOFF = 10.0
THROTTLED = ("ProvisionedThroughputExceededException", "LimitExceededException")
EXPIRED = "ExpiredIteratorException"


class Batch(NamedTuple):
    """What one `next` brings: records (maybe none), the lag, and whether the shard is read to its end."""

    records: List[Record]
    millisBehindLatest: int
    ended: bool  # a closed shard read to its end: these are its last records, no batch follows
    childShardIds: Optional[List[str]]  # once ended: its children if the source learnt them, None if not known
    bytes: int = 0  # the data the batch's Kinesis records carried


Deliver = Callable[[Optional[Error], Optional[Batch]], Any]
Report = Callable[[Error], Any]


class ShardSource:
    """The batches of one shard, from a starting position, pulled on the loop.

    Built with the shard id, the start as getShardIterator takes it (`type`, and
    `typeOptions` with `startingSequenceNumber` or `timestamp`) and `report(error)`, which
    the source calls on the loop for an error it gets past (a failed call it will try again,
    a batch whose records are not JSON and so come as bytes); the user decides who hears it.
    """

    shardId: str

    def next(self, deliver: Deliver) -> None:
        """Ask for the next batch (loop thread): `deliver(error, batch)` runs once, later, on the loop.

        `deliver(None, batch)`: a batch; ask again for the one after it, unless `batch.ended`.
        `deliver(error, None)`: the source has failed for good (a vanished shard, wrong
        arguments, too many failures in a row) and delivers nothing more.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Stop at once (loop thread): a batch asked for is never delivered and no more calls are made."""
        raise NotImplementedError


class PollingSource(ShardSource):
    """GetRecords on one shard, at most every 0.2 s while behind and every `pace` seconds once caught up.

    An expired iterator is renewed after the last record delivered (and reported); a failed call
    is reported and tried again with exponential backoff, up to `maxFailures` in a row (None: for
    ever). Errors of the AWS types in `fatal`, and LIBRARY_ERRORs, end the source at once.
    Records come as the Consumer's would with the same `isBlob` and `deaggregate`.
    """

    def __init__(
        self,
        kinesis: Kinesis,
        shardId: str,
        type: ITERATOR,
        typeOptions: Optional[Dict[str, Any]],
        report: Report,
        *,
        isBlob: bool = False,
        deaggregate: bool = False,
        limit: int = MAX_GET_LIMIT,
        pace: float = 2.0,
        maxFailures: Optional[int] = None,
        fatal: Tuple[str, ...] = ("ResourceNotFoundException",),
    ) -> None:
        self.shardId = shardId
        self._kinesis = kinesis
        self._start = (type, typeOptions)
        self._report = report
        self._is_blob = isBlob
        self._deaggregate = deaggregate
        self._limit = limit
        self._pace = pace
        self._max_failures = maxFailures
        self._fatal = fatal
        self._options: Optional[Dict[str, Any]] = None  # GetRecords options once an iterator is known
        self._after: Optional[str] = None  # the last sequence number delivered
        self._millis = 0
        self._last_get = -math.inf
        self._caught_up = False
        self._failures = 0
        self._deliver: Optional[Deliver] = None
        self._timer: Optional[Timer] = None
        self._over = False  # closed, failed or read to its end

    def next(self, deliver: Deliver) -> None:
        if self._over or self._deliver is not None:
            why = "asked while a batch is awaited" if self._deliver is not None else "asked after its end or close"
            LOOP.deliver((library_error("shard source of %s %s" % (self.shardId, why)), None), deliver)
            return
        self._deliver = deliver
        if self._options is None:
            self._get_iterator()
            return
        delay = self._pace if self._caught_up else MIN_POLL_INTERVAL
        self._timer = LOOP.wakeup(max(0.0, self._last_get + delay - time.monotonic()), self._poll)

    def close(self) -> None:
        self._over = True
        self._deliver = None
        if self._timer is not None:
            LOOP.cancelwakeup(self._timer)
            self._timer = None

    # -- the calls ------------------------------------------------------------------

    def _get_iterator(self) -> None:
        self._timer = None
        if self._after is not None:
            kind, options = ITERATOR.AFTER_SEQUENCE_NUMBER, {"startingSequenceNumber": self._after}
        else:
            kind, options = self._start
        self._call(lambda kinesis: kinesis.get_shard_iterator(self.shardId, kind, options), self._got_iterator)

    def _got_iterator(self, error: Optional[Error], iterator: Optional[str]) -> None:
        if self._over:
            return
        if error is not None:
            self._failed(error, self._get_iterator)
            return
        self._options = {"shardIterator": iterator, "limit": self._limit}
        self._poll()

    def _poll(self) -> None:
        self._timer = None
        self._last_get = time.monotonic()
        options = self._options
        self._call(lambda kinesis: kinesis.get_records(options, self._is_blob, self._deaggregate), self._got_records)

    def _got_records(self, error: Optional[Error], result: Any) -> None:
        if self._over:
            return
        if error is not None and error.records is not None:
            self._report(error)  # a record that is not JSON: the batch comes as bytes
            result = (error.records, self._millis, error.nextOptions)
        elif error is not None and error.awsErrorType == EXPIRED:
            self._report(error)
            self._options = None
            self._get_iterator()
            return
        elif error is not None:
            self._failed(error, self._poll)
            return
        records, self._millis, self._options = result
        self._failures = 0
        if records:
            self._after = records[-1].sequenceNumber
        self._caught_up = not records and not self._millis
        ended = self._options is None
        self._hand_over(None, Batch(records, self._millis, ended, None, size_of(records)), ended)

    def _failed(self, error: Error, retry: Callable[[], Any]) -> None:
        """Back off and try again, or end the source with `error` if it is final."""
        self._failures += 1
        final = error.type is AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR or error.awsErrorType in self._fatal
        if final or (self._max_failures is not None and self._failures >= self._max_failures):
            self._hand_over(error, None, True)
            return
        self._report(error)
        self._timer = LOOP.wakeup(min(MAX_BACKOFF, MIN_POLL_INTERVAL * 2**self._failures), retry)

    def _hand_over(self, error: Optional[Error], batch: Optional[Batch], last: bool) -> None:
        deliver, self._deliver = self._deliver, None
        self._over = last
        if deliver is not None:
            deliver(error, batch)

    def _call(self, prepare: Callable[[Kinesis], Callable[[], Any]], then: Callable[[Optional[Error], Any], None]) -> None:
        """A call through the mapping layer: sent on the pool, `then(error, result)` on the loop."""

        def work() -> Tuple[Optional[Error], Any]:
            try:
                return None, prepare(self._kinesis)()
            except Exception as exc:
                return as_error(exc), None

        LOOP.call(work, then)
