"""How a Worker reads one leased shard: batches from a ShardSource to processRecords, checkpoints, the lease kept.

All on the loop thread but `heartbeat` (the Worker's heartbeat thread) and `lose` (any thread).
The reader does not know where the batches come from: the Worker gives it a source.
"""

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..enums import AWS_KINESIS_STREAMS_ERROR, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as ITERATOR
from ..error import Error, as_error, library_error
from ..leases.store import AT_TIMESTAMP, LATEST, SHARD_END, TRIM_HORIZON, Lease, LeaseStore
from ..loop import LOOP
from ..metrics.figures import ShardFigures
from ..record import Record
from ..reading.source import EXPIRED, THROTTLED, Batch, Report, ShardSource

logger = logging.getLogger("awskinesisstreams")

QUIET = THROTTLED + (EXPIRED,)  # failures the source rides out that the application need not hear about

Position = Tuple[str, Optional[int]]  # a checkpoint: sequence number, and sub-sequence inside an aggregate


@dataclass(frozen=True)
class ReaderContext:
    """All a shard reader gets from its Worker: handed to it, so the reader never reaches into the Worker."""

    workerId: str
    callbacks: Dict[str, Any]  # init, processRecords, onShardClosed (None where not given)
    options: Dict[str, Any]  # the Worker's settings: timestamp, stuckAfter, leaseDuration are read here
    store: LeaseStore
    open_source: Callable[[str, ITERATOR, Optional[Dict[str, Any]], Report], ShardSource]
    report: Callable[[Optional[str], Error], None]  # to onError, or the log
    stopping: Callable[[], bool]  # the Worker is stopping: leave at the next batch boundary
    shard_ended: Callable[[], None]  # a shard was read to its end: its children may start
    consumer_gone: Callable[[], None]  # with fanOut, a subscription found no stream consumer
    forget: Callable[["ShardReader"], None]  # the reader has left its shard
    figures: Callable[[str], ShardFigures]  # a shard's figures in the Worker's meter


class LeaseLost(Error):
    """This worker no longer holds a shard's lease (taken over, released while stuck, not renewable):
    a REQUEST_FAILED error, as the store refuses this worker's writes to that lease."""

    def __init__(self, shardId: str, why: str) -> None:
        super().__init__(AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED, "lease of %s lost: %s" % (shardId, why))
        self.shardId = shardId


class Checkpointer:
    """The `cb` handed to `processRecords`: `cb(error, checkpoint)`; also says which shard the records are from.

    `checkpoint` True stores the end of the batch; a Record of the batch stores that record
    (with its sub-sequence number when it came out of an aggregate), so a later reader
    starts right after it.
    """

    def __init__(self, reader: "ShardReader", records: List[Record], ended: bool) -> None:
        self.shardId = reader.shardId
        self.millisBehindLatest = reader.millis_behind
        self._reader = reader
        self._records = records
        self._ended = ended
        self._called = False

    def __call__(self, error: Any = None, checkpoint: Any = False) -> None:
        if self._called:
            return
        self._called = True
        position: Optional[Position] = None
        records = self._records
        if isinstance(checkpoint, Record) and checkpoint is not records[-1]:
            if any(record is checkpoint for record in records):
                position = (checkpoint.sequenceNumber, checkpoint.subSequenceNumber)  # type: ignore[assignment]
            elif not error:
                error = library_error("cb(None, record): the record to checkpoint at is not one of this batch")
        elif checkpoint:  # the batch ends where a Kinesis record does: all of its last one is done
            position = (records[-1].sequenceNumber, None)  # type: ignore[assignment]
        LOOP.deliver((error, position, self._ended), self._reader.processed)


