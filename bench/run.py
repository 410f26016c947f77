"""Benchmark: this library against boto3, side by side, on one local Kinesis in another process.

    python bench/run.py            # the full run (about a minute on 2 cores)
    python bench/run.py --quick    # fewer repetitions and a 200,000-record memory run

Client CPU is this process's own CPU time (all its threads; the server runs in another
process), so it does not depend on the server's speed. Each figure is the median of
several repetitions. The user's side of each call is counted: building the Records for
this library, building the request dicts for boto3.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from awskinesisstreams import AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as ITERATOR  # noqa: E402
from awskinesisstreams import AWSKinesisStreams  # noqa: E402
from awskinesisstreams.local import LocalKinesis  # noqa: E402

Record = AWSKinesisStreams.Record
BATCH = 500
RECORD_BYTES = 100
GET_BATCH = 1000
IN_FLIGHT = 4
PAYLOADS = [(b"%06d" % i) * (RECORD_BYTES // 6) + b"x" * (RECORD_BYTES % 6) for i in range(BATCH)]
KEYS = ["key-%d" % i for i in range(BATCH)]


class StubKinesis(LocalKinesis):
    """bench/stub.py: answers PutRecords and stores nothing, for the million-record memory run."""

    def command(self) -> List[str]:
        return [sys.executable, os.path.join(HERE, "stub.py"), str(self.port)]


def cpu_per(unit_count: int, run: Callable[[], None], repeats: int) -> float:
    """Median client CPU seconds per unit over `repeats` runs of `run()` (each doing `unit_count` units)."""
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        run()
        samples.append((time.process_time() - started) / unit_count)
    return statistics.median(samples)


def rate(record_count: int, run: Callable[[], None], repeats: int) -> float:
    """Median wall-clock records per second over `repeats` runs."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        samples.append(record_count / (time.perf_counter() - started))
    return statistics.median(samples)


# -- this library ---------------------------------------------------------------------


def library_side(server: LocalKinesis, put_stream: str):
    producer = AWSKinesisStreams.Producer(
        server.region, server.accessKeyId, server.secretAccessKey, put_stream, endpoint=server.endpoint
    )

    def put_records(batches: int) -> None:
        for _ in range(batches):
            records = [Record(data, key) for data, key in zip(PAYLOADS, KEYS)]
            err, failed, _results = producer.putRecords(records).result()
            assert err is None and failed == 0, err

    def put_record(calls: int) -> None:
        for i in range(calls):
            err, result = producer.putRecord(Record(PAYLOADS[i % BATCH], KEYS[i % BATCH])).result()
            assert err is None and result.sequenceNumber, err

    def put_records_in_flight(batches: int) -> None:
        pending: deque = deque()
        for _ in range(batches):
            if len(pending) == IN_FLIGHT:
                assert pending.popleft().result()[0] is None
            pending.append(producer.putRecords([Record(data, key) for data, key in zip(PAYLOADS, KEYS)]))
        while pending:
            assert pending.popleft().result()[0] is None

    return put_records, put_record, put_records_in_flight


def library_reader(server: LocalKinesis, stream: str, is_blob: bool) -> Callable[[int], None]:
    consumer = AWSKinesisStreams.Consumer(
        server.region, server.accessKeyId, server.secretAccessKey, stream, is_blob, endpoint=server.endpoint
    )
    err, shards = consumer.getShards(None).result()
    err, iterator = consumer.getShardIterator(shards[0], ITERATOR.TRIM_HORIZON, None, None).result()
    options = {"shardIterator": iterator, "limit": GET_BATCH}

    def get_records(calls: int) -> None:
        for _ in range(calls):
            err, records, _millis, _next = consumer.getRecords(options, None).result()
            assert err is None and len(records) == GET_BATCH, err

    return get_records


# -- boto3 ----------------------------------------------------------------------------


def boto3_client(server: LocalKinesis):
    import boto3  # here, so the library's own process never imports it
    from botocore.config import Config

    return boto3.client(
        "kinesis",
        region_name=server.region,
        aws_access_key_id=server.accessKeyId,
        aws_secret_access_key=server.secretAccessKey,
        endpoint_url=server.endpoint,
        config=Config(max_pool_connections=IN_FLIGHT * 2, retries={"max_attempts": 0}),
    )


