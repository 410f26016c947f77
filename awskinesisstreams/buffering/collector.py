"""The collector: user records routed to per-shard queues, sent, retried until their time to live, answered.

It is the engine under BufferedProducer. Any thread may add records (waiting while the
buffer is full); everything else runs on the library's loop: a timer seals batches older
than maxBufferedTime and expires records past recordTtl, each request's answer is handled
when it lands, and every user record gets its one callback there.

After a reshard a result lands in a shard other than the predicted one: no new request
starts, those in flight land, ListShards builds a new map, and every buffered record is
routed again, in the order given.
"""

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple, Union

from ..enums import AWS_KINESIS_STREAMS_ERROR
from ..error import Error, internal_error, library_error
from ..wire.kinesis import Kinesis
from .lazy_future import LazyFuture
from ..loop import LOOP, Timer
from .outcomes import Epoch, Flush, Tally, answer, buffer_full, deliver, expired, record_error
from ..put_record_result import PutRecordResult
from ..transport.retry import Retry, is_retryable
from .shard_map import ShardMap
from .shard_queue import Entry, ShardQueue, Unit

logger = logging.getLogger("awskinesisstreams")

# What a buffered user record costs in memory, as tracemalloc measures it: its data and key about 2.5
# times (as given, then encoded for the request) plus the bookkeeping around it, larger when every
# record is a Kinesis record of its own.
AGGREGATED_OVERHEAD = 250
PLAIN_OVERHEAD = 490
ROUTE_CACHE_SIZE = 1 << 16
PAUSES = Retry()  # after failed requests: from 0.05 s, doubling up to 2 s, with full jitter
INFINITY = float("inf")
_now = time.monotonic
CLOSED = "BufferedProducer is closed"


def _attempt(send: Callable[[], Any]) -> Tuple[Optional[Error], Any]:
    """Run a request on the pool: (None, answer) or (error, None); never raises."""
    try:
        return None, send()
    except Error as error:
        return error, None
    except Exception as exc:
        return internal_error("buffered producer", exc), None


def _retried(error: Error) -> bool:
    """Whether a failed request's records are sent again: it may pass next time, or its answer was unreadable."""
    return is_retryable(error) or error.type is AWS_KINESIS_STREAMS_ERROR.UNEXPECTED_RESPONSE


