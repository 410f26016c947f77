"""Outcomes of buffered user records: their callbacks run, their futures resolved, flushes answered.

This runs on the library's loop once for every user record, so its loop is written out.
"""

import logging
from typing import Any, Callable, List, Tuple

from .error import Error
from .lazy_future import LazyFuture, resolve_all
from .put_record_result import PutRecordResult
from .shard_queue import Entry, Unit

logger = logging.getLogger("awskinesisstreams")


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


def deliver(written: List[Tuple[Unit, PutRecordResult]], given_up: List[Tuple[Entry, Error]], tally: Tally) -> List[Entry]:
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
