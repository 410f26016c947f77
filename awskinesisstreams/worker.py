"""AWSKinesisStreams.Worker: many processes share the reading of one stream, as kine and the KCL do.

Each shard is read by one worker at a time, which holds its lease in a lease store. Three
kinds of work, each on its own thread so none waits behind another:

- the loop (the library's thread) reads the shards and runs the application's callbacks;
- the heartbeat thread renews this worker's leases every `heartbeatPeriod`, even while a
  `processRecords` call is busy. It gives up a shard that made no progress for `stuckAfter`
  seconds (its callback never called back, or the loop is blocked): the lease is released
  so another worker takes over;
- the coordinator thread lists shards every `shardSyncPeriod` (new shards get leases, leases
  of vanished shards are deleted), and every `heartbeatPeriod` looks at the leases: it takes
  free or expired ones up to its fair share, and asks a busier worker to hand one over.

A lease is expired when its counter has not moved for `leaseDuration` on this worker's own
monotonic clock: no host's timestamp is ever compared with another's.
"""

import itertools
import logging
import math
import os
import random
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from .enums import AWS_KINESIS_STREAMS_ERROR, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as ITERATOR, to_enum
from .error import Error, library_error
from .kinesis import _timestamp
from .leases import AT_TIMESTAMP, LATEST, SHARD_END, START_POSITIONS, TRIM_HORIZON, Lease, LeaseStore, SQLiteLeaseStore
from .loop import LOOP, Timer
from .request import Timeout, is_unicode
from .streams import AWSKinesisStreams

logger = logging.getLogger("awskinesisstreams")

PACES = {"slow": 3.0, "normal": 2.0, "fast": 1.0}  # seconds between polls of a caught-up shard, as kine's -z
MIN_POLL_INTERVAL = 0.2  # at most 5 GetRecords calls a second per shard (the service limit)
MAX_BACKOFF = 10.0
THROTTLED = ("ProvisionedThroughputExceededException", "LimitExceededException")
DEFAULT_STORE = "awskinesisstreams-leases.sqlite3"
CALLBACKS = ("init", "processRecords", "onShardClosed", "onError")
DEFAULTS: Dict[str, Any] = {
    "applicationName": None,  # the stream's name
    "workerId": None,  # host:pid:random
    "leaseStore": None,  # SQLiteLeaseStore(DEFAULT_STORE) in the current folder
    "initialPosition": ITERATOR.TRIM_HORIZON,
    "timestamp": None,
    "maxShards": None,
    "limit": 1000,
    "leaseDuration": 10.0,
    "heartbeatPeriod": None,  # a third of leaseDuration
    "shardSyncPeriod": 60.0,
    "stuckAfter": 60.0,
    "pace": "normal",
    "isBlob": False,
}


def _as_error(exc: Exception) -> Error:
    """Any failure of a store or a call, as the library's Error (an sqlite3 error, say)."""
    if isinstance(exc, Error):
        return exc
    return Error(AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED, "%s: %s" % (type(exc).__name__, exc))


def _seconds(value: object) -> bool:
    """True for a positive number that a thread can wait (threading.TIMEOUT_MAX at most)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 < value <= threading.TIMEOUT_MAX


class LeaseLost(Error):
    """This worker no longer holds a shard's lease (taken over, released while stuck, not renewable):
    a REQUEST_FAILED error, as the store refuses this worker's writes to that lease."""

    def __init__(self, shardId: str, why: str) -> None:
        super().__init__(AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED, "lease of %s lost: %s" % (shardId, why))
        self.shardId = shardId


class Checkpointer:
    """The `cb` handed to `processRecords`: `cb(error, checkpoint)`; also says which shard the records are from."""

    def __init__(self, reader: "_ShardReader", last: str, next_options: Optional[Dict[str, Any]]) -> None:
        self.shardId = reader.shardId
        self.millisBehindLatest = reader.millis_behind
        self._reader = reader
        self._last = last
        self._next = next_options
        self._called = False

    def __call__(self, error: Any = None, checkpoint: bool = False) -> None:
        if self._called:
            return
        self._called = True
        LOOP.deliver((error, bool(checkpoint), self._last, self._next), self._reader.processed)


