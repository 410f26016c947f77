"""Measures how long a dead worker's shard waits for a new owner, with the Worker's default settings.

    python tests/measure_takeover.py [--runs 3]

Two worker processes (tests/worker_process.py --defaults) share a one-shard stream on the embedded
local Kinesis with an SQLite lease store; the owner is killed with SIGKILL while records flow, and
the time until the other one owns the lease, and until it processes its first record, is printed.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from awskinesisstreams import AWSKinesisStreams
from awskinesisstreams.leases.store import SQLiteLeaseStore
from awskinesisstreams.local import LocalKinesis

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker_process.py")


def until(condition, seconds=60.0, step=0.02):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(step)
    return time.monotonic()


def one_run(local, folder, run):
    stream = "takeover-%d" % run
    local.create_stream(stream, 1)
    store = SQLiteLeaseStore(os.path.join(folder, "leases-%d.sqlite3" % run))
    store.prepare()
    producer = AWSKinesisStreams.Producer(local.region, "testing", "testing", stream, endpoint=local.endpoint)
    writing = threading.Event()

    def write():
        n = 0
        while not writing.is_set():
            producer.putRecord(AWSKinesisStreams.Record({"n": n}, "k")).result(10)
            n += 1
            time.sleep(0.05)

    threading.Thread(target=write, daemon=True).start()
    procs = {}
    outs = {name: os.path.join(folder, "%s-%d.txt" % (name, run)) for name in ("a", "b")}

    def start(name):
        args = [sys.executable, SCRIPT, "--kinesis", local.endpoint, "--stream", stream, "--worker-id", name,
                "--out", outs[name], "--sqlite", store.path, "--defaults", "--deadline", "120"]
        procs[name] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def owner():
        leases = store.list(stream, stream)
        return leases[0].owner if leases else None

    def lines(name):
        return os.path.exists(outs[name]) and os.path.getsize(outs[name]) > 0

    try:
        start("a")
        until(lambda: owner() == "a" and lines("a"))
        start("b")
        time.sleep(5)  # b is up and has seen a's lease renewed
        killed = time.monotonic()
        procs["a"].send_signal(signal.SIGKILL)
        owned = until(lambda: owner() == "b")
        processing = until(lambda: lines("b"))
        return owned - killed, processing - killed
    finally:
        writing.set()
        for proc in procs.values():
            proc.kill()
            proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    owned, processing = [], []
    with LocalKinesis() as local, tempfile.TemporaryDirectory() as folder:
        for run in range(runs):
            took, first = one_run(local, folder, run)
            owned.append(took)
            processing.append(first)
            print("run %d: lease taken over %.1f s after SIGKILL, first record %.1f s after it" % (run + 1, took, first))
    print("takeover with defaults: median %.1f s (min %.1f, max %.1f); first record after takeover: median %.1f s"
          % (statistics.median(owned), min(owned), max(owned), statistics.median(processing)))


if __name__ == "__main__":
    main()
