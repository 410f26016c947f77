"""The records on their way to one shard: collected, aggregated, rate limited and kept in order.

A ShardQueue gathers user records into an open batch (an Aggregate, or a list when not
aggregating), seals it into units (one unit = one Kinesis record to be), and hands out
units for one PutRecords request at a time. Per-key order holds because a shard has at
most one request in flight, a request never carries two units that share a partition key
(PutRecords is not atomic: a later entry may succeed where an earlier one failed), and a
failed unit goes back to the head of the queue, before anything later of its keys.
"""

import time
from collections import deque
from concurrent.futures._base import PENDING
from typing import Any, Callable, Deque, Iterable, List, Optional, Sequence, Set, Tuple

from ..wire.kpl_aggregation import DIGEST_BYTES, MAGIC, Aggregate
from ..wire.kinesis import MAX_PUT_BYTES, MAX_RECORDS_PER_PUT, record_entry
from .lazy_future import LazyFuture
from ..record import key_bytes

class Entry(LazyFuture):
    """A user record in the buffer, and the future its putRecord returned (one object: fewer for the GC to walk)."""

    __slots__ = ("key", "hash_key", "data", "callback", "given", "epoch", "cost")

    def __init__(self, key: str, hash_key: Optional[str], data: bytes, callback: Any, given: float, epoch: Any, cost: int) -> None:
        self._state = PENDING  # LazyFuture's fields, set here: this runs once per user record
        self._result = None
        self._exception = None
        self._cond = None
        self.key = key
        self.hash_key = hash_key
        self.data = data
        self.callback = callback
        self.given = given  # time.monotonic() when it was given, for recordTtl
        self.epoch = epoch  # the flush epoch it was given in
        self.cost = cost  # bytes counted against maxBufferedBytes


RECORDS_PER_SECOND = 1000  # a shard's write limit, in Kinesis records ...
BYTES_PER_SECOND = 1024 * 1024  # ... and in bytes
SCAN = 4 * MAX_RECORDS_PER_PUT  # queued units looked at for one request
AGGREGATE_OVERHEAD = len(MAGIC) + DIGEST_BYTES + 64  # magic, MD5 and protobuf framing, generously


class TokenBucket:
    """At most `rate` a second, in bursts of at most one second's worth (as the KPL limits itself)."""

    __slots__ = ("rate", "tokens", "stamp")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = time.monotonic()

    def refill(self, now: float) -> None:
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def allows(self, amount: float) -> bool:
        """Whether `amount` may go now; more than a second's worth goes when the bucket is full."""
        return self.tokens >= amount or self.tokens >= self.rate

    def wait(self, amount: float) -> float:
        """Seconds until `amount` may go."""
        return max(0.0, (min(amount, self.rate) - self.tokens) / self.rate)


class Unit:
    """One Kinesis record to be: an aggregate of user records, or one user record alone."""

    __slots__ = ("entries", "keys", "text", "size", "oldest", "aggregated")

    def __init__(self, entries: List[Entry], keys: Iterable[str], text: str, size: int, aggregated: bool) -> None:
        self.entries = entries
        self.keys = keys  # the partition keys of its user records
        self.text = text  # its PutRecords entry (kinesis.record_entry)
        self.size = size  # data plus partition key, as Kinesis counts it
        self.oldest = min(entry.given for entry in entries)
        self.aggregated = aggregated


def plain_unit(entry: Entry) -> Unit:
    """A user record sent as a Kinesis record of its own."""
    key, data = entry.key, entry.data
    return Unit([entry], (key,), record_entry(data, key, entry.hash_key), len(data) + key_bytes(key), False)


