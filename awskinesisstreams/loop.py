"""The loop: one library thread that runs every callback and timer, and a small HTTP worker pool.

Blocking HTTP runs on the pool; its outcome is queued to the loop thread, which runs the
user's callbacks one at a time, in the order the outcomes arrive, so ported agent code needs
no locks. `imp` and `server` give agent code its familiar entry points.
"""

import heapq
import itertools
import logging
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Deque, List, Optional, Tuple

logger = logging.getLogger("awskinesisstreams")

Callback = Optional[Callable[..., Any]]

DEFAULT_WORKERS = 8


class Timer:
    """A handle to a pending `imp.wakeup` timer."""

    __slots__ = ("when", "fn", "cancelled")

    def __init__(self, when: float, fn: Callable[[], Any]) -> None:
        self.when = when
        self.fn = fn
        self.cancelled = False

    def __repr__(self) -> str:
        return "<imp timer in %.3f s%s>" % (self.when - time.monotonic(), ", cancelled" if self.cancelled else "")


class Loop:
    """The library thread with its queue and timers, plus the HTTP worker pool.

    `pending` counts work not yet finished: requests in flight, queued items and the one
    running; with no live timer either, the loop is idle.
    """

    def __init__(self, max_workers: int = DEFAULT_WORKERS) -> None:
        self.max_workers = max_workers
        self._cond = threading.Condition()
        self._ready: Deque[Callable[[], Any]] = deque()
        self._timers: List[Tuple[float, int, Timer]] = []
        self._live_timers = 0
        self._pending = 0
        self._order = itertools.count()
        self._stops = 0
        self._thread: Optional[threading.Thread] = None
        self._pool: Optional[ThreadPoolExecutor] = None

    # -- running things -------------------------------------------------------------

    def call(
        self, work: Callable[[], Tuple[Any, ...]], callback: Callback, own_thread: Optional[str] = None
    ) -> "Future[Tuple[Any, ...]]":
        """Run `work()` on the pool, then `callback(*result)` on the loop thread.

        `work` must not raise: it returns the callback's arguments. The Future resolves to
        them once the callback has returned. Work that lasts minutes (a subscription) runs
        instead on a thread of its own, named `own_thread`, so the pool stays free.
        """
        future: "Future[Tuple[Any, ...]]" = Future()
        with self._cond:
            self._pending += 1
            self._start()
            pool = self._pool
        assert pool is not None

        def done(task: "Future[Tuple[Any, ...]]") -> None:
            error = task.exception()
            if error is None:
                args = task.result()
                self._enqueue(lambda: _deliver(callback, args, future))
            else:  # a bug in `work`: fail its Future and log it on the loop, never leave the loop waiting
                future.set_exception(error)
                self._enqueue(lambda: _raise(error))

        if own_thread is None:
            pool.submit(work).add_done_callback(done)
        else:
            task: "Future[Tuple[Any, ...]]" = Future()
            task.add_done_callback(done)
            threading.Thread(target=_run_into, args=(work, task), name=own_thread, daemon=True).start()
        return future

    def deliver(self, args: Tuple[Any, ...], callback: Callback) -> "Future[Tuple[Any, ...]]":
        """Queue `callback(*args)` on the loop thread without any HTTP (a LIBRARY_ERROR, say)."""
        future: "Future[Tuple[Any, ...]]" = Future()
        with self._cond:
            self._pending += 1
            self._start()
        self._enqueue(lambda: _deliver(callback, args, future))
        return future

    def wakeup(self, seconds: float, fn: Callable[[], Any]) -> Timer:
        """Run `fn()` on the loop thread after `seconds`."""
        timer = Timer(time.monotonic() + max(0.0, float(seconds)), fn)
        with self._cond:
            heapq.heappush(self._timers, (timer.when, next(self._order), timer))
            self._live_timers += 1
            self._start()
            self._cond.notify_all()
        return timer

    def cancelwakeup(self, timer: Timer) -> None:
        """Cancel a timer that has not fired yet; a fired or cancelled one is left alone."""
        with self._cond:
            if isinstance(timer, Timer) and not timer.cancelled and timer.fn is not None:
                timer.cancelled = True
                self._live_timers -= 1
                self._cond.notify_all()

    # -- waiting --------------------------------------------------------------------

    def idle(self) -> bool:
        """True when nothing is in flight, queued, running or armed."""
        with self._cond:
            return self._pending == 0 and self._live_timers == 0

    def run(self, timeout: Optional[float] = None) -> bool:
        """Block until the loop is idle or `stop()` is called (True), or `timeout` passes (False)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("imp.run() cannot be called from a callback: it would wait for itself")
        with self._cond:
            stops = self._stops
            return self._cond.wait_for(
                lambda: self._stops != stops or (self._pending == 0 and self._live_timers == 0),
                timeout,
            )

    def on_loop_thread(self) -> bool:
        """Whether the caller runs on the loop thread (in a callback or timer)."""
        return threading.current_thread() is self._thread

    def stop(self) -> None:
        """Release every `run()` now waiting."""
        with self._cond:
            self._stops += 1
            self._cond.notify_all()

    # -- the thread -----------------------------------------------------------------

    def _start(self) -> None:
        """Start the loop thread and the pool on first use (the caller holds the lock)."""
        if self._thread is None:
            self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="awskinesisstreams-http")
            self._thread = threading.Thread(target=self._main, name="awskinesisstreams-loop", daemon=True)
            self._thread.start()

    def _enqueue(self, fn: Callable[[], Any]) -> None:
        with self._cond:
            self._ready.append(fn)
            self._cond.notify_all()

    def _next(self) -> Callable[[], Any]:
        with self._cond:
            while True:
                if self._ready:
                    return self._ready.popleft()
                now = time.monotonic()
                while self._timers and self._timers[0][2].cancelled:
                    heapq.heappop(self._timers)
                if self._timers and self._timers[0][0] <= now:
                    timer = heapq.heappop(self._timers)[2]
                    self._live_timers -= 1
                    self._pending += 1
                    fn, timer.fn = timer.fn, None  # a fired timer can no longer be cancelled
                    return fn
                # a timer days away waits in steps: a wait longer than TIMEOUT_MAX raises OverflowError
                self._cond.wait(min(self._timers[0][0] - now, threading.TIMEOUT_MAX) if self._timers else None)

    def _main(self) -> None:
        while True:
            fn = self._next()
            try:
                fn()
            except Exception:
                logger.exception("exception in a callback or timer (the loop goes on)")
            with self._cond:
                self._pending -= 1
                if self._pending == 0:
                    self._cond.notify_all()


def _run_into(work: Callable[[], Tuple[Any, ...]], task: "Future[Tuple[Any, ...]]") -> None:
    try:
        task.set_result(work())
    except BaseException as error:
        task.set_exception(error)


def _raise(error: BaseException) -> None:
    raise error


def _deliver(callback: Callback, args: Tuple[Any, ...], future: "Future[Tuple[Any, ...]]") -> None:
    """Run the user's callback, then resolve the Future, whatever the callback does."""
    try:
        if callback is not None:
            callback(*args)
    finally:
        future.set_result(args)


LOOP = Loop()


class _Imp:
    """The parts of Electric Imp's `imp` object that agent code uses, on the library's loop."""

    def wakeup(self, seconds: float, fn: Callable[[], Any]) -> Timer:
        """Call `fn()` on the library thread after `seconds`; returns a handle for cancelwakeup."""
        return LOOP.wakeup(seconds, fn)

    def cancelwakeup(self, handle: Timer) -> None:
        """Cancel a timer set by wakeup."""
        LOOP.cancelwakeup(handle)

    def run(self, timeout: Optional[float] = None) -> bool:
        """Wait until the library is idle or imp.stop() is called (True), or `timeout` seconds pass (False)."""
        return LOOP.run(timeout)

    def stop(self) -> None:
        """Make imp.run() return now."""
        LOOP.stop()


class _Server:
    """Electric Imp's `server.log` / `server.error`: a line on standard output / standard error."""

    def log(self, message: Any) -> None:
        print(message, file=sys.stdout, flush=True)

    def error(self, message: Any) -> None:
        print(message, file=sys.stderr, flush=True)


imp = _Imp()
server = _Server()
