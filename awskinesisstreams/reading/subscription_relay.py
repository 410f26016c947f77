"""Relay: hands a subscription's events, read on its own thread, to onEvent on the library's thread.

At most a few events wait for the loop at a time: the reader stops reading while they do, so
a slow onEvent holds back the stream instead of filling memory. The continuation the caller
gets is that of the last event onEvent was given, so a resubscription neither repeats nor
skips a record.
"""

import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..error import Error
from ..wire.stream_consumers import Subscription, next_options
from ..loop import LOOP
from ..record import Record

logger = logging.getLogger("awskinesisstreams")

MAX_WAITING = 4  # events read and not yet handed to onEvent


class Relay:
    """Runs one Subscription on the calling thread and delivers its events to `onEvent` on the loop, in order."""

    def __init__(self, subscription: Subscription, onEvent: Callable[[List[Record], int, Optional[str]], Any]) -> None:
        self._subscription = subscription
        self._on_event = onEvent
        self._cond = threading.Condition()
        self._waiting = 0
        self._continuation: Optional[str] = None

    def run(self) -> Tuple[Optional[Dict[str, Any]], List[str]]:
        """Read until the end: (nextOptions, childShardIds), once every event read has been delivered or dropped."""
        try:
            children = self._subscription.run(self._emit)
        except Error as error:
            self._drain()
            if error.nextOptions is None:
                error.nextOptions = self._next_options()
            raise
        self._drain()
        if children:
            return None, children
        return self._next_options(), []

    def _next_options(self) -> Dict[str, Any]:
        if self._continuation is None:
            return dict(self._subscription.options)
        return next_options(self._subscription.options, self._continuation)

    def _emit(self, records: List[Record], millis: int, continuation: Optional[str]) -> bool:
        """On the reader's thread: queue one event for onEvent; False once the subscription was ended."""
        with self._cond:
            while self._waiting >= MAX_WAITING and not self._subscription.closed:
                self._cond.wait()
            if self._subscription.closed:
                return False
            self._waiting += 1
        LOOP.deliver((records, millis, continuation), self._deliver)
        return True

    def _deliver(self, records: List[Record], millis: int, continuation: Optional[str]) -> None:
        """On the loop: give onEvent the event, unless the subscription was ended meanwhile."""
        try:
            if not self._subscription.closed:
                if continuation is not None:
                    self._continuation = continuation
                if self._on_event(records, millis, continuation) is False:
                    self._subscription.close()
        finally:
            with self._cond:
                self._waiting -= 1
                self._cond.notify_all()

    def _drain(self) -> None:
        """Wait until the events queued for the loop have run (or been dropped)."""
        with self._cond:
            while self._waiting:
                self._cond.wait()
