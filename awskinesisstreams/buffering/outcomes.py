"""Outcomes of buffered user records: the errors they get, their callbacks run, their futures resolved,
flushes answered.

This runs on the library's loop once for every user record, so its loop is written out.
"""

import logging
from typing import Any, Callable, List, Optional, Tuple

from ..enums import AWS_KINESIS_STREAMS_ERROR
from ..error import Error, library_error
from .lazy_future import LazyFuture, resolve_all
from ..put_record_result import PutRecordResult
from .shard_queue import Entry, Unit

logger = logging.getLogger("awskinesisstreams")

Written = List[Tuple[Unit, PutRecordResult]]  # units that got in, each with its result


class Epoch:
    """User records given between two flushes: how many are still unanswered."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class Flush:
    """A flush waiting for the epoch it closed, and for every earlier one: flushes finish in the order given."""

    __slots__ = ("epoch", "callback", "future")

    def __init__(self, epoch: Epoch, callback: Any, future: LazyFuture) -> None:
        self.epoch = epoch
        self.callback = callback
        self.future = future


class Tally:
    """How many user records have been given an answer: counted just before each one's callback runs."""

    __slots__ = ("answered",)

    def __init__(self) -> None:
        self.answered = 0


def record_error(result: PutRecordResult) -> Error:
    """A record refused inside a 200 PutRecords answer, as an Error."""
    return Error(
        AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED,
        "PutRecords record failed: %s: %s" % (result.errorCode, result.errorMessage),
        200,
        {"__type": result.errorCode, "message": result.errorMessage},
    )


def expired(ttl: float, last: Optional[Error]) -> Error:
    """The error of a record whose time to live ran out, carrying the last error it met."""
    if last is None:
        return Error(
            AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED, "record not written within recordTtl (%g s): its shard was still busy" % ttl
        )
    return Error(
        AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED,
        "record not written within recordTtl (%g s); last error: %s" % (ttl, last.details),
        last.httpStatus,
        last.httpResponse,
    )


def buffer_full(buffered: int, cost: int, max_bytes: int) -> Error:
    """The LIBRARY_ERROR of a record given on the library's own thread that does not fit: it cannot wait there."""
    return library_error(
        "buffer full: %d bytes buffered, %d more do not fit in maxBufferedBytes %d (on the library's thread "
        "putRecord cannot wait)" % (buffered, cost, max_bytes)
    )


def deliver(written: Written, given_up: List[Tuple[Entry, Error]], tally: Tally) -> List[Entry]:
    """Run the callbacks of the user records in units written and of records given up, then
    resolve their futures (after the callbacks, as the contract says); returns those records.
    Each record counts as answered in `tally` as its callback starts."""
    outcomes: List[Tuple[Any, ...]] = []
    done: List[Entry] = []
    for unit, result in written:
        shard_id, sequence, encryption = result.shardId, result.sequenceNumber, result.encryptionType
        entries = unit.entries
        for sub, entry in enumerate(entries):
            outcome = (None, PutRecordResult(None, None, shard_id, sequence, encryption, sub if unit.aggregated else 0))
            tally.answered += 1
            callback = entry.callback
            if callback is not None:
                try:
                    callback(None, outcome[1])
                except Exception:
                    logger.exception("exception in a callback (the buffered producer goes on)")
            outcomes.append(outcome)
        done += entries
    for entry, error in given_up:
        outcome = (error, None)
        tally.answered += 1
        if entry.callback is not None:
            run_callback(entry.callback, outcome)
        outcomes.append(outcome)
        done.append(entry)
    resolve_all(zip(done, outcomes))
    return done


def run_callback(callback: Callable[..., Any], outcome: Tuple[Any, ...]) -> None:
    """Call a user's callback; an exception in it is logged and the rest go on."""
    try:
        callback(*outcome)
    except Exception:
        logger.exception("exception in a callback (the buffered producer goes on)")


def answer(callback: Any, future: LazyFuture, outcome: Tuple[Any, ...]) -> None:
    """Run one callback, then resolve its future."""
    if callback is not None:
        run_callback(callback, outcome)
    resolve_all([(future, outcome)])
