"""What every part of the benchmark shares: the records, the servers and the way CPU is counted."""

import gc
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(1, os.path.join(ROOT, "tests"))  # tests/servers.py: kinesalite and kinesis-mock

from awskinesisstreams import AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE, AWSKinesisStreams  # noqa: E402
from awskinesisstreams.local import LocalKinesis  # noqa: E402

Record = AWSKinesisStreams.Record
TRIM_HORIZON = AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE.TRIM_HORIZON
RECORD_BYTES = 100
KEY_COUNT = 1000
PAYLOADS = [(b"%06d" % i) * (RECORD_BYTES // 6) + b"x" * (RECORD_BYTES % 6) for i in range(KEY_COUNT)]
KEYS = ["key-%d" % i for i in range(KEY_COUNT)]


class StubKinesis(LocalKinesis):
    """bench/stub.py: a keep-alive 4-shard stream that answers ListShards and PutRecord(s) and stores nothing."""

    def command(self) -> List[str]:
        return [sys.executable, os.path.join(HERE, "stub.py"), str(self.port)]


def cpu_per(unit_count: int, run: Callable[[], None], repeats: int = 1) -> float:
    """Median client CPU seconds per unit over `repeats` runs of `run()` (each doing `unit_count` units).

    process_time counts every thread of this process (the library's loop and HTTP threads too)
    and nothing of the server's. The garbage of what ran before is collected first, so no
    measure pays for another's.
    """
    samples = []
    for _ in range(repeats):
        gc.collect()
        started = time.process_time()
        run()
        samples.append((time.process_time() - started) / unit_count)
    return statistics.median(samples)


def rate(record_count: int, run: Callable[[], None], repeats: int = 1) -> float:
    """Median wall-clock records per second over `repeats` runs."""
    samples = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        run()
        samples.append(record_count / (time.perf_counter() - started))
    return statistics.median(samples)


def consumer(server: LocalKinesis, stream: str, **options: object) -> AWSKinesisStreams.Consumer:
    """A blob Consumer of `stream` on `server`."""
    return AWSKinesisStreams.Consumer(
        server.region, server.accessKeyId, server.secretAccessKey, stream, True, endpoint=server.endpoint, **options
    )


def run_child(command: List[str], timeout: float = 150, env: Optional[Dict[str, str]] = None) -> str:
    """Run a child process and return what it printed; its standard error is passed through on failure."""
    out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise RuntimeError("%s exited with status %d" % (" ".join(command[:4]), out.returncode))
    return out.stdout
