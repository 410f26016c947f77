"""The sender: takes what the accumulator has ready, sends it with PutRecords, retries what failed,
and hands every outcome back. Everything here runs on the library's loop.

It is woken by the accumulator (a record made a batch ready, or falls due sooner), by each
answer as it lands, and by its own timer. After a reshard a result lands in a shard other than
the predicted one: no new batch is taken, those in flight land, ListShards builds a new map,
and the accumulator routes every buffered record again.
"""

import logging
import time
from typing import Any, Callable, List, Optional, Tuple

from ..enums import AWS_KINESIS_STREAMS_ERROR
from ..error import Error, internal_error
from ..loop import LOOP, Timer
from ..metrics.figures import ProducerMeter
from ..transport.retry import Retry, is_retryable
from ..wire.kinesis import Kinesis
from .accumulator import Accumulator, Batch, GivenUp
from .outcomes import Written, record_error
from .shard_map import ShardMap
from .shard_queue import Unit

logger = logging.getLogger("awskinesisstreams")

PAUSES = Retry()  # after failed requests: from 0.05 s, doubling up to 2 s, with full jitter
INFINITY = float("inf")


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


class Sender:
    """Sends one stream's ready batches and lists its shards (see the module's docstring)."""

    def __init__(self, kinesis: Kinesis, meter: ProducerMeter) -> None:
        self._kinesis = kinesis
        self._meter = meter
        self._accumulator: Optional[Accumulator] = None
        self._listing = False
        self._list_failures = 0
        self._list_not_before = 0.0
        self._list_error: Optional[Error] = None
        self._timer: Optional[Timer] = None
        self._woken = False

    def serve(self, accumulator: Accumulator) -> None:
        """Send what `accumulator` has ready, from now on."""
        self._accumulator = accumulator

    def wake(self) -> None:
        """Something is ready or falls due sooner (any thread): look on the loop, once for many wakes."""
        if not self._woken:
            self._woken = True
            LOOP.deliver((), self._on_wake)

    def _on_wake(self) -> None:
        self._woken = False
        self._pump(time.monotonic(), everywhere=False)

    def _pump(self, now: float, everywhere: bool) -> None:
        """List the shards if the map is needed, else send every batch that may go; then re-arm the timer."""
        accumulator = self._accumulator
        assert accumulator is not None
        if accumulator.needs_map():
            self._list_shards(now)
        for batch in accumulator.ready(now, everywhere):
            self._send(batch)
        self._rearm(now)

    # -- sending and landing --------------------------------------------------------

    def _send(self, batch: Batch) -> None:
        queue, units = batch
        send = self._kinesis.put_entries([unit.text for unit in units])
        LOOP.call(lambda: _attempt(send), lambda error, results: self._landed(batch, error, results))

    def _landed(self, batch: Batch, error: Optional[Error], results: Any) -> None:
        """A PutRecords answer: answer what got in, give back what failed, notice a reshard."""
        accumulator = self._accumulator
        assert accumulator is not None
        now = time.monotonic()
        queue, units = batch
        written: Written = []
        failed: List[Unit] = []
        given_up: GivenUp = []
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
        given_up += accumulator.returned(batch, failed, error, PAUSES.delay, now)
        meter = self._meter
        meter.kinesis_records += len(written)
        meter.kinesis_stat.observe(len(written))
        if failed:
            meter.retries += len(failed)
            meter.retries_stat.observe(len(failed))
        if moved:
            logger.debug("a record landed outside shard %s: listing the shards again", queue.shard_id)
            accumulator.unmap()
        self._pump(now, everywhere=False)
        accumulator.answer(written, given_up)

    # -- the shard map --------------------------------------------------------------

    def _list_shards(self, now: float) -> None:
        """Start ListShards, unless it is under way or pausing after a failure."""
        if self._listing or now < self._list_not_before:
            return
        self._listing = True
        send = self._kinesis.list_shards()
        LOOP.call(lambda: _attempt(send), self._mapped)

    def _mapped(self, error: Optional[Error], shards: Any) -> None:
        """ListShards answered: the accumulator routes on the new map, or it is tried again later."""
        accumulator = self._accumulator
        assert accumulator is not None
        now = time.monotonic()
        given_up: GivenUp = []
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
                given_up = accumulator.give_up_all(error)
        else:
            self._list_failures = 0
            accumulator.mapped(shard_map)
        self._pump(now, everywhere=False)
        accumulator.answer([], given_up)

    # -- the timer ------------------------------------------------------------------

    def _rearm(self, now: float) -> None:
        """Arm the timer for the next thing to do, while records are buffered."""
        accumulator = self._accumulator
        assert accumulator is not None
        when = accumulator.next_due(now)
        if when < INFINITY and accumulator.needs_map() and not self._listing:
            when = min(when, max(self._list_not_before, now))
        if self._timer is not None:
            LOOP.cancelwakeup(self._timer)
            self._timer = None
        if when < INFINITY:
            self._timer = LOOP.wakeup(when - now, self._tick)

    def _tick(self) -> None:
        """The timer: expire old records, seal batches past their deadline, send what may go, re-arm."""
        accumulator = self._accumulator
        assert accumulator is not None
        self._timer = None
        now = time.monotonic()
        given_up = accumulator.expire(now, self._list_error)
        self._pump(now, everywhere=True)
        accumulator.answer([], given_up)