class Collector:
    """Buffers, sends and answers the user records of one stream (see the module's docstring)."""

    def __init__(
        self,
        kinesis: Kinesis,
        aggregate_bytes: Optional[int],
        max_buffered_time: float,
        record_ttl: float,
        max_buffered_bytes: int,
        rate_limit: float,
    ) -> None:
        self._kinesis = kinesis
        self._aggregate_bytes = aggregate_bytes
        self._max_time = max_buffered_time
        self._ttl = record_ttl
        self._max_bytes = max_buffered_bytes
        self._overhead = AGGREGATED_OVERHEAD if aggregate_bytes else PLAIN_OVERHEAD
        self._rate_limit = rate_limit
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # notified whenever records are answered (room, or idle)
        self._map: Optional[ShardMap] = None  # None: unknown, being (re)built
        self._queues: List[ShardQueue] = []  # by shard map index
        self._routes: Dict[str, ShardQueue] = {}  # partition key -> its queue, while the map holds
        self._unrouted: List[Entry] = []  # given while the map was unknown
        self._listing = False
        self._list_failures = 0
        self._list_not_before = 0.0
        self._list_error: Optional[Error] = None
        self._in_flight = 0  # PutRecords requests
        self._timer: Optional[Timer] = None
        self._timer_at = INFINITY
        self._epoch = Epoch()
        self._flushes: Deque[Flush] = deque()  # in the order given, which is the order they finish in
        self._closed = False
        self._tally = Tally()  # records answered (loop thread only)
        self.given = 0  # user records taken (the lock is held)
        self.settled = 0  # user records whose callback ran and whose future is resolved (the lock is held)
        self.buffered = 0  # bytes, counted against max_buffered_bytes

    @property
    def outstanding(self) -> int:
        """User records given and not yet answered (one stops counting as its callback starts)."""
        answered = self._tally.answered  # read first: the count is never below the truth
        return self.given - answered

    # -- taking records (any thread) ------------------------------------------------

    def add(self, key: str, hash_key: Optional[str], data: bytes, callback: Any) -> Union[Entry, Error]:
        """Buffer one checked user record: its entry (the future putRecord returns), or a LIBRARY_ERROR
        (closed, or "buffer full" on the loop thread)."""
        cost = (len(data) + len(key)) * 5 // 2 + self._overhead
        with self._lock:
            if self._closed:
                return library_error(CLOSED)
            full = self.buffered + cost > self._max_bytes and self.buffered
            if full and LOOP.on_loop_thread():
                return buffer_full(self.buffered, cost, self._max_bytes)
            self.given += 1  # given now, so a flush or close from now on waits for it, even while it waits for room
            epoch = self._epoch
            epoch.count += 1
            if full:
                self._wait_for_room(cost)
            self.buffered += cost
            entry = Entry(key, hash_key, data, callback, _now(), epoch, cost)
            queue = self._routes.get(key) if hash_key is None else None
            # the usual case, inline: one more record in its shard's open aggregate
            if queue is not None and queue.open and queue.aggregate is not None and queue.aggregate.add(key, None, data):
                queue.open.append(entry)
            else:
                self._place(entry, queue)
        return entry

    def add_all(self, records: Sequence[Tuple[str, Optional[str], bytes, Any]]) -> Optional[Error]:
        """Buffer checked user records (key, hash key, data, callback), or a LIBRARY_ERROR (closed, or
        "buffer full" on the loop thread, where all must fit at once; one alone fits an empty buffer)."""
        costs = [(len(data) + len(key)) * 5 // 2 + self._overhead for key, _, data, _ in records]
        total = sum(costs)
        with self._lock:
            if self._closed:
                return library_error(CLOSED)
            fits = self.buffered + total <= self._max_bytes or not self.buffered and len(records) == 1
            if not fits and LOOP.on_loop_thread():
                return buffer_full(self.buffered, total, self._max_bytes)
            self.given += len(records)  # all given now (see add)
            epoch = self._epoch
            epoch.count += len(records)
            for (key, hash_key, data, callback), cost in zip(records, costs):
                if self.buffered + cost > self._max_bytes and self.buffered:
                    self._wait_for_room(cost)
                self.buffered += cost
                self._place(Entry(key, hash_key, data, callback, _now(), epoch, cost), None)
        return None

    def _place(self, entry: Entry, queue: Optional[ShardQueue]) -> None:
        """Route a counted record into its queue and send or arm the timer as needed (the lock is held)."""
        if queue is None:
            queue = self._route(entry)
            if queue is None:
                self._unrouted.append(entry)
                self._list_shards()
                self._arm(entry.given + self._ttl)
                return
        if queue.add(entry):
            self._send(queue, _now())
        elif queue.deadline < self._timer_at:
            self._arm(queue.deadline)

    def _route(self, entry: Entry) -> Optional[ShardQueue]:
        """The queue of the shard the map predicts for `entry` (None while the map is unknown)."""
        if self._map is None:
            return None
        queue = self._queues[self._map.index(entry.key, entry.hash_key)]
        if entry.hash_key is None:
            if len(self._routes) >= ROUTE_CACHE_SIZE:
                self._routes.clear()
            self._routes[entry.key] = queue
        return queue

    def _wait_for_room(self, cost: int) -> None:
        """Wait (the lock is held; never on the loop thread) until `cost` more bytes fit."""
        self._seal_all()
        while self.buffered and self.buffered + cost > self._max_bytes:
            self._room.wait()

    # -- flushing -------------------------------------------------------------------

    def flush(self, callback: Any) -> "Future[Tuple[Any, ...]]":
        """Send every open batch now; `callback(None)` once every record given before has its answer."""
        with self._lock:
            epoch, self._epoch = self._epoch, Epoch()
            self._seal_all()
            if epoch.count or self._flushes:  # else every earlier epoch is answered: its flush has finished
                future = LazyFuture()
                self._flushes.append(Flush(epoch, callback, future))
                return future
        return LOOP.deliver((None,), callback)

    def close(self) -> None:
        """Refuse records from now on (LIBRARY_ERROR) and send what is buffered."""
        with self._lock:
            self._closed = True
        self.flush(None)

    def _seal_all(self) -> None:
        now = time.monotonic()
        for queue in self._queues:
            queue.seal()
            self._send(queue, now)

    def idle(self) -> bool:
        """Whether every record given has had its callback and its future resolved."""
        return self.settled == self.given

    def wait_idle(self, timeout: Optional[float]) -> bool:
        """Wait until every record given has its answer and resolved future (True), or `timeout` seconds pass (False)."""
        with self._room:
            return self._room.wait_for(self.idle, timeout)

    # -- sending and landing (the lock is held) -------------------------------------

    def _send(self, queue: ShardQueue, now: float) -> None:
        """Start the queue's next request, if it has one ready and may send."""
        if self._map is None:
            return
        units = queue.take(now)
        if not units:
            return
        self._in_flight += 1
        send = self._kinesis.put_entries([unit.text for unit in units])
        LOOP.call(lambda: _attempt(send), lambda error, results: self._landed(queue, units, error, results))

    def _landed(self, queue: ShardQueue, units: List[Unit], error: Optional[Error], results: Any) -> None:
        """A PutRecords answer (loop thread): answer what got in, put back what failed, notice a reshard."""
        now = time.monotonic()
        written: List[Tuple[Unit, PutRecordResult]] = []
        failed: List[Unit] = []
        given_up: List[Tuple[Entry, Error]] = []
        moved = False
        if error is None:
            for unit, result in zip(units, results):
                if result.errorCode is None:
                    written.append((unit, result))
                    moved = moved or result.shardId != queue.shard_id
                else:
                    failed.append(unit)
                    error = record_error(result)
        elif _retried(error):
            failed = units
        else:
            given_up = [(entry, error) for unit in units for entry in unit.entries]
        with self._lock:
            self._in_flight -= 1
            again, too_old = queue.without_expired(failed, now - self._ttl)
            queue.landed(again, error, PAUSES.delay, now)
            given_up.extend((entry, expired(self._ttl, error)) for entry in too_old)
            if moved:
                logger.debug("a record landed outside shard %s: listing the shards again", queue.shard_id)
                self._map = None
            if self._map is None:
                self._list_shards()
            else:
                self._send(queue, now)
            self._rearm(now)
        self._answer(written, given_up)

    # -- the shard map (the lock is held) -------------------------------------------

    def _list_shards(self) -> None:
        """Start ListShards once no request is in flight (the answers must land on the old map first)."""
        if self._listing or self._in_flight or time.monotonic() < self._list_not_before:
            return
        self._listing = True
        send = self._kinesis.list_shards()
        LOOP.call(lambda: _attempt(send), self._mapped)

    def _mapped(self, error: Optional[Error], shards: Any) -> None:
        """ListShards answered (loop thread): route every buffered record on the new map, or try again later."""
        now = time.monotonic()
        given_up: List[Tuple[Entry, Error]] = []
        with self._lock:
            self._listing = False
            if error is None:
                try:
                    shard_map = ShardMap(shards)
                except (KeyError, TypeError, ValueError) as exc:
                    error = Error(AWS_KINESIS_STREAMS_ERROR.UNEXPECTED_RESPONSE, "ListShards answer unusable: %s" % exc, 200)
            if error is not None:
                self._list_error = error
                if _retried(error):
                    self._list_failures += 1
                    self._list_not_before = now + PAUSES.delay(self._list_failures)
                else:  # the stream is missing or not ours: nothing buffered can be written
                    given_up = [(entry, error) for entry in self._drain()]
            else:
                self._list_failures = 0
                self._reroute(shard_map)
            self._rearm(now)
        self._answer([], given_up)

    def _drain(self) -> List[Entry]:
        """Every buffered record, in the order given."""
        entries = [entry for queue in self._queues for entry in queue.drain()] + self._unrouted
        self._unrouted = []
        return entries

    def _reroute(self, shard_map: ShardMap) -> None:
        entries = self._drain()
        old = {queue.shard_id: queue for queue in self._queues}
        self._queues = [
            old.get(shard_id)
            or ShardQueue(shard_id, pin, self._aggregate_bytes, self._rate_limit, self._max_time)
            for shard_id, pin in zip(shard_map.ids, shard_map.pins)
        ]
        self._map = shard_map
        self._routes = {}
        for entry in entries:
            self._route(entry).add(entry)  # type: ignore[union-attr]
        now = time.monotonic()
        for queue in self._queues:
            if self._flushes:  # a flush came while these records had no shard: they go now
                queue.seal()
            self._send(queue, now)

    # -- the timer ------------------------------------------------------------------

    def _arm(self, when: float) -> None:
        """Have the timer run at `when` at the latest (the lock is held)."""
        if when >= self._timer_at:
            return
        if self._timer is not None:
            LOOP.cancelwakeup(self._timer)
        self._timer_at = when
        self._timer = LOOP.wakeup(when - time.monotonic(), self._tick)

    def _rearm(self, now: float) -> None:
        """Arm the timer for the next thing to do, while records are buffered (the lock is held)."""
        if self._timer is not None:
            LOOP.cancelwakeup(self._timer)
            self._timer, self._timer_at = None, INFINITY
        if self.settled == self.given:
            return
        when = INFINITY
        if self._map is None:
            if not self._listing:
                when = max(self._list_not_before, now) if not self._in_flight else INFINITY
            if self._unrouted:
                when = min(when, self._unrouted[0].given + self._ttl)
        for queue in self._queues:
            when = min(when, queue.oldest() + self._ttl)
            if self._map is not None:  # else nothing is sealed or sent until the map is built again
                when = min(when, queue.deadline, queue.next_send())
        if when < INFINITY:
            self._arm(when)

    def _tick(self) -> None:
        """The timer (loop thread): seal batches past their deadline, expire old records, send, re-arm."""
        now = time.monotonic()
        cutoff = now - self._ttl
        given_up: List[Tuple[Entry, Error]] = []
        with self._lock:
            self._timer, self._timer_at = None, INFINITY
            for queue in self._queues:
                given_up.extend((entry, expired(self._ttl, queue.last_error)) for entry in queue.expire(cutoff))
                if queue.deadline <= now + 0.001:  # a timer may fire a hair early
                    queue.seal()
                self._send(queue, now)
            if self._unrouted and self._unrouted[0].given <= cutoff:
                error = expired(self._ttl, self._list_error)
                given_up.extend((entry, error) for entry in self._unrouted if entry.given <= cutoff)
                self._unrouted = [entry for entry in self._unrouted if entry.given > cutoff]
            if self._map is None:
                self._list_shards()
            self._rearm(now)
        self._answer([], given_up)

    # -- answering (loop thread, without the lock) ----------------------------------

    def _answer(self, written: List[Tuple[Unit, PutRecordResult]], given_up: List[Tuple[Entry, Error]]) -> None:
        """Run the callbacks of records written and given up, resolve their futures, then free their room."""
        if not written and not given_up:
            return
        done = deliver(written, given_up, self._tally)
        finished: List[Flush] = []
        with self._lock:
            freed = 0
            for entry in done:
                entry.epoch.count -= 1
                freed += entry.cost
            self.buffered -= freed
            self._room.notify_all()
            flushes = self._flushes
            while flushes and not flushes[0].epoch.count:  # earlier epochs are answered: their flushes went first
                finished.append(flushes.popleft())
        for flush in finished:
            answer(flush.callback, flush.future, (None,))
        with self._lock:  # settled last: close returns once the flushes before it are answered too
            self.settled += len(done)
            self._room.notify_all()