class ShardReader:
    """Reads one leased shard: init, then batches to processRecords and checkpoints until it ends or is left."""

    def __init__(self, context: ReaderContext, lease: Lease) -> None:
        self.context = context
        self.lease = lease
        self.shardId = lease.shardId
        self.lock = threading.Lock()  # one store write at a time for this lease (heartbeat vs checkpoint)
        self.lost = False
        self.done = False
        self.source: Optional[ShardSource] = None
        self.waiting = False  # a batch is asked of the source
        self.last_sequence: Optional[str] = None
        self.skip: Optional[Position] = None  # resuming inside an aggregate: its user records up to here are done
        self.millis_behind: Optional[int] = None
        self.progress = self.renewed = time.monotonic()
        self.figures = context.figures(self.shardId)
        self.handed = 0.0  # when the batch in processRecords was handed over

    # -- the reading cycle (loop thread) --------------------------------------------------

    def start(self) -> None:
        init = self.context.callbacks["init"]
        if init is None:
            LOOP.deliver((None,), self._after_init)
        else:
            self._user(init, self.shardId, lambda error=None, *_: LOOP.deliver((error,), self._after_init))

    def _after_init(self, error: Any) -> None:
        self._step()
        if error:
            self._give_up("init failed: %s" % (error,))
            return
        position = self.lease.checkpoint
        if position in (TRIM_HORIZON, LATEST):
            kind, options = ITERATOR[position], None
        elif position == AT_TIMESTAMP:
            kind, options = ITERATOR.AT_TIMESTAMP, {"timestamp": self.context.options["timestamp"]}
        elif self.lease.subSequence is None:
            kind, options = ITERATOR.AFTER_SEQUENCE_NUMBER, {"startingSequenceNumber": position}
        else:  # the rest of that aggregate first: read it again and skip what was checkpointed
            kind, options = ITERATOR.AT_SEQUENCE_NUMBER, {"startingSequenceNumber": position}
            self.skip = (position, self.lease.subSequence)
        self.source = self.context.open_source(self.shardId, kind, options, self._reported)
        self._next()

    def _next(self) -> None:
        if self._leaving():
            return
        assert self.source is not None
        self.waiting = True
        self.source.next(self._got)

    def _reported(self, error: Error) -> None:
        """An error the source got past: tell the application unless it is routine."""
        self._step()
        if error.awsErrorType not in QUIET:
            self.context.report(self.shardId, error)

    def _got(self, error: Optional[Error], batch: Optional[Batch]) -> None:
        self.waiting = False
        self._step()
        if self.lost:
            self._finish()
            return
        if batch is None:  # the source failed for good
            if error is not None and error.awsErrorType == "ResourceNotFoundException":
                self.context.consumer_gone()  # with fanOut, the stream consumer may be what is gone
                self._give_up("not found: %s" % error.details)
            else:
                self._give_up("reading failed: %s" % error)
            return
        self.millis_behind = batch.millisBehindLatest
        records = batch.records
        if self.skip is not None and records:
            records = self._skip_checkpointed(records)
        if not records:
            self._continue(batch.ended)
            return
        self.last_sequence = records[-1].sequenceNumber
        self.figures.batch(len(records), batch.bytes, batch.millisBehindLatest)
        self.handed = time.perf_counter()
        self._user(self.context.callbacks["processRecords"], records, Checkpointer(self, records, batch.ended))

    def _skip_checkpointed(self, records: List[Record]) -> List[Record]:
        """The first batch after resuming inside an aggregate, without its user records already checkpointed."""
        sequence, sub = self.skip  # type: ignore[misc]
        self.skip = None
        done = 0
        for record in records:
            if record.sequenceNumber != sequence or record.subSequenceNumber is None or record.subSequenceNumber > sub:
                break
            done += 1
        return records[done:]

    def processed(self, error: Any, position: Optional[Position], ended: bool) -> None:
        """What the application's `cb(error, checkpoint)` asked for, on the loop."""
        self._step()
        self.figures.process.observe(time.perf_counter() - self.handed)
        if self.lost:
            if position:
                self.context.report(self.shardId, LeaseLost(self.shardId, "checkpoint at %s refused" % position[0]))
            self._finish()
        elif error:
            self._give_up("processRecords failed: %s" % (error,))
        elif position:
            sequence, sub = position
            self._write(lambda lease: self.context.store.checkpoint(lease, sequence, sub), lambda: self._checkpointed(ended))
        else:
            self._continue(ended)

    def _checkpointed(self, ended: bool) -> None:
        self.figures.checkpoints += 1
        self._continue(ended)

    def _continue(self, ended: bool) -> None:
        if self._leaving():
            return
        if ended:
            self._shard_end()
        else:
            self._next()

    def _shard_end(self) -> None:
        """Every record delivered: tell the application, then checkpoint SHARD_END so children may start."""

        def closed(error: Any = None, *_: Any) -> None:
            LOOP.deliver((error,), after)

        def after(error: Any) -> None:
            self._step()
            if error:
                self._give_up("onShardClosed failed: %s" % (error,))
            elif self._still_mine("checkpoint SHARD_END"):
                self._write(lambda lease: self.context.store.checkpoint(lease, SHARD_END), self._ended)

        on_closed = self.context.callbacks["onShardClosed"]
        if on_closed is None:
            after(None)
        else:
            self._user(on_closed, self.shardId, closed)

    def _ended(self) -> None:
        self.context.shard_ended()  # its children are ready: list them and take them soon
        self._finish()

    # -- leaving a shard ------------------------------------------------------------------

    def _leaving(self) -> bool:
        """At a batch boundary: stop here if the lease is gone, the worker stops, or a handover was asked."""
        wanted = self.lease.wanted
        if self.lost or self.context.stopping() or (wanted and wanted != self.context.workerId):
            self._finish()
            return True
        return False

    def leave_now(self) -> None:
        """The worker stops or the lease is lost: a shard waiting for its source is left at once (loop thread).

        A lost lease also ends its source at once, even while processRecords holds a batch: the
        new owner's subscription would be refused while this one is open.
        """
        if self.lost and self.source is not None:
            self.source.close()
        if self.waiting and not self.done:
            self.waiting = False
            self._finish()

    def _finish(self) -> None:
        """Release the lease (or hand it to the worker that asked) unless it is lost, then forget the shard."""
        if self.done:
            return
        if self.source is not None:
            self.source.close()
        if self.lost:
            self._forget()
            return
        wanted = None if self.context.stopping() else self.lease.wanted
        self._write(lambda lease: self.context.store.release(lease, to=wanted), self._forget, released=True)

    def _forget(self) -> None:
        self.done = True
        self.context.forget(self)

    def _give_up(self, why: str) -> None:
        self.context.report(self.shardId, library_error("%s: %s" % (self.shardId, why)))
        self._finish()

    def _still_mine(self, what: str) -> bool:
        if self.lost:
            self.context.report(self.shardId, LeaseLost(self.shardId, what + " refused"))
            self._finish()
        return not self.lost

    def lose(self, why: str) -> None:
        """The lease is gone (any thread): deliver nothing more, tell the application, stop waiting for the source."""
        if not self.lost:
            self.lost = True
            self.figures.lost += 1
            self.context.report(self.shardId, LeaseLost(self.shardId, why))
            LOOP.deliver((), self.leave_now)

    # -- helpers --------------------------------------------------------------------------

    def _step(self) -> None:
        self.progress = time.monotonic()

    def _user(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call an application callback; one that raises counts as a failed call."""
        try:
            fn(*args)
        except Exception as exc:
            logger.exception("%s callback raised", getattr(fn, "__name__", "application"))
            self._give_up("callback raised %s: %s" % (type(exc).__name__, exc))

    def _write(self, change: Callable[[Lease], Optional[Lease]], then: Callable[[], Any], released: bool = False) -> None:
        """A conditional lease write on the pool; `then()` on the loop. A refused write means the lease is lost."""

        def work() -> tuple:
            with self.lock:
                if self.lost:
                    return (LeaseLost(self.shardId, "write refused"),)
                try:
                    new = change(self.lease)
                except Exception as exc:
                    return (as_error(exc),)
                if new is None:
                    self.lost = True
                    self.figures.lost += 1
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
                self.context.report(self.shardId, error)
                self._finish()

        LOOP.call(work, done)

    def heartbeat(self) -> None:
        """Renew the lease, or lose it (heartbeat thread)."""
        now = time.monotonic()
        stuck_after = self.context.options["stuckAfter"]
        with self.lock:
            if self.lost or self.done:
                return
            if stuck_after and now - self.progress > stuck_after:
                self.lose("no progress for %.0f s (stuck): lease released for another worker" % (now - self.progress))
                try:
                    self.context.store.release(self.lease)
                except Exception as exc:
                    logger.debug("release of stuck %s: %s", self.shardId, exc)
                return
            try:
                new = self.context.store.renew(self.lease, self.millis_behind)
            except Exception as exc:
                if now - self.renewed > self.context.options["leaseDuration"]:
                    self.lose("not renewed for a lease duration (%s)" % as_error(exc).details)
                return
            if new is None:
                self.lose("taken by another worker")
            else:
                self.lease, self.renewed = new, time.monotonic()