class ShardQueue:
    """The buffer of one predicted shard: an open batch, sealed units waiting, and the shard's pace."""

    def __init__(self, shard_id: str, pin: str, aggregate_bytes: Optional[int], rate_limit: float, max_time: float) -> None:
        self.shard_id = shard_id
        self.pin = pin  # a hash key inside the shard: an aggregate's ExplicitHashKey
        self.aggregate_bytes = aggregate_bytes  # None: not aggregating
        self.max_time = max_time
        self.open: List[Entry] = []
        self.open_bytes = 0
        self.aggregate = Aggregate(aggregate_bytes) if aggregate_bytes else None
        self.deadline = float("inf")  # when the open batch must be sealed (oldest record + maxBufferedTime)
        self.ready: Deque[Unit] = deque()
        self.busy = False  # a request is in flight
        self.not_before = 0.0  # backing off after a failure until then
        self.failures = 0  # failed requests in a row
        self.last_error: Any = None
        self.records = TokenBucket(RECORDS_PER_SECOND * rate_limit)
        self.bytes = TokenBucket(BYTES_PER_SECOND * rate_limit)

    # -- collecting -----------------------------------------------------------------

    def add(self, entry: Entry) -> bool:
        """Buffer a user record; True when a unit became ready to send."""
        if not self.open:
            self.deadline = entry.given + self.max_time
        aggregate = self.aggregate
        if aggregate is None:
            self.open.append(entry)
            self.open_bytes += entry.cost
            if len(self.open) >= MAX_RECORDS_PER_PUT or self.open_bytes >= MAX_PUT_BYTES:
                self.seal()
                return True
            return False
        if entry.cost + AGGREGATE_OVERHEAD > aggregate.max_bytes:  # too big to share: alone, after what came first
            self.seal()
            self.ready.append(plain_unit(entry))
            return True
        if aggregate.add(entry.key, entry.hash_key, entry.data):
            self.open.append(entry)
            return False
        self.seal()
        self.deadline = entry.given + self.max_time
        self.aggregate.add(entry.key, entry.hash_key, entry.data)  # type: ignore[union-attr]
        self.open.append(entry)
        return True

    def seal(self) -> None:
        """Turn the open batch into units ready to send."""
        entries = self.open
        if not entries:
            return
        self.open = []
        self.open_bytes = 0
        self.deadline = float("inf")
        if self.aggregate is None:
            self.ready.extend(plain_unit(entry) for entry in entries)
            return
        self.ready.append(self._aggregated(self.aggregate, entries))
        self.aggregate = Aggregate(self.aggregate_bytes)  # type: ignore[arg-type]

    def _aggregated(self, aggregate: Aggregate, entries: List[Entry]) -> Unit:
        data = aggregate.encode()
        key = entries[0].key
        return Unit(entries, {entry.key for entry in entries}, record_entry(data, key, self.pin), len(data) + key_bytes(key), True)

    def _rebuilt(self, unit: Unit, entries: List[Entry]) -> Unit:
        """`unit` with only `entries` (some of its own) left in it."""
        if not unit.aggregated:
            return unit
        aggregate = Aggregate(self.aggregate_bytes)  # type: ignore[arg-type]
        for entry in entries:
            aggregate.add(entry.key, entry.hash_key, entry.data)
        return self._aggregated(aggregate, entries)

    # -- sending --------------------------------------------------------------------

    def take(self, now: float) -> List[Unit]:
        """The units of this shard's next request ([] if none may go now); the shard is then busy.

        Units go in queue order; one that shares a partition key with a unit already taken
        or passed over waits for a later request, with everything of its keys behind it.
        """
        ready = self.ready
        if self.busy or not ready or now < self.not_before:
            return []
        records, volume = self.records, self.bytes
        records.refill(now)
        volume.refill(now)
        taken: List[Unit] = []
        passed: List[Unit] = []
        keys: Set[str] = set()
        blocked: Set[str] = set()
        size = 0
        for _ in range(min(len(ready), SCAN)):
            unit = ready.popleft()
            if (
                len(taken) == MAX_RECORDS_PER_PUT
                or size + unit.size > MAX_PUT_BYTES
                or not (records.allows(1) and volume.allows(unit.size))
            ):
                ready.appendleft(unit)
                break
            if not (keys.isdisjoint(unit.keys) and blocked.isdisjoint(unit.keys)):
                blocked.update(unit.keys)
                passed.append(unit)
                continue
            taken.append(unit)
            keys.update(unit.keys)
            size += unit.size
            records.tokens -= 1
            volume.tokens -= unit.size
        ready.extendleft(reversed(passed))
        self.busy = bool(taken)
        return taken

    def next_send(self) -> float:
        """When the head unit may go, if the shard is idle and has one (else infinity)."""
        if self.busy or not self.ready:
            return float("inf")
        head = self.ready[0]
        return max(self.not_before, self.records.stamp + self.records.wait(1), self.bytes.stamp + self.bytes.wait(head.size))

    def landed(self, failed: Sequence[Unit], error: Any, backoff: Callable[[int], float], now: float) -> None:
        """A request came back: `failed` units go back to the head, in order; back off if any failed."""
        self.busy = False
        if failed:
            self.failures += 1
            self.last_error = error
            self.not_before = now + backoff(self.failures)
            self.ready.extendleft(reversed(failed))
        else:
            self.failures = 0

    # -- time to live and re-routing ------------------------------------------------

    def expire(self, cutoff: float) -> List[Entry]:
        """Take out and return the user records given before `cutoff` (their time to live is over).

        Only a queue whose head is that old is searched: the oldest records wait at the head.
        """
        expired: List[Entry] = []
        if self.ready and self.ready[0].oldest <= cutoff:
            kept, expired = self.without_expired(self.ready, cutoff)
            self.ready = deque(kept)
        if self.open and self.open[0].given <= cutoff:
            entries = self.open
            self.open, self.open_bytes, self.deadline = [], 0, float("inf")
            if self.aggregate is not None:
                self.aggregate = Aggregate(self.aggregate_bytes)  # type: ignore[arg-type]
            for entry in entries:
                if entry.given <= cutoff:
                    expired.append(entry)
                else:
                    self.add(entry)
        return expired

    def oldest(self) -> float:
        """When the oldest record buffered here (about: the heads) was given; infinity if none."""
        return min(self.ready[0].oldest if self.ready else float("inf"), self.open[0].given if self.open else float("inf"))

    def drain(self) -> List[Entry]:
        """Take out every user record buffered here, in the order given (for routing again)."""
        entries = [entry for unit in self.ready for entry in unit.entries] + self.open
        self.ready.clear()
        self.open, self.open_bytes, self.deadline = [], 0, float("inf")
        if self.aggregate is not None:
            self.aggregate = Aggregate(self.aggregate_bytes)  # type: ignore[arg-type]
        return entries

    def without_expired(self, units: Iterable[Unit], cutoff: float) -> Tuple[List[Unit], List[Entry]]:
        """`units` less their user records given before `cutoff`, and those records."""
        kept: List[Unit] = []
        expired: List[Entry] = []
        for unit in units:
            if unit.oldest > cutoff:
                kept.append(unit)
                continue
            alive = [entry for entry in unit.entries if entry.given > cutoff]
            expired.extend(entry for entry in unit.entries if entry.given <= cutoff)
            if alive:
                kept.append(self._rebuilt(unit, alive))
        return kept, expired
