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

from ..enums import AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as ITERATOR
from ..error import Error, as_error, library_error
from ..leases.store import LATEST, SHARD_END, TRIM_HORIZON, Lease, LeaseStore, SQLiteLeaseStore
from ..loop import LOOP, Timer
from ..metrics.figures import WorkerMeter, register
from ..record import _describe
from ..transport.signed_request import Timeout
from .shard_reader import Checkpointer, LeaseLost, ReaderContext, ShardReader
from ..wire.stream_consumers import StreamConsumers
from ..reading.fanout_source import FanOutSource, closed_shards
from ..reading.source import PollingSource, Report, ShardSource
from ..streams import AWSKinesisStreams
from .options import CALLBACKS, DEFAULT_STORE, DEFAULTS, PACES, check_options

__all__ = ["Worker", "LeaseLost", "Checkpointer"]  # the reader's two are importable from here, as before

logger = logging.getLogger("awskinesisstreams")


class Stats(Dict[str, Dict[str, Any]]):
    """What getStats returns: shard id -> its figures, and the application's largest lag as an attribute."""

    applicationMillisBehindLatest: Optional[int] = None


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
        credentials: Any = None,
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
            credentials=credentials,
        )
        given = dict(options or {}, **keywords) if isinstance(options, (dict, type(None))) else {}
        self._callbacks = {name: given.pop(name, None) for name in CALLBACKS}
        self._options = dict(DEFAULTS)
        wrong = [] if isinstance(options, (dict, type(None))) else ["options must be a table (dict)"]
        wrong += ["unknown option %r" % (name,) for name in given if not isinstance(name, str) or name not in DEFAULTS]
        self._options.update((name, value) for name, value in given.items() if isinstance(name, str) and name in DEFAULTS)
        wrong += check_options(self._options, self._callbacks)
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
        self._readers: Dict[str, ShardReader] = {}
        self._seen: Dict[str, tuple] = {}
        self._started = self._stopping = False
        self._halt = threading.Event()  # the coordinator stops
        self._beat_halt = threading.Event()  # the heartbeat stops (after the last shard is left)
        self._sync_now = threading.Event()
        self._coordinator: Optional[threading.Thread] = None
        self._ticker: Optional[Timer] = None
        self._consumer_arn: Optional[str] = None  # the fanOut consumer's, once registered
        self._consumer_gone = threading.Event()  # a subscription found no consumer: register it again
        self._consumers = StreamConsumers(self._kinesis) if self._kinesis is not None else None
        self._closed_shards: Dict[str, List[str]] = {}  # closed shard -> its children, at the last ListShards
        self._meter = WorkerMeter(self.applicationName, streamName, self.workerId, lambda: len(self._readers))
        register(self._meter)
        self._table_lag: Optional[int] = None  # the largest lag stored in the lease table, at the last look
        self._context = ReaderContext(
            workerId=self.workerId,
            callbacks=self._callbacks,
            options=self._options,
            store=self._store,
            open_source=self._source,
            report=self._report,
            stopping=lambda: self._stopping,
            shard_ended=self._sync_now.set,
            consumer_gone=self._consumer_gone_now,
            forget=self._forget,
            figures=self._meter.shard,
        )

    # -- the application's side -------------------------------------------------------------

    def start(self, callback: Optional[Callable[[Any], Any]] = None) -> None:
        """Start reading: `callback(error)` once the lease store is ready (or could not be made ready)."""
        error = self._init_error or (library_error("Worker already started") if self._started else None)
        if callback is not None and not callable(callback):
            error = error or library_error("start: callback must be callable, got %s" % _describe(callback))
            callback = None
            self._report(None, error)  # the application has no other way to hear of it
        if error is not None:
            LOOP.deliver((error,), callback)
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

    def getStats(self) -> "Stats":
        """Per shard this worker reads: millisBehindLatest (lag, for monitoring) and the checkpoint.

        Beyond the shards, `.applicationMillisBehindLatest` is the largest lag of the whole
        application: every worker's, as the lease table held it at this worker's last look, and
        this worker's own as it read it (None before anything was read).
        """
        with self._lock:
            stats = Stats(
                (shard, {"millisBehindLatest": reader.millis_behind, "checkpoint": reader.lease.checkpoint})
                for shard, reader in self._readers.items()
            )
        lags = [lag for lag in (self._table_lag, self._meter.max_millis_behind()) if lag is not None]
        stats.applicationMillisBehindLatest = max(lags) if lags else None
        return stats

    def _report(self, shardId: Optional[str], error: Error) -> None:
        """Tell the application through onError (on the loop), or log it."""
        on_error = self._callbacks["onError"]
        if not callable(on_error):  # None, or the wrong option that made the Worker refuse to start
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
                    self._register()
                    ready = True
                    LOOP.deliver((None,), callback)
                elif self._consumer_gone.is_set():
                    self._register()
                if self._sync_now.is_set() or time.monotonic() - last_sync >= self._options["shardSyncPeriod"]:
                    self._sync_now.clear()
                    self._sync_shards()
                    last_sync = time.monotonic()
                self._balance()
            except Exception as exc:
                error = as_error(exc)
                if not ready:
                    LOOP.deliver((error,), callback)
                    callback = None
                self._report(None, error)
            self._halt.wait(self._heartbeat_period)

    def _register(self) -> None:
        """With fanOut: register the consumer if it is missing (a deleted one comes back with a new ARN)."""
        if self._options["fanOut"] is not None:
            self._consumer_arn = self._consumers.register(self._options["fanOut"])()["consumerARN"]  # type: ignore[union-attr]
            self._consumer_gone.clear()

    def _consumer_gone_now(self) -> None:
        """A shard reader's subscription found no consumer (any thread): the coordinator registers it again."""
        if self._consumer_arn is not None:
            self._consumer_gone.set()

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
        self._learn_closed(shards)

    def _learn_closed(self, shards: List[Dict[str, Any]]) -> None:
        """Note the closed shards, and tell the fan-out sources reading them (AWS ends those itself, not every service)."""
        closed = closed_shards(shards)
        with self._lock:
            self._closed_shards = closed
            sources = [reader.source for reader in self._readers.values()]
        for source in sources:
            if isinstance(source, FanOutSource) and source.shardId in closed:
                source.shard_closed(closed[source.shardId])

    def _balance(self) -> None:
        """Take free and expired leases up to a fair share; ask a busier worker for one if none is free."""
        me = self.workerId
        leases = self._store.list(self.applicationName, self._streamName)
        lags = [lease.millisBehindLatest for lease in leases if lease.millisBehindLatest is not None and not lease.finished]
        self._table_lag = max(lags) if lags else None
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

    def _source(self, shardId: str, type: ITERATOR, typeOptions: Optional[Dict[str, Any]], report: Report) -> ShardSource:
        """Where a shard reader gets its batches: SubscribeToShard with fanOut, else GetRecords at this worker's pace."""
        assert self._kinesis is not None and self._consumers is not None
        opts = self._options
        settings = {"isBlob": opts["isBlob"], "deaggregate": opts["deaggregate"]}
        if self._consumer_arn is None:
            limits = {"limit": opts["limit"], "pace": self._pace}
            return PollingSource(self._kinesis, shardId, type, typeOptions, report, **limits, **settings)
        source = FanOutSource(self._consumers, self._consumer_arn, shardId, type, typeOptions, report, **settings)
        with self._lock:
            children = self._closed_shards.get(shardId)
        if children is not None:
            source.shard_closed(children)
        return source

    def _read(self, lease: Lease) -> None:
        self._meter.shard(lease.shardId).taken += 1
        reader = ShardReader(self._context, lease)
        with self._lock:
            self._readers[lease.shardId] = reader
        LOOP.deliver((), reader.start)

    def _forget(self, reader: ShardReader) -> None:
        with self._lock:
            if self._readers.get(reader.shardId) is reader:
                del self._readers[reader.shardId]
