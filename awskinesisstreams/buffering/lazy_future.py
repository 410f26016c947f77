"""A concurrent.futures.Future that costs nothing until someone waits on it.

A Future makes a threading.Condition when it is created (1.5 us); a buffered producer hands
one out per user record, and most are never waited on. This one makes its Condition on the
first use by a reader (result, done, wait, add_done_callback...). `resolve` sets the result
without one when no reader came first; a class-wide lock orders the two, so a reader either
sees the result or is woken by it.
"""

import threading
from concurrent.futures import Future
from concurrent.futures._base import FINISHED, PENDING
from typing import Any, Iterable, List, Optional, Tuple

_GUARD = threading.Lock()


class LazyFuture(Future):
    """A Future whose Condition (and waiter lists) are made on first use."""

    __slots__ = ("_state", "_result", "_exception", "_waiters", "_done_callbacks", "_cond")

    def __init__(self) -> None:  # deliberately not Future.__init__: no Condition yet
        self._state = PENDING
        self._result = None
        self._exception = None
        self._cond: Optional[threading.Condition] = None

    @property
    def _condition(self) -> threading.Condition:  # type: ignore[override]
        cond = self._cond
        if cond is None:
            with _GUARD:
                cond = self._cond
                if cond is None:
                    self._waiters = []
                    self._done_callbacks = []
                    cond = self._cond = threading.Condition()
        return cond


def resolve_all(pairs: Iterable[Tuple[LazyFuture, Any]]) -> None:
    """Give each future its result (the cancelled ones are left alone), taking the class lock once."""
    watched: List[Tuple[LazyFuture, Any]] = []
    with _GUARD:
        for future, result in pairs:
            if future._cond is None:
                future._result = result
                future._state = FINISHED
            else:
                watched.append((future, result))
    for future, result in watched:
        if not future.done():
            future.set_result(result)
