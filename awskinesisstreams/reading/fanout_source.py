"""FanOutSource: one shard's records as SubscribeToShard pushes them (enhanced fan-out), as a ShardSource.

A thread of its own holds the subscription and reads its event stream into a small bounded
queue; the reader pulls batches from that queue on the loop, so a slow reader holds the
stream back rather than filling memory. AWS ends each subscription after 5 minutes: the
source subscribes again after the last continuation it queued, so no record comes twice or
is skipped. After an error it backs off; a ResourceInUseException soon after its own last
subscription (AWS refuses a new one within 5 s) is only waited out. `close()` ends it at once.

A closed shard ends on AWS with an event that carries its children, then the end of the
stream. Where a service does not do that, `shard_closed` (from the Worker's ListShards) ends
it at the first empty event that is caught up.
"""

import threading
import time
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple

from ..enums import AWS_KINESIS_STREAMS_ERROR, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as ITERATOR
from ..error import Error, as_error, library_error
from ..wire.stream_consumers import StreamConsumers, next_options
from ..loop import LOOP
from ..wire.received_records import size_of
from ..record import Record
from .source import MAX_BACKOFF, Batch, Deliver, Report, ShardSource

QUEUE = 2  # events read and not yet asked for
IN_USE = "ResourceInUseException"
IN_USE_WAIT = 1.0  # seconds between tries while AWS still counts the last subscription
IN_USE_GRACE = 6.0  # AWS refuses a subscription within 5 s of the last; longer, another reader holds it
FIRST_BACKOFF = 0.5
EVERY = 1.0  # AWS takes one SubscribeToShard a second per consumer and shard


