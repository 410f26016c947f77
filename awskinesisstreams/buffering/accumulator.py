"""The record accumulator: user records routed to per-shard queues, where they wait to be sent.

Any thread may add records (waiting while the buffer is full). The sender, on the library's
loop, takes what is ready, gives back what failed, and hands back every outcome; the
accumulator frees the room, answers the flushes and wakes the sender (`wake`) whenever
something became ready or falls due sooner than the sender was last told. The accumulator
never sends; the sender never touches a queue.

A Batch is what one PutRecords request carries: a shard's queue and the units taken from it.
While the shard map is unknown (at the start, after a reshard) records wait unrouted and
nothing is taken; `mapped` routes every buffered record again, in the order given.
"""

import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Set, Tuple, Union

from ..error import Error, library_error
from ..loop import LOOP
from ..metrics.figures import ProducerMeter
from .lazy_future import LazyFuture
from .outcomes import Epoch, Flush, Tally, Written, answer, buffer_full, deliver, expired
from .shard_map import ShardMap
from .shard_queue import Entry, ShardQueue, Unit

# What a buffered user record costs in memory, as tracemalloc measures it: its data and key about 2.5
# times (as given, then encoded for the request) plus the bookkeeping around it, larger when every
# record is a Kinesis record of its own.
AGGREGATED_OVERHEAD = 250
PLAIN_OVERHEAD = 490
ROUTE_CACHE_SIZE = 1 << 16
INFINITY = float("inf")
CLOSED = "BufferedProducer is closed"
_now = time.monotonic

GivenUp = List[Tuple[Entry, Error]]
Batch = Tuple[ShardQueue, List[Unit]]


