"""Where a run's CPU goes, over every thread the library runs, per unit of work (a user record, say).

cProfile runs in each thread on that thread's CPU clock (`time.thread_time`), so a thread
waiting on a lock, a queue or a socket counts nothing, and the GIL's hand-offs are not
charged to whatever was running. Reading that clock costs far more than most of the calls
it times, so the profiler's own cost is taken out, measured in this process first: what one
call of an empty function is charged, to itself and to its caller. What is left is still
more than the run costs unprofiled (the profiler also slows what it times, unevenly), so
read the shares, not the seconds.
"""

import cProfile
import os
import pstats
import threading
import time
from collections import Counter
from typing import Callable, Dict, List, Tuple

from common import ROOT

Function = Tuple[str, int, str]


def profiled(work: Callable[[], None], units: int, top: int) -> List[Tuple[str, float, float]]:
    """Run `work()` (`units` units of work) under a profile of every thread; the `top` costliest functions.

    Run once, in a fresh process: the hook must be in place before the library starts its
    threads, so the one-off costs (connections, imports) are in it too. Each thread's profile
    is stopped in that thread: stopped from another, the calls its thread still waits in would
    be charged with the other thread's clock.
    """
    from awskinesisstreams import imp
    from awskinesisstreams.loop import LOOP

    callee_cost, caller_cost = calibrate()
    threads: Dict[int, cProfile.Profile] = {}

    def start_in_thread(*_args: object) -> None:
        profile = threads[threading.get_ident()] = cProfile.Profile(time.thread_time)
        profile.enable()  # replaces this hook in the new thread

    def stop_loop_thread() -> None:
        threads[threading.get_ident()].disable()
        stopped.set()

    caller = cProfile.Profile(time.thread_time)
    threading.setprofile(start_in_thread)
    caller.enable()
    work()
    caller.disable()
    threading.setprofile(None)
    stopped = threading.Event()
    imp.wakeup(0, stop_loop_thread)
    stopped.wait(30)
    LOOP._pool.shutdown(wait=True)  # the HTTP threads end, and their calls with them (this process ends next)
    own = own_cpu(pstats.Stats(caller, *threads.values()).stats, callee_cost, caller_cost)  # type: ignore[attr-defined]
    return ranked(own, units, top)


def calibrate(calls: int = 100_000) -> Tuple[float, float]:
    """The profiler's own cost per call, in seconds: (charged to the callee, charged to its caller)."""

    def empty() -> None:
        pass

    def caller() -> None:
        for _ in range(calls):
            empty()

    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    caller()
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    own = {function[2]: entry[2] for function, entry in stats.items()}
    return own["empty"] / calls, own["caller"] / calls


def own_cpu(stats: Dict, callee_cost: float, caller_cost: float) -> Dict[Function, Tuple[int, float]]:
    """Each function's (calls, own CPU seconds), less the profiler's cost of its calls and of the calls it made."""
    made: Counter = Counter()
    for _function, (_primitive, _calls, _own, _cumulative, callers) in stats.items():
        for caller, entry in callers.items():
            made[caller] += entry[0]
    return {
        function: (calls, max(0.0, own - calls * callee_cost - made[function] * caller_cost))
        for function, (_primitive, calls, own, _cumulative, _callers) in stats.items()
    }


def ranked(own: Dict[Function, Tuple[int, float]], units: int, top: int) -> List[Tuple[str, float, float]]:
    """The `top` functions by own CPU, as (where, calls per unit, share of all the CPU profiled)."""
    total = sum(seconds for _calls, seconds in own.values()) or 1.0
    rows = []
    for (filename, line, name), (calls, seconds) in sorted(own.items(), key=lambda item: -item[1][1])[:top]:
        path = os.path.relpath(filename, ROOT) if filename.startswith(ROOT) else os.path.basename(filename)
        rows.append(("%s:%d(%s)" % (path, line, name) if line else name, calls / units, seconds / total))
    return rows
