"""Load: many threads call putRecord, putRecords and getRecords at once against moto, in bounded rounds.

Every call gets its one callback, callbacks never overlap (all on the one loop thread), memory
stays flat from round to round, and the HTTP pool never holds more threads than configured.
"""

import gc
import threading
import time
import tracemalloc

from conftest import consumer, producer

from awskinesisstreams import AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as IT, AWSKinesisStreams
from awskinesisstreams.loop import LOOP

Record = AWSKinesisStreams.Record
THREADS = 16
ITERATIONS = 8  # per thread and round; each iteration makes three calls
ROUNDS = 4
ROUND_TIME_LIMIT = 30.0


class Watch:
    """Counts callbacks, notices any two running at once, and samples the HTTP pool's size."""

    def __init__(self):
        self.callbacks = 0
        self.active = 0
        self.overlaps = 0
        self.callback_threads = set()
        self.max_http_threads = 0

    def callback(self, *args):
        self.active += 1  # not atomic on purpose: callbacks running at once would show here
        if self.active != 1:
            self.overlaps += 1
        self.callback_threads.add(threading.current_thread().name)
        time.sleep(0)
        self.callbacks += 1
        self.active -= 1

    def sample_pool(self):
        http = sum(1 for t in threading.enumerate() if t.name.startswith("awskinesisstreams-http"))
        self.max_http_threads = max(self.max_http_threads, http)


def one_round(p, c, iterator, watch):
    calls = [0]
    lock = threading.Lock()

    def worker(n):
        for i in range(ITERATIONS):
            futures = [
                p.putRecord(Record({"t": n, "i": i}, "k%d" % n), watch.callback),
                p.putRecords([Record({"t": n, "j": j}, "k%d" % j) for j in range(10)], watch.callback),
                c.getRecords({"shardIterator": iterator, "limit": 5}, watch.callback),
            ]
            with lock:
                calls[0] += len(futures)
            for future in futures:
                future.result(ROUND_TIME_LIMIT)
            watch.sample_pool()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(ROUND_TIME_LIMIT)
    assert not any(thread.is_alive() for thread in threads)
    return calls[0]


def test_many_threads_at_once_one_callback_each_flat_memory_bounded_pool(moto_server, stream):
    p, c = producer(moto_server, stream), consumer(moto_server, stream)
    err, iterator = c.getShardIterator("shardId-000000000000", IT.TRIM_HORIZON, None, None).result(10)
    assert err is None
    watch = Watch()
    sizes, made = [], 0
    tracemalloc.start()
    try:
        for _ in range(ROUNDS):
            started = time.monotonic()
            made += one_round(p, c, iterator, watch)
            assert time.monotonic() - started < ROUND_TIME_LIMIT
            gc.collect()
            sizes.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    growth = sizes[-1] - sizes[1]  # the first round warms up sessions, pools and caches
    print("\nload: %d calls in %d rounds, traced memory per round %s, max HTTP threads %d"
          % (made, ROUNDS, [s // 1024 for s in sizes], watch.max_http_threads))
    assert made == ROUNDS * THREADS * ITERATIONS * 3 and watch.callbacks == made
    assert watch.overlaps == 0 and watch.callback_threads == {"awskinesisstreams-loop"}
    assert 0 < watch.max_http_threads <= LOOP.max_workers
    assert growth < 256 * 1024, "memory grew by %d bytes over %d rounds" % (growth, ROUNDS - 2)