class FanOutSource(ShardSource):
    """SubscribeToShard on one shard for the stream consumer `consumerARN`, subscribing again until the shard ends.

    Errors are reported and tried again with exponential backoff, up to `maxFailures` in a
    row (None: for ever); LIBRARY_ERRORs and the AWS error types in `fatal` end it at once.
    """

    def __init__(
        self,
        consumers: StreamConsumers,
        consumerARN: str,
        shardId: str,
        type: ITERATOR,
        typeOptions: Optional[Dict[str, Any]],
        report: Report,
        *,
        isBlob: bool = False,
        deaggregate: bool = False,
        maxFailures: Optional[int] = None,
        fatal: Tuple[str, ...] = ("ResourceNotFoundException",),
    ) -> None:
        self.shardId = shardId
        self._consumers = consumers
        self._options: Dict[str, Any] = dict(typeOptions or {}, consumerARN=consumerARN, shardId=shardId, type=type)
        self._report = report
        self._is_blob = isBlob
        self._deaggregate = deaggregate
        self._max_failures = maxFailures
        self._fatal = fatal
        self._cond = threading.Condition()
        self._queue: Deque[Tuple[Optional[Error], Optional[Batch]]] = deque()
        self._deliver: Optional[Deliver] = None
        self._thread: Optional[threading.Thread] = None
        self._subscription: Any = None
        self._children: Optional[List[str]] = None  # set by shard_closed
        self._closed = False
        self._over = False  # its last batch (or final error) handed over

    # -- the ShardSource interface (loop thread) ---------------------------------------

    def next(self, deliver: Deliver) -> None:
        with self._cond:
            refused = self._over or self._closed or self._deliver is not None
            if not refused:
                self._deliver = deliver
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="awskinesisstreams-fanout", daemon=True)
                    self._thread.start()
        if refused:
            why = "asked while a batch is awaited" if self._deliver is not None else "asked after its end"
            LOOP.deliver((library_error("fan-out source of %s %s" % (self.shardId, why)), None), deliver)
        else:
            LOOP.deliver((), self._pump)

    def close(self) -> None:
        """Stop at once (any thread): the subscription is cut and nothing more is delivered."""
        with self._cond:
            self._closed = True
            self._deliver = None
            self._queue.clear()
            subscription = self._subscription
            self._cond.notify_all()
        if subscription is not None:
            subscription.close()

    def shard_closed(self, children: List[str]) -> None:
        """ListShards shows the shard closed, with these children (any thread): end once it is read to its end."""
        with self._cond:
            self._children = list(children)

    # -- handing batches over -----------------------------------------------------------

    def _pump(self) -> None:
        """On the loop: hand the oldest queued batch to the reader, if it asked for one."""
        with self._cond:
            if self._closed or self._deliver is None or not self._queue:
                return
            error, batch = self._queue.popleft()
            deliver, self._deliver = self._deliver, None
            self._over = batch is None or batch.ended
            self._cond.notify_all()
        deliver(error, batch)

    def _put(self, error: Optional[Error], batch: Optional[Batch]) -> bool:
        """On the source's thread: queue a batch, waiting while the queue is full; False once closed."""
        with self._cond:
            while len(self._queue) >= QUEUE and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            self._queue.append((error, batch))
        LOOP.deliver((), self._pump)
        return True

    def _pause(self, seconds: float) -> bool:
        """Wait `seconds` (if more than 0) unless closed first; True if still open."""
        with self._cond:
            return not self._cond.wait_for(lambda: self._closed, max(0.0, seconds))

    def _tell(self, error: Error) -> None:
        LOOP.deliver((error,), lambda error: None if self._closed else self._report(error))

    # -- the subscriptions (the source's own thread) ---------------------------------------

    def _run(self) -> None:
        failures = 0
        last_end = time.monotonic()  # a shard just taken over may still be subscribed by its last reader
        last_start = -EVERY
        while not self._closed:
            if not self._pause(last_start + EVERY - time.monotonic()):
                return
            last_start = time.monotonic()
            try:
                done, children = self._subscribe()
            except Exception as exc:  # an Error, or a bug that must not leave the reader waiting
                error = as_error(exc)
                last_end = time.monotonic() if error.awsErrorType != IN_USE else last_end
                if error.records is not None:  # not JSON: its records come as bytes, and on after them
                    self._tell(error)
                    if not self._put(None, Batch(error.records, 0, False, None)):
                        return
                    self._options = error.nextOptions or self._options
                    continue
                if error.awsErrorType == IN_USE and time.monotonic() - last_end < IN_USE_GRACE:
                    self._pause(IN_USE_WAIT)
                    continue
                failures += 1
                final = error.type is AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR or error.awsErrorType in self._fatal
                if final or (self._max_failures is not None and failures >= self._max_failures):
                    self._put(error, None)
                    return
                self._tell(error)
                self._pause(min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (failures - 1)))
                continue
            failures = 0
            last_end = time.monotonic()
            if children:  # the shard's end, with its children
                self._put(None, Batch([], 0, True, children))
                return
            if done:
                return

    def _subscribe(self) -> Tuple[bool, Optional[List[str]]]:
        """One subscription, read to its end: whether the last batch is queued, and the children the stream named."""
        subscription = self._consumers.subscription(self._options, self._is_blob, self._deaggregate)
        with self._cond:
            if self._closed:
                return True, None
            self._subscription = subscription
        ended: List[List[str]] = []

        def emit(records: List[Record], millis: int, continuation: Optional[str]) -> bool:
            children = self._children
            last = children is not None and not records and not millis
            if not self._put(None, Batch(records, millis, last, children if last else None, size_of(records))):
                return False
            if continuation:
                self._options = next_options(self._options, continuation)
            if last:
                ended.append(children or [])
            return not last

        children = subscription.run(emit)
        return bool(ended), None if ended else children


def closed_shards(shards: List[Dict[str, Any]]) -> Dict[str, List[str]]:
    """The closed shards of a ListShards answer, each with its children's ids."""
    parents = [(child["ShardId"], (child.get("ParentShardId"), child.get("AdjacentParentShardId"))) for child in shards]
    return {
        shard["ShardId"]: [child for child, of in parents if shard["ShardId"] in of]
        for shard in shards
        if shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber")
    }