def boto3_side(server: LocalKinesis, put_stream: str):
    client = boto3_client(server)

    def put_batch() -> None:
        records = [{"Data": data, "PartitionKey": key} for data, key in zip(PAYLOADS, KEYS)]
        answer = client.put_records(Records=records, StreamName=put_stream)
        assert answer["FailedRecordCount"] == 0

    def put_records(batches: int) -> None:
        for _ in range(batches):
            put_batch()

    def put_record(calls: int) -> None:
        for i in range(calls):
            answer = client.put_record(StreamName=put_stream, Data=PAYLOADS[i % BATCH], PartitionKey=KEYS[i % BATCH])
            assert answer["SequenceNumber"]

    def put_records_in_flight(batches: int) -> None:
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            for future in [pool.submit(put_batch) for _ in range(batches)]:
                future.result()

    return put_records, put_record, put_records_in_flight


def boto3_reader(server: LocalKinesis, stream: str, is_blob: bool) -> Callable[[int], None]:
    client = boto3_client(server)
    shard = client.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = client.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    def get_records(calls: int) -> None:
        for _ in range(calls):
            records = client.get_records(ShardIterator=iterator, Limit=GET_BATCH)["Records"]
            if not is_blob:
                values = [json.loads(record["Data"]) for record in records]
                assert len(values) == GET_BATCH
            assert len(records) == GET_BATCH

    return get_records


# -- the memory run -------------------------------------------------------------------