class Accumulator:
    """The buffer of one stream's user records, per predicted shard (see the module's docstring)."""

    def __init__(
        self,
        aggregate_bytes: Optional[int],
        max_buffered_time: float,
        record_ttl: float,
        max_buffered_bytes: int,
        rate_limit: float,
        wake: Callable[[], None],
        meter: ProducerMeter,
    ) -> None:
        self._aggregate_bytes = aggregate_bytes
        self._max_time = max_buffered_time
        self._ttl = record_ttl
        self._max_bytes = max_buffered_bytes
        self._overhead = AGGREGATED_OVERHEAD if aggregate_bytes else PLAIN_OVERHEAD
        self._rate_limit = rate_limit
        self._wake = wake
        self._meter = meter
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # notified whenever records are answered (room, or idle)
        self._map: Optional[ShardMap] = None  # None: unknown, being (re)built
        self._queues: List[ShardQueue] = []  # by shard map index
        self._routes: Dict[str, ShardQueue] = {}  # partition key -> its queue, while the map holds
        self._unrouted: List[Entry] = []  # given while the map was unknown
        self._pending: Set[ShardQueue] = set()  # queues with a unit ready since the sender last took
        self._due = INFINITY  # the earliest time the sender was told to come back at
        self._in_flight = 0  # batches taken and not given back
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
                return entry
            wake = self._place(entry, queue)
        if wake:
            self._wake()
        return entry

    def add_all(self, records: Sequence[Tuple[str, Optional[str], bytes, Any]]) -> Optional[Error]:
        """Buffer checked user records (key, hash key, data, callback), or a LIBRARY_ERROR (closed, or
        "buffer full" on the loop thread, where all must fit at once; one alone fits an empty buffer)."""
        costs = [(len(data) + len(key)) * 5 // 2 + self._overhead for key, _, data, _ in records]
        total = sum(costs)
        wake = False
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
                    if wake:
                        self._wake()  # what is ready must go for room to be made
                        wake = False
                    self._wait_for_room(cost)
                self.buffered += cost
                wake = self._place(Entry(key, hash_key, data, callback, _now(), epoch, cost), None) or wake
        if wake:
            self._wake()
        return None

    def _place(self, entry: Entry, queue: Optional[ShardQueue]) -> bool:
        """Route a counted record into its queue (the lock is held); True when the sender must be woken."""
        if queue is None:
            queue = self._route(entry)
            if queue is None:
                self._unrouted.append(entry)
                return self._due_at(entry.given + self._ttl) or len(self._unrouted) == 1
        if queue.add(entry):
            self._pending.add(queue)
            return True
        return self._due_at(queue.deadline)

    def _due_at(self, when: float) -> bool:
        """Whether `when` is sooner than the sender will come back (the lock is held)."""
        if when < self._due:
            self._due = when
            return True
        return False

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
        self._wake()
        while self.buffered and self.buffered + cost > self._max_bytes:
            self._room.wait()

    # -- flushing -------------------------------------------------------------------

    def flush(self, callback: Any) -> "Future[Tuple[Any, ...]]":
        """Seal every open batch now; `callback(None)` once every record given before has its answer."""
        with self._lock:
            epoch, self._epoch = self._epoch, Epoch()
            self._seal_all()
            future: Optional[LazyFuture] = None
            if epoch.count or self._flushes:  # else every earlier epoch is answered: its flush has finished
                future = LazyFuture()
                self._flushes.append(Flush(epoch, callback, future))
        self._wake()
        return future if future is not None else LOOP.deliver((None,), callback)

    def close(self) -> None:
        """Refuse records from now on (LIBRARY_ERROR) and send what is buffered."""
        with self._lock:
            self._closed = True
        self.flush(None)

    def _seal_all(self) -> None:
        for queue in self._queues:
            queue.seal()
        self._pending.update(self._queues)

    def idle(self) -> bool:
        """Whether every record given has had its callback and its future resolved."""
        return self.settled == self.given

    def wait_idle(self, timeout: Optional[float]) -> bool:
        """Wait until every record given has its answer and resolved future (True), or `timeout` seconds pass (False)."""
        with self._room:
            return self._room.wait_for(self.idle, timeout)

    # -- for the sender (loop thread) -----------------------------------------------

    def ready(self, now: float, everywhere: bool = False) -> List[Batch]:
        """The batches that may go now, one per idle shard; those shards are busy until given back.

        Only the queues that became ready since the last call are looked at, or every queue
        when `everywhere` (the timer: a pause or a rate limit may have run out)."""
        with self._lock:
            if self._map is None:
                return []
            queues = self._queues if everywhere else self._pending
            batches = [(queue, units) for queue, units in ((queue, queue.take(now)) for queue in queues) if units]
            self._pending = set()
            self._in_flight += len(batches)
            return batches

    def returned(self, batch: Batch, failed: List[Unit], error: Optional[Error], backoff: Callable[[int], float], now: float) -> GivenUp:
        """A batch came back: its failed units wait again at the head of their queue, less the records
        past their time to live, which are returned to be answered with `error`."""
        queue = batch[0]
        with self._lock:
            self._in_flight -= 1
            again, too_old = queue.without_expired(failed, now - self._ttl)
            queue.landed(again, error, backoff, now)
            self._pending.add(queue)
        return [(entry, expired(self._ttl, error)) for entry in too_old]

    def unmap(self) -> None:
        """A record landed outside its predicted shard: no batch is taken until the map is built again."""
        with self._lock:
            self._map = None

    def needs_map(self) -> bool:
        """The map is unknown, records wait for it, and every batch taken is back: time to list the shards."""
        with self._lock:
            if self._map is not None or self._in_flight:
                return False
            return bool(self._unrouted) or any(queue.oldest() < INFINITY for queue in self._queues)

    def mapped(self, shard_map: ShardMap) -> None:
        """A new shard map: every buffered record is routed on it again, in the order given."""
        with self._lock:
            entries = self._drain()
            old = {queue.shard_id: queue for queue in self._queues}
            self._queues = [
                old.get(shard_id) or ShardQueue(shard_id, pin, self._aggregate_bytes, self._rate_limit, self._max_time)
                for shard_id, pin in zip(shard_map.ids, shard_map.pins)
            ]
            self._map = shard_map
            self._routes = {}
            for entry in entries:
                self._route(entry).add(entry)  # type: ignore[union-attr]
            if self._flushes:  # a flush came while these records had no shard: they go now
                for queue in self._queues:
                    queue.seal()
            self._pending.update(self._queues)

    def give_up_all(self, error: Error) -> GivenUp:
        """Every buffered record, to be answered with `error` (the stream cannot be written)."""
        with self._lock:
            return [(entry, error) for entry in self._drain()]

    def _drain(self) -> List[Entry]:
        """Every buffered record, in the order given (the lock is held)."""
        entries = [entry for queue in self._queues for entry in queue.drain()] + self._unrouted
        self._unrouted = []
        return entries

    def expire(self, now: float, unrouted_error: Optional[Error]) -> GivenUp:
        """Take out the records past their time to live, and seal the batches past maxBufferedTime."""
        cutoff = now - self._ttl
        given_up: GivenUp = []
        with self._lock:
            for queue in self._queues:
                given_up.extend((entry, expired(self._ttl, queue.last_error)) for entry in queue.expire(cutoff))
                if queue.deadline <= now + 0.001:  # a timer may fire a hair early
                    queue.seal()
            if self._unrouted and self._unrouted[0].given <= cutoff:
                error = expired(self._ttl, unrouted_error)
                given_up.extend((entry, error) for entry in self._unrouted if entry.given <= cutoff)
                self._unrouted = [entry for entry in self._unrouted if entry.given > cutoff]
        return given_up

    def next_due(self, now: float) -> float:
        """When the sender must come back (a batch to seal, a pause or rate limit over, a record to
        expire); infinity when every record is answered or none can go before the map is back."""
        with self._lock:
            when = INFINITY
            if self.settled != self.given:
                if self._unrouted:
                    when = self._unrouted[0].given + self._ttl
                for queue in self._queues:
                    when = min(when, queue.oldest() + self._ttl)
                    if self._map is not None:  # else nothing is sealed or sent until the map is built again
                        when = min(when, queue.deadline, queue.next_send())
            self._due = when
            return when

    def _count(self, written: Written, given_up: GivenUp) -> None:
        """Outcomes in the meter: per Kinesis record, each user record timed from the oldest it went with."""
        meter, now = self._meter, _now()
        ok = 0
        for unit, _ in written:
            count = len(unit.entries)
            ok += count
            meter.seconds.observe(now - unit.oldest, count)
        for entry, _ in given_up:
            meter.seconds.observe(now - entry.given)
        meter.ok += ok
        meter.failed += len(given_up)
        if ok:
            meter.ok_stat.observe(ok)
        if given_up:
            meter.failed_stat.observe(len(given_up))

    def answer(self, written: Written, given_up: GivenUp) -> None:
        """Run the callbacks of records written and given up, resolve their futures, then free their
        room and answer the flushes that were waiting for them (loop thread)."""
        if not written and not given_up:
            return
        done = deliver(written, given_up, self._tally)
        self._count(written, given_up)
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