class _ShardReader:
    """Reads one leased shard on the loop: iterator, GetRecords, processRecords, checkpoint, again."""

    def __init__(self, worker: "Worker", lease: Lease) -> None:
        self.worker = worker
        self.lease = lease
        self.shardId = lease.shardId
        self.lock = threading.Lock()  # one store write at a time for this lease (heartbeat vs checkpoint)
        self.lost = False
        self.done = False
        self.options: Optional[Dict[str, Any]] = None
        self.last_sequence: Optional[str] = None
        self.millis_behind: Optional[int] = None
        self.progress = self.renewed = time.monotonic()
        self.timer: Optional[Timer] = None
        self.last_get = 0.0
        self.failures = 0

    # -- the reading cycle (loop thread) --------------------------------------------------

    def start(self) -> None:
        init = self.worker._callbacks["init"]
        if init is None:
            LOOP.deliver((None,), self._after_init)
        else:
            self._user(init, self.shardId, lambda error=None, *_: LOOP.deliver((error,), self._after_init))

    def _after_init(self, error: Any) -> None:
        self._step()
        if error:
            self._give_up("init failed: %s" % (error,))
        else:
            self._get_iterator()

    def _get_iterator(self) -> None:
        position = self.last_sequence or self.lease.checkpoint
        if position in (TRIM_HORIZON, LATEST):
            kind, options = ITERATOR[position], None
        elif position == AT_TIMESTAMP:
            kind, options = ITERATOR.AT_TIMESTAMP, {"timestamp": self.worker._options["timestamp"]}
        else:
            kind, options = ITERATOR.AFTER_SEQUENCE_NUMBER, {"startingSequenceNumber": position}
        self._kinesis_call(lambda kinesis: kinesis.get_shard_iterator(self.shardId, kind, options), self._got_iterator)

    def _got_iterator(self, error: Optional[Error], iterator: Optional[str]) -> None:
        self._step()
        if error is not None:
            self._failed(error, self._get_iterator)
            return
        self.options = {"shardIterator": iterator, "limit": self.worker._options["limit"]}
        self._poll()

    def _poll(self) -> None:
        self.timer = None
        self._step()
        if self._leaving():
            return
        self.last_get = time.monotonic()
        is_blob = self.worker._options["isBlob"]
        self._kinesis_call(lambda kinesis: kinesis.get_records(self.options, is_blob), self._got_records)

    def _got_records(self, error: Optional[Error], result: Any) -> None:
        self._step()
        if self.lost:
            self._finish()
            return
        if error is not None and error.records is not None:
            self.worker._report(self.shardId, error)  # a record that is not JSON: the batch comes as bytes
            result = (error.records, self.millis_behind, error.nextOptions)
        elif error is not None:
            if error.awsErrorType == "ExpiredIteratorException":
                self._get_iterator()
            else:
                self._failed(error, self._poll)
            return
        self.failures = 0
        records, self.millis_behind, next_options = result
        if not records:
            self._continue(next_options, caught_up=True)
            return
        last = records[-1].sequenceNumber
        self.last_sequence = last
        self._user(self.worker._callbacks["processRecords"], records, Checkpointer(self, last, next_options))

    def processed(self, error: Any, checkpoint: bool, last: str, next_options: Optional[Dict[str, Any]]) -> None:
        """What the application's `cb(error, checkpoint)` asked for, on the loop."""
        self._step()
        if self.lost:
            if checkpoint:
                self.worker._report(self.shardId, LeaseLost(self.shardId, "checkpoint at %s refused" % last))
            self._finish()
        elif error:
            self._give_up("processRecords failed: %s" % (error,))
        elif checkpoint:
            self._write(lambda lease: self.worker._store.checkpoint(lease, last), lambda: self._continue(next_options, False))
        else:
            self._continue(next_options, caught_up=False)

    def _continue(self, next_options: Optional[Dict[str, Any]], caught_up: bool) -> None:
        if self._leaving():
            return
        if next_options is None:
            self._shard_end()
            return
        self.options = next_options
        delay = self.worker._pace if caught_up else MIN_POLL_INTERVAL
        self._wait(max(0.0, self.last_get + delay - time.monotonic()), self._poll)

    def _shard_end(self) -> None:
        """Every record delivered: tell the application, then checkpoint SHARD_END so children may start."""

        def closed(error: Any = None, *_: Any) -> None:
            LOOP.deliver((error,), after)

        def after(error: Any) -> None:
            self._step()
            if error:
                self._give_up("onShardClosed failed: %s" % (error,))
            elif self._still_mine("checkpoint SHARD_END"):
                self._write(lambda lease: self.worker._store.checkpoint(lease, SHARD_END), self._ended)

        on_closed = self.worker._callbacks["onShardClosed"]
        if on_closed is None:
            after(None)
        else:
            self._user(on_closed, self.shardId, closed)

    def _ended(self) -> None:
        self.worker._sync_now.set()  # its children are ready: list them and take them soon
        self._finish()

    # -- leaving a shard ------------------------------------------------------------------

    def _leaving(self) -> bool:
        """At a batch boundary: stop here if the lease is gone, the worker stops, or a handover was asked."""
        wanted = self.lease.wanted
        if self.lost or self.worker._stopping or (wanted and wanted != self.worker.workerId):
            self._finish()
            return True
        return False

    def leave_now(self) -> None:
        """The worker stops: a shard waiting for its next poll is left at once (loop thread)."""
        if self.timer is not None and not self.done:
            LOOP.cancelwakeup(self.timer)
            self.timer = None
            self._finish()

    def _finish(self) -> None:
        """Release the lease (or hand it to the worker that asked) unless it is lost, then forget the shard."""
        if self.done:
            return
        if self.lost:
            self._forget()
            return
        wanted = None if self.worker._stopping else self.lease.wanted
        self._write(lambda lease: self.worker._store.release(lease, to=wanted), self._forget, released=True)

    def _forget(self) -> None:
        self.done = True
        self.worker._forget(self)

    def _give_up(self, why: str) -> None:
        self.worker._report(self.shardId, library_error("%s: %s" % (self.shardId, why)))
        self._finish()

    def _still_mine(self, what: str) -> bool:
        if self.lost:
            self.worker._report(self.shardId, LeaseLost(self.shardId, what + " refused"))
            self._finish()
        return not self.lost

    def lose(self, why: str) -> None:
        """The lease is gone (any thread): deliver nothing more and tell the application."""
        if not self.lost:
            self.lost = True
            self.worker._report(self.shardId, LeaseLost(self.shardId, why))

    # -- helpers --------------------------------------------------------------------------

    def _step(self) -> None:
        self.progress = time.monotonic()

    def _wait(self, seconds: float, then: Callable[[], Any]) -> None:
        self.timer = LOOP.wakeup(seconds, then)

    def _user(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call an application callback; one that raises counts as a failed call."""
        try:
            fn(*args)
        except Exception as exc:
            logger.exception("%s callback raised", getattr(fn, "__name__", "application"))
            self._give_up("callback raised %s: %s" % (type(exc).__name__, exc))

    def _kinesis_call(
        self, prepare: Callable[[Any], Callable[[], Any]], then: Callable[[Optional[Error], Any], None]
    ) -> None:
        """A Kinesis call through the Consumer's mapping layer: sent on the pool, `then(error, result)` on the loop."""

        def work() -> tuple:
            try:
                return None, prepare(self.worker._kinesis)()
            except Exception as exc:
                return _as_error(exc), None

        LOOP.call(work, then)

    def _write(self, change: Callable[[Lease], Optional[Lease]], then: Callable[[], Any], released: bool = False) -> None:
        """A conditional lease write on the pool; `then()` on the loop. A refused write means the lease is lost."""

        def work() -> tuple:
            with self.lock:
                if self.lost:
                    return (LeaseLost(self.shardId, "write refused"),)
                try:
                    new = change(self.lease)
                except Exception as exc:
                    return (_as_error(exc),)
                if new is None:
                    self.lost = True
                    return (LeaseLost(self.shardId, "the store refused the write (taken by another worker)"),)
                self.lease = new
                self.renewed = time.monotonic()
                return (None,)

        def done(error: Optional[Error]) -> None:
            self._step()
            if error is None or released:
                if error is not None:
                    logger.debug("release of %s: %s", self.shardId, error)
                then()
            else:
                self.worker._report(self.shardId, error)
                self._finish()

        LOOP.call(work, done)

    def _failed(self, error: Error, retry: Callable[[], Any]) -> None:
        """A Kinesis call failed: back off and retry; a vanished shard is left to the next shard sync."""
        if error.awsErrorType == "ResourceNotFoundException":
            self._give_up("shard no longer exists: %s" % error.details)
            return
        if error.awsErrorType not in THROTTLED:
            self.worker._report(self.shardId, error)
        self.failures += 1
        self._wait(min(MAX_BACKOFF, MIN_POLL_INTERVAL * 2**self.failures), retry)

    def heartbeat(self) -> None:
        """Renew the lease, or lose it (heartbeat thread)."""
        now = time.monotonic()
        stuck_after = self.worker._options["stuckAfter"]
        with self.lock:
            if self.lost or self.done:
                return
            if stuck_after and now - self.progress > stuck_after:
                self.lose("no progress for %.0f s (stuck): lease released for another worker" % (now - self.progress))
                try:
                    self.worker._store.release(self.lease)
                except Exception as exc:
                    logger.debug("release of stuck %s: %s", self.shardId, exc)
                return
            try:
                new = self.worker._store.renew(self.lease, self.millis_behind)
            except Exception as exc:
                if now - self.renewed > self.worker._options["leaseDuration"]:
                    self.lose("not renewed for a lease duration (%s)" % _as_error(exc).details)
                return
            if new is None:
                self.lose("taken by another worker")
            else:
                self.lease, self.renewed = new, time.monotonic()


class Worker(AWSKinesisStreams):
    """Reads every shard of a stream together with other workers (other processes or machines).

    `Worker(region, accessKeyId, secretAccessKey, streamName, options=None, *, endpoint=None,
    sessionToken=None, **options)`; the options (a dict, keywords or both) hold the callbacks
    `init(shardId, cb)`, `processRecords(records, cb)`, `onShardClosed(shardId, cb)`,
    `onError(shardId, error)` and the settings listed in DEFAULTS.
    """

    def __init__(
        self,
        region: str,
        accessKeyId: str,
        secretAccessKey: str,
        streamName: str,
        options: Optional[Dict[str, Any]] = None,
        *,
        endpoint: Optional[str] = None,
        sessionToken: Optional[str] = None,
        timeout: Optional[Timeout] = None,
        **keywords: Any,
    ) -> None:
        # retries=0: each shard reader backs off and retries on its own pace (at most 5 GetRecords
        # a second per shard), which quick client-level retries of a throttle would break.
        super().__init__(
            region,
            accessKeyId,
            secretAccessKey,
            streamName,
            endpoint=endpoint,
            sessionToken=sessionToken,
            timeout=timeout,
            retries=0,
        )
        given = dict(options or {}, **keywords) if isinstance(options, (dict, type(None))) else {}
        self._callbacks = {name: given.pop(name, None) for name in CALLBACKS}
        self._options = dict(DEFAULTS)
        wrong = [] if isinstance(options, (dict, type(None))) else ["options must be a table (dict)"]
        wrong += ["unknown option %r" % (name,) for name in given if not isinstance(name, str) or name not in DEFAULTS]
        self._options.update((name, value) for name, value in given.items() if isinstance(name, str) and name in DEFAULTS)
        wrong += self._check_options()
        if wrong:
            self._options = dict(DEFAULTS)  # never used: start() reports the error
            if self._init_error is None:
                self._init_error = library_error("Worker wrongly initialized: %s" % "; ".join(wrong))
        opts = self._options
        self.applicationName: str = opts["applicationName"] or streamName
        self.workerId: str = opts["workerId"] or "%s:%d:%04x" % (socket.gethostname(), os.getpid(), random.getrandbits(16))
        self._store: LeaseStore = opts["leaseStore"] or SQLiteLeaseStore(DEFAULT_STORE)
        self._heartbeat_period = opts["heartbeatPeriod"] or opts["leaseDuration"] / 3.0
        self._pace = PACES.get(opts["pace"], PACES["normal"])
        self._lock = threading.Lock()
        self._readers: Dict[str, _ShardReader] = {}
        self._seen: Dict[str, tuple] = {}
        self._started = self._stopping = False
        self._halt = threading.Event()  # the coordinator stops
        self._beat_halt = threading.Event()  # the heartbeat stops (after the last shard is left)
        self._sync_now = threading.Event()
        self._coordinator: Optional[threading.Thread] = None
        self._ticker: Optional[Timer] = None

    def _check_options(self) -> List[str]:
        opts, wrong = self._options, []
        if not callable(self._callbacks["processRecords"]):
            wrong.append("processRecords(records, cb) is required")
        wrong += [
            "%s must be callable" % name
            for name, fn in self._callbacks.items()
            if fn is not None and not callable(fn)
        ]
        position = opts["initialPosition"]
        position = ITERATOR[position] if position in START_POSITIONS else to_enum(ITERATOR, position)
        if position is None or position.name not in START_POSITIONS:
            wrong.append("initialPosition must be TRIM_HORIZON, LATEST or AT_TIMESTAMP")
        else:
            opts["initialPosition"] = position
        if position is ITERATOR.AT_TIMESTAMP:
            try:
                _timestamp(opts["timestamp"])
            except Error as error:
                wrong.append(error.details)
        numbers = ("leaseDuration", "heartbeatPeriod", "shardSyncPeriod", "stuckAfter", "maxShards")
        bad_numbers = [name for name in numbers if opts[name] is not None and not _seconds(opts[name])]
        wrong += ["%s must be a positive number of at most %d" % (name, threading.TIMEOUT_MAX) for name in bad_numbers]
        limit = opts["limit"]
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10000:
            wrong.append("limit must be an integer from 1 to 10000")
        if not isinstance(opts["isBlob"], bool):
            wrong.append("isBlob must be a boolean")
        if not isinstance(opts["pace"], str) or opts["pace"] not in PACES:
            wrong.append("pace must be slow, normal or fast")
        if not bad_numbers and opts["heartbeatPeriod"] and opts["heartbeatPeriod"] * 2 > opts["leaseDuration"]:
            wrong.append("heartbeatPeriod must be at most half of leaseDuration")
        for name in ("applicationName", "workerId"):
            value = opts[name]
            if value is not None and (not isinstance(value, str) or not value or not is_unicode(value)):
                wrong.append("%s must be a non-empty, valid Unicode string" % name)
        if opts["leaseStore"] is not None and not isinstance(opts["leaseStore"], LeaseStore):
            wrong.append("leaseStore must be a LeaseStore")
        return wrong

    # -- the application's side -------------------------------------------------------------

    def start(self, callback: Optional[Callable[[Any], Any]] = None) -> None:
        """Start reading: `callback(error)` once the lease store is ready (or could not be made ready)."""
        if self._init_error is not None or self._started:
            error = self._init_error or library_error("Worker already started")
            LOOP.deliver((error,), callback if callable(callback) else None)
            return
        self._started = True
        self._tick()
        self._coordinator = self._spawn(self._coordinate_forever, callback)
        self._spawn(self._heartbeat_forever)

    def stop(self, callback: Optional[Callable[[Any], Any]] = None) -> None:
        """Leave every shard at its next batch boundary, releasing its lease; then `callback(None)`.

        A batch in `processRecords` is waited for, so its checkpoint is written before the lease goes.
        """
        self._stopping = True
        self._halt.set()
        with self._lock:
            readers = list(self._readers.values())
        for reader in readers:
            LOOP.deliver((), reader.leave_now)
        self._spawn(self._wait_stopped, callback)

    def getStats(self) -> Dict[str, Dict[str, Any]]:
        """Per shard this worker reads: millisBehindLatest (lag, for monitoring) and the checkpoint."""
        with self._lock:
            return {
                shard: {"millisBehindLatest": reader.millis_behind, "checkpoint": reader.lease.checkpoint}
                for shard, reader in self._readers.items()
            }

    def _report(self, shardId: Optional[str], error: Error) -> None:
        """Tell the application through onError (on the loop), or log it."""
        on_error = self._callbacks["onError"]
        if on_error is None:
            logger.warning("Worker %s, %s: %s", self.workerId, shardId, error)
        else:
            LOOP.deliver((shardId, error), on_error)

    # -- threads ----------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., Any], *args: Any) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name="awskinesisstreams-worker", daemon=True)
        thread.start()
        return thread

    def _tick(self) -> None:
        """Keep the loop busy while started, so `imp.run()` waits for the worker."""
        self._ticker = None if self._stopping else LOOP.wakeup(self._heartbeat_period, self._tick)

    def _heartbeat_forever(self) -> None:
        while not self._beat_halt.wait(self._heartbeat_period):
            with self._lock:
                readers = list(self._readers.values())
            for reader in readers:
                reader.heartbeat()

    def _coordinate_forever(self, callback: Optional[Callable[[Any], Any]]) -> None:
        ready = False
        last_sync = -math.inf
        while not self._halt.is_set():
            try:
                if not ready:
                    self._store.prepare()
                    ready = True
                    LOOP.deliver((None,), callback)
                if self._sync_now.is_set() or time.monotonic() - last_sync >= self._options["shardSyncPeriod"]:
                    self._sync_now.clear()
                    self._sync_shards()
                    last_sync = time.monotonic()
                self._balance()
            except Exception as exc:
                error = _as_error(exc)
                if not ready:
                    LOOP.deliver((error,), callback)
                    callback = None
                self._report(None, error)
            self._halt.wait(self._heartbeat_period)

    def _wait_stopped(self, callback: Optional[Callable[[Any], Any]]) -> None:
        if self._coordinator is not None:
            self._coordinator.join()  # no lease is taken after this
        while True:
            with self._lock:
                if all(reader.lost or reader.done for reader in self._readers.values()):
                    break
            time.sleep(0.05)
        self._beat_halt.set()
        LOOP.deliver((None,), callback if callable(callback) else None)

    # -- shards and leases (coordinator thread) -------------------------------------------

    def _sync_shards(self) -> None:
        """Give every listed shard a lease (parents first), and delete the leases of shards that are gone."""
        assert self._kinesis is not None
        shards = self._kinesis.list_shards()()
        leases = {lease.shardId: lease for lease in self._store.list(self.applicationName, self._streamName)}
        listed = {shard["ShardId"] for shard in shards}
        initial = self._options["initialPosition"].name
        for shard in shards:
            if shard["ShardId"] in leases:
                continue
            parents = tuple(p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p in listed)
            if any(parent in leases for parent in parents):
                start = TRIM_HORIZON  # born of a reshard while its parents were read: read it all
            elif initial == LATEST and shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber"):
                start = SHARD_END  # a closed shard gets no new records: nothing to read from LATEST on
            else:
                start = initial
            lease = Lease(self.applicationName, self._streamName, shard["ShardId"], checkpoint=start, parents=parents)
            self._store.create(lease)
        for lease in leases.values():
            if lease.shardId not in listed and listed:
                self._store.delete(lease)  # past retention; refused (kept for the next sync) while still renewed

    def _balance(self) -> None:
        """Take free and expired leases up to a fair share; ask a busier worker for one if none is free."""
        me = self.workerId
        leases = self._store.list(self.applicationName, self._streamName)
        now = time.monotonic()
        self._seen = {
            lease.shardId: self._seen[lease.shardId]
            if self._seen.get(lease.shardId, (None,))[0] == (lease.owner, lease.counter)
            else ((lease.owner, lease.counter), now)
            for lease in leases
        }
        finished = {lease.shardId for lease in leases if lease.finished}
        known = {lease.shardId for lease in leases}

        def expired(lease: Lease) -> bool:
            unmoved_for = now - self._seen[lease.shardId][1]
            return lease.owner is None or (lease.owner != me and unmoved_for >= self._options["leaseDuration"])

        live = [
            lease
            for lease in leases
            if not lease.finished and all(parent in finished or parent not in known for parent in lease.parents)
        ]
        with self._lock:
            reading = set(self._readers)
        counts: Dict[str, int] = {me: len(reading)}
        for lease in live:
            if lease.owner and lease.owner != me and not expired(lease):
                counts[lease.owner] = counts.get(lease.owner, 0) + 1
        target = math.ceil(len(live) / len(counts))
        if self._options["maxShards"]:
            target = min(target, int(self._options["maxShards"]))
        room = target - len(reading)
        mine = [lease for lease in live if lease.owner == me and lease.shardId not in reading]
        takeable = [lease for lease in live if lease.owner != me and expired(lease) and lease.shardId not in reading]
        random.shuffle(takeable)
        takeable.sort(key=lambda lease: lease.owner is not None)  # free ones first
        for lease in itertools.islice(itertools.chain(mine, takeable), max(0, room)):
            taken = self._store.take(lease, me)
            if taken is not None and self._stopping:
                self._store.release(taken)
            elif taken is not None:
                self._read(taken)
                room -= 1
        if room > 0 and not takeable:
            self._ask_for_one(live, counts, target)

    def _ask_for_one(self, live: List[Lease], counts: Dict[str, int], target: int) -> None:
        """KCL's fairness: ask the busiest worker for one lease if it holds more than its share.

        Leases already asked for count as moved, so a newcomer does not ask for more than its share.
        """
        me = self.workerId
        mine = counts[me] + sum(1 for lease in live if lease.wanted == me and lease.owner != me)
        others = {owner: count for owner, count in counts.items() if owner != me}
        for lease in live:
            if lease.wanted and lease.owner in others:
                others[lease.owner] -= 1
        if not others or mine >= target:
            return
        busiest = max(others, key=lambda owner: others[owner])
        if others[busiest] > target or (others[busiest] == target and mine < target - 1):
            candidates = [lease for lease in live if lease.owner == busiest and lease.wanted is None]
            if candidates:
                self._store.ask(random.choice(candidates), me)

    def _read(self, lease: Lease) -> None:
        reader = _ShardReader(self, lease)
        with self._lock:
            self._readers[lease.shardId] = reader
        LOOP.deliver((), reader.start)

    def _forget(self, reader: _ShardReader) -> None:
        with self._lock:
            if self._readers.get(reader.shardId) is reader:
                del self._readers[reader.shardId]
