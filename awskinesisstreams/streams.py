"""AWSKinesisStreams: the parent of Producer and Consumer, and the library's namespace.

It checks the constructor's arguments (without raising: a wrong one fails every later
call, as in Squirrel), owns the signed client, and runs every call the same way: check
and build now, send on the worker pool, deliver to the error-first callback on the loop.
"""

import logging
import sys
import threading
import time
from concurrent.futures import Future, wait
from typing import Any, Callable, Optional, Set, Tuple, TypeVar, Union

from .error import Error, internal_error, library_error
from .wire.kinesis import JSON_VERSION, TARGET_PREFIX, Kinesis
from .loop import LOOP, Callback
from .record import _describe, safe_repr
from .transport.credentials import signing_source
from .transport.signed_request import AwsJsonClient, Timeout
from .transport.retry import Retry

logger = logging.getLogger("awskinesisstreams")
if logger.level == logging.NOTSET:
    logger.setLevel(logging.WARNING)

T = TypeVar("T")
Outcome = Tuple[Any, ...]


def _set_debug(value: bool) -> None:
    logger.setLevel(logging.DEBUG if value else logging.WARNING)
    if value and not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[AWSKinesisStreams] %(message)s"))
        logger.addHandler(handler)


def close_seconds(timeout: Any) -> Optional[float]:
    """close's `timeout` as seconds to wait (None: no limit); one that is not a number >= 0 counts as 0 (logged)."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
        logger.warning("close: timeout must be None or seconds >= 0, got %r; not waiting", timeout)
        return 0.0
    return min(timeout, threading.TIMEOUT_MAX)


class AWSKinesisStreams:
    """The parent class of Producer and Consumer; also the namespace of the library's classes.

    Beyond Squirrel, both take `timeout=` (a Timeout) and `retries=` (a count, or a Retry
    policy; 0 turns retries off), and are context managers whose exit waits, with `close()`,
    for the instance's calls in flight.
    """

    VERSION = ""  # set by the package

    def __init__(
        self,
        region: str,
        accessKeyId: str,
        secretAccessKey: str,
        streamName: str,
        *,
        endpoint: Optional[str] = None,
        sessionToken: Optional[str] = None,
        timeout: Optional[Timeout] = None,
        retries: Union[int, Retry, None] = None,
        credentials: Any = None,
    ) -> None:
        self._region = region
        self._streamName = streamName
        self._init_error: Optional[Error] = None
        self._kinesis: Optional[Kinesis] = None
        self._in_flight: Set["Future[Outcome]"] = set()
        self._lock = threading.Lock()
        self._closed = False
        wrong = [
            "%s must be a non-empty string" % name
            for name, value in (("region", region), ("streamName", streamName))
            if not isinstance(value, str) or not value
        ]
        source, wrong_source = signing_source(accessKeyId, secretAccessKey, sessionToken, credentials)
        wrong += wrong_source
        try:
            retry = Retry.of(retries)
        except Error as error:
            wrong.append(error.details)
        if wrong:
            self._init_error = library_error("%s wrongly initialized: %s" % (type(self).__name__, "; ".join(wrong)))
            return
        try:
            client = AwsJsonClient.for_service(
                "kinesis", TARGET_PREFIX, JSON_VERSION, region, source, endpoint, timeout, retry
            )
        except Error as error:
            self._init_error = library_error("%s wrongly initialized: %s" % (type(self).__name__, error.details))
            return
        self._kinesis = Kinesis(client, streamName)

    @staticmethod
    def setDebug(value: bool) -> None:
        """Turn debug output (requests, answers, errors; never secrets) on or off, for the whole library.

        A value whose truth cannot be told (bool() raises) changes nothing and is logged: setDebug never raises.
        """
        try:
            on = bool(value)
        except Exception:
            logger.warning("setDebug: %s is neither true nor false; debug output left as it is", _describe(value))
            return
        _set_debug(on)

    def _request(
        self,
        name: str,
        callback: Callback,
        prepare: Callable[[Kinesis], Callable[[], T]],
        success: Callable[[T], Outcome],
        failure: Outcome,
        own_thread: Optional[str] = None,
    ) -> "Future[Outcome]":
        """Check and build the call now, send it on the pool, and deliver its outcome to `callback`.

        `success` turns what the send returns into the callback's arguments; `failure` is
        what follows the error on failure. A call that lasts minutes runs on a thread of its
        own, named `own_thread`, instead of the pool.
        """
        try:
            if self._init_error is not None:
                raise self._init_error
            if self._closed:
                raise library_error("%s is closed" % type(self).__name__)
            if callback is not None and not callable(callback):
                raise library_error("callback must be callable")
            assert self._kinesis is not None
            send = prepare(self._kinesis)
        except Exception as exc:
            error = exc if isinstance(exc, Error) else internal_error(name, exc)
            logger.debug("%s: %s", name, error)
            return self._track(LOOP.deliver((error,) + failure, None if not callable(callback) else callback))

        def work() -> Outcome:
            try:
                return success(send())
            except Error as error:
                logger.debug("%s failed: %s", name, error)
                return (error,) + failure
            except Exception as exc:
                return (internal_error(name, exc),) + failure

        return self._track(LOOP.call(work, callback, own_thread))

    def _track(self, future: "Future[Outcome]") -> "Future[Outcome]":
        """Count `future` among this instance's calls in flight until its callback has run (for close)."""
        with self._lock:
            self._in_flight.add(future)
        future.add_done_callback(self._landed)
        return future

    def _landed(self, future: "Future[Outcome]") -> None:
        with self._lock:
            self._in_flight.discard(future)

    def close(self, timeout: Optional[float] = None) -> bool:
        """Refuse new calls (they get a LIBRARY_ERROR) and wait until this instance's calls have had their callbacks.

        True when all did, False if `timeout` seconds passed first. Called from a callback it
        cannot wait for the loop it runs on, so it only refuses new calls and answers False.
        A `timeout` that is not a number >= 0 counts as 0 (and is logged): close never raises.
        """
        seconds = close_seconds(timeout)
        deadline = None if seconds is None else time.monotonic() + seconds
        with self._lock:
            self._closed = True
        while True:
            with self._lock:
                in_flight = list(self._in_flight)
            if not in_flight:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if LOOP.on_loop_thread() or (left is not None and left <= 0):
                return False
            wait(in_flight, left)

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        endpoint = self._kinesis.client.endpoint if self._kinesis else None
        return "AWSKinesisStreams.%s(region=%s, streamName=%s, endpoint=%r)" % (
            type(self).__name__,
            safe_repr(self._region),
            safe_repr(self._streamName),
            endpoint,
        )