def rss_mib() -> float:
    """The resident set size of this process now, in MiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_run(endpoint: str, total: int) -> Dict[str, Dict[str, float]]:
    """Put `total` records through putRecords (4 in flight); RSS and traced memory at 10%, 50% and 100%.

    The peak RSS is sampled after every call (getrusage's maximum would include the parent
    process's, inherited across fork and exec).
    """
    producer = AWSKinesisStreams.Producer("us-east-1", "testing", "testing", "bench-memory", endpoint=endpoint)
    tracemalloc.start()
    pending: deque = deque()
    marks = {}
    sent = 0
    peak_rss = rss_mib()
    while sent < total:
        if len(pending) == IN_FLIGHT:
            assert pending.popleft().result()[0] is None
            peak_rss = max(peak_rss, rss_mib())
        pending.append(producer.putRecords([Record(data, key) for data, key in zip(PAYLOADS, KEYS)]))
        sent += BATCH
        if sent in (total // 10, total // 2, total):
            while pending:
                assert pending.popleft().result()[0] is None
            current, peak = tracemalloc.get_traced_memory()
            rss = rss_mib()
            peak_rss = max(peak_rss, rss)
            marks[sent] = {"rss": rss, "peak_rss": peak_rss, "traced": current / 2**20, "traced_peak": peak / 2**20}
            tracemalloc.reset_peak()  # the next peak is that of the records sent after this mark
    tracemalloc.stop()
    return {"marks": marks}


# -- the report -----------------------------------------------------------------------


def fill(server: LocalKinesis, stream: str, is_blob: bool) -> None:
    """Put GET_BATCH records of about 100 bytes (JSON objects or raw bytes) into a one-shard stream."""
    server.create_stream(stream, 1)
    producer = AWSKinesisStreams.Producer(
        server.region, server.accessKeyId, server.secretAccessKey, stream, endpoint=server.endpoint
    )
    for start in range(0, GET_BATCH, BATCH):
        if is_blob:
            records = [Record(PAYLOADS[i], KEYS[i]) for i in range(BATCH)]
        else:
            records = [Record({"n": start + i, "text": "x" * 80}, KEYS[i]) for i in range(BATCH)]
        err, failed, _ = producer.putRecords(records).result()
        assert err is None and failed == 0, err


def table(rows: List[Tuple[str, str, float, float, bool]]) -> str:
    """Rows of (what, unit, library, boto3, smaller_is_better) as a Markdown table with the ratio."""
    lines = [
        "| measure | awskinesisstreams | boto3 | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for what, unit, ours, theirs, smaller_better in rows:
        ratio = theirs / ours if smaller_better else ours / theirs
        lines.append("| %s | %s %s | %s %s | %.1fx |" % (what, _num(ours), unit, _num(theirs), unit, ratio))
    return "\n".join(lines)


def _num(value: float) -> str:
    return "{:,.0f}".format(value) if value >= 1000 else "%.2f" % value if value < 10 else "%.1f" % value


MEASURES = [
    # key, label, unit, scale, smaller is better
    ("put_records_cpu", "putRecords, client CPU per record (500 x 100 B)", "us", 1e6, True),
    ("put_record_cpu", "putRecord, client CPU per call", "ms", 1e3, True),
    ("put_record_cpu_keepalive", "putRecord, client CPU per call (stub server, keep-alive)", "ms", 1e3, True),
    ("get_json_cpu", "getRecords JSON, client CPU per record (1000 a call)", "us", 1e6, True),
    ("get_blob_cpu", "getRecords blob, client CPU per record (1000 a call)", "us", 1e6, True),
    ("rate_moto", "putRecords, %d in flight, wall clock (moto server)" % IN_FLIGHT, "rec/s", 1, False),
    ("rate_stub", "putRecords, %d in flight, wall clock (stub server)" % IN_FLIGHT, "rec/s", 1, False),
]


def measure(side: str, moto: LocalKinesis, stub: LocalKinesis, repeats: int) -> Dict[str, float]:
    """Every figure of one client (`library` or `boto3`), in this process."""
    writer, reader = (library_side, library_reader) if side == "library" else (boto3_side, boto3_reader)
    put_records, put_record, in_flight = writer(moto, "bench-put")
    _, put_record_stub, in_flight_stub = writer(stub, "bench-stub")
    put_records(1)  # warm up: connections, imports, caches
    put_record(5)
    put_record_stub(5)
    in_flight_stub(IN_FLIGHT)
    figures = {
        "put_records_cpu": cpu_per(4 * BATCH, lambda: put_records(4), repeats),
        "put_record_cpu": cpu_per(100, lambda: put_record(100), repeats),
        "put_record_cpu_keepalive": cpu_per(300, lambda: put_record_stub(300), repeats),
    }
    for stream, is_blob, key in (("bench-json", False, "get_json_cpu"), ("bench-blob", True, "get_blob_cpu")):
        get_records = reader(moto, stream, is_blob)
        get_records(1)
        figures[key] = cpu_per(2 * GET_BATCH, lambda: get_records(2), repeats)
    figures["rate_moto"] = rate(8 * BATCH, lambda: in_flight(8), repeats)
    figures["rate_stub"] = rate(40 * BATCH, lambda: in_flight_stub(40), repeats)
    return figures


def child(*args: str) -> Dict:
    """Run this script with `args` in a fresh process and return the JSON it prints."""
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *args], check=True, capture_output=True, text=True, timeout=150
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, 200,000 records in the memory run")
    parser.add_argument("--memory-records", type=int, default=None, help="records in the memory run (default 1,000,000)")
    parser.add_argument("--side", choices=("library", "boto3"), help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", metavar="ENDPOINT", help=argparse.SUPPRESS)
    parser.add_argument("--ports", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=None, help="rounds of each measure (default 5, --quick 3)")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    if args.memory_child:
        print(json.dumps(memory_run(args.memory_child, args.memory_records)))
        return
    if args.side:
        print(json.dumps(measure(args.side, LocalKinesis(args.ports[0]), StubKinesis(args.ports[1]), repeats)))
        return
    memory_records = args.memory_records or (200_000 if args.quick else 1_000_000)
    began = time.perf_counter()
    with LocalKinesis() as moto, StubKinesis() as stub:
        moto.create_stream("bench-put", 4)
        fill(moto, "bench-json", False)
        fill(moto, "bench-blob", True)
        ports = ["--ports", str(moto.port), str(stub.port), "--repeats", "1"]
        # Each client in its own fresh process, so neither pays for the other's imports (and their garbage
        # collection); the two alternate, round after round, so a busy spell on a shared machine hits both.
        rounds = [(child("--side", "library", *ports), child("--side", "boto3", *ports)) for _ in range(repeats)]
        ours, theirs = ({key: statistics.median(r[side][key] for r in rounds) for key in rounds[0][side]} for side in (0, 1))
        memory = child("--memory-child", stub.endpoint, "--memory-records", str(memory_records))
    print("awskinesisstreams %s vs boto3 %s, Python %s, %s, %d cores (nproc), median of %d alternating rounds" % (
        AWSKinesisStreams.VERSION, _version("boto3"), platform.python_version(), platform.machine(),
        os.cpu_count() or 0, repeats))
    print("server: moto %s in another process (it closes the connection after each answer);" % _version("moto"))
    print("the stub server (bench/stub.py, keep-alive, stores nothing) where said\n")
    print(table([(label, unit, ours[key] * scale, theirs[key] * scale, smaller) for key, label, unit, scale, smaller in MEASURES]))
    marks = memory["marks"]
    last = max(marks, key=int)
    print("\nmemory of this library, %s records through putRecords (%d in flight, stub server, fresh process):" % (
        "{:,}".format(int(last)), IN_FLIGHT))
    for mark in sorted(marks, key=int):
        m = marks[mark]
        print("  after %9s records: RSS %5.1f MiB (peak so far %5.1f MiB), traced %4.2f MiB (peak since the line above %4.2f MiB)" % (
            "{:,}".format(int(mark)), m["rss"], m["peak_rss"], m["traced"], m["traced_peak"]))
    print("\nran in %.0f s" % (time.perf_counter() - began))


def _version(module: str) -> str:
    return __import__(module).__version__


if __name__ == "__main__":
    main()
