"""KPL aggregation, both ways: the buffered producer and the deaggregating reader against their peers.

Every figure is client CPU per user record of 100 bytes, 1000 partition keys, with a callback
(or the peer's nearest equivalent) per user record. The producers write to the stub server
(bench/stub.py: 4 shards, keep-alive, stores nothing); the readers read KPL-aggregated records
from moto; the throughput run writes to a 4-shard kinesalite stream.
"""

import json
import os
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

from common import (
    HERE, KEYS, PAYLOADS, TRIM_HORIZON, AWSKinesisStreams, LocalKinesis, Record, consumer, cpu_per, run_child,
)
from profiling import profiled

AGGREGATE_BYTES = 51_200  # the KPL's default aggregate size, for the peers that take one
READ_STREAM = "bench-aggregated"
READ_USER_RECORDS = 10_000
AIOKPL = "aiokpl==0.2.0"
AIOKPL_VENV = os.path.join(HERE, ".venv-aiokpl")  # git-ignored: aiokpl pins an older botocore than boto3's

# The targets of issue 11.
TARGET_PRODUCER_US = 2.0
TARGET_VS_BOTO3 = 5.0
TARGET_VS_AGGREGATOR = 2.0
TARGET_READER_VS_PEER = 2.0


def user_records(count: int) -> List[Tuple[bytes, str]]:
    """(data, partition key) of `count` user records, cycling over the 1000 keys."""
    return [(PAYLOADS[i % len(PAYLOADS)], KEYS[i % len(KEYS)]) for i in range(count)]


# -- producers ------------------------------------------------------------------------


def buffered_producer(server: LocalKinesis, stream: str = "bench-buffered", **options: object):
    """A BufferedProducer on `server`, aggregating."""
    return AWSKinesisStreams.BufferedProducer(
        server.region, server.accessKeyId, server.secretAccessKey, stream, endpoint=server.endpoint, **options
    )


def put_through(producer, count: int) -> Callable[[], None]:
    """A run that puts `count` user records one putRecord at a time, each with a callback, then flushes."""
    records = user_records(count)
    failures: List[object] = []
    delivered = [0]

    def callback(err: object, _result: object) -> None:
        delivered[0] += 1
        if err is not None:
            failures.append(err)

    def run() -> None:
        delivered[0] = 0
        for data, key in records:
            producer.putRecord(Record(data, key), callback)
        err = producer.flush().result(timeout=120)[0]
        assert err is None and not failures and delivered[0] == count, (err, failures[:1], delivered[0])

    return run


def ours_put(stub: LocalKinesis, count: int) -> float:
    """BufferedProducer(aggregate=True), default settings: client CPU per user record."""
    producer = buffered_producer(stub)
    try:
        put_through(producer, 2000)()  # warm up: the shard map, connections, imports
        return cpu_per(count, put_through(producer, count))
    finally:
        producer.close(timeout=30)


def boto3_put(stub: LocalKinesis, count: int) -> float:
    """boto3 put_records, 500 records a call, not aggregated, a callback per record on its result."""
    from conftest import boto_kinesis  # here, so the library's children never load boto3 or pytest

    client = boto_kinesis(stub)
    records = user_records(count)
    outcomes = [0]

    def callback(entry: dict) -> None:
        outcomes[0] += "SequenceNumber" in entry

    def run(batch: List[Tuple[bytes, str]]) -> None:
        for start in range(0, len(batch), 500):
            entries = [{"Data": data, "PartitionKey": key} for data, key in batch[start:start + 500]]
            answer = client.put_records(StreamName="bench-buffered", Records=entries)
            for entry in answer["Records"]:
                callback(entry)

    run(records[:1000])
    outcomes[0] = 0
    figure = cpu_per(count, lambda: run(records))
    assert outcomes[0] == count
    return figure


def kpl_aggregate(count: int) -> float:
    """aws-kinesis-agg's RecordAggregator packing the records, nothing sent; a callback per user record."""
    from aws_kinesis_agg.aggregator import RecordAggregator

    records = user_records(count)
    outcomes = [0]

    def finish(aggregate) -> None:
        aggregate.get_contents()  # the bytes a PutRecords entry would carry
        for _ in range(aggregate.get_num_user_records()):
            outcomes[0] += 1

    def run() -> None:
        aggregator = RecordAggregator(max_size=AGGREGATE_BYTES)
        for data, key in records:
            full = aggregator.add_user_record(key, data)
            if full is not None:
                finish(full)
        finish(aggregator.clear_and_get())

    run()
    outcomes[0] = 0
    figure = cpu_per(count, run)
    assert outcomes[0] == count
    return figure


def aiokpl_python() -> Tuple[Optional[str], str]:
    """The Python of a virtual environment with aiokpl, made on first use; (None, why) if it cannot be made."""
    python = os.path.join(AIOKPL_VENV, "bin", "python")
    probe = [python, "-c", "import aiokpl"]
    if os.path.exists(python) and subprocess.run(probe, capture_output=True).returncode == 0:
        return python, ""
    steps = [
        ("python -m venv " + AIOKPL_VENV, [sys.executable, "-m", "venv", AIOKPL_VENV]),
        ("pip install " + AIOKPL, [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", AIOKPL]),
    ]
    for name, step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as error:
            return None, "%s: %s" % (name, error)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            return None, "%s failed: %s" % (name, lines[-1] if lines else "status %d" % done.returncode)
    return python, ""


def aiokpl_put(python: str, stub: LocalKinesis, count: int) -> float:
    """aiokpl's Producer in its own environment (bench/aiokpl_child.py): client CPU per user record."""
    out = run_child([python, os.path.join(HERE, "aiokpl_child.py"), stub.endpoint, str(count)], timeout=300)
    return json.loads(out)["cpu"]


# -- readers --------------------------------------------------------------------------


def fill_aggregated(server: LocalKinesis) -> int:
    """Write READ_USER_RECORDS user records, packed by aws-kinesis-agg, into a one-shard stream; the aggregates."""
    from aws_kinesis_agg.aggregator import RecordAggregator

    server.create_stream(READ_STREAM, 1)
    aggregator = RecordAggregator(max_size=AGGREGATE_BYTES)
    blobs = []
    for data, key in user_records(READ_USER_RECORDS):
        full = aggregator.add_user_record(key, data)
        if full is not None:
            blobs.append(full.get_contents())
    blobs.append(aggregator.clear_and_get().get_contents())
    producer = AWSKinesisStreams.Producer(
        server.region, server.accessKeyId, server.secretAccessKey, READ_STREAM, endpoint=server.endpoint
    )
    for key, hash_key, blob in blobs:
        err, result = producer.putRecord(Record(blob, key, hash_key)).result(timeout=30)
        assert err is None, err
    return len(blobs)


def read_through(server: LocalKinesis, calls: int) -> Callable[[], None]:
    """A run of `calls` Consumer(deaggregate=True).getRecords from the start of the aggregated stream."""
    reader = consumer(server, READ_STREAM, deaggregate=True)
    err, shards = reader.getShards(None).result(timeout=30)
    err, iterator = reader.getShardIterator(shards[0], TRIM_HORIZON, None, None).result(timeout=30)
    options = {"shardIterator": iterator, "limit": 10_000}
    seen = [0]

    def callback(err: object, records: list, _millis: int, _next: object) -> None:
        assert err is None, err
        seen[0] += len(records)

    def run() -> None:
        seen[0] = 0
        for _ in range(calls):
            reader.getRecords(options, callback).result(timeout=60)
        assert seen[0] == calls * READ_USER_RECORDS, seen[0]

    return run


def ours_read(server: LocalKinesis, calls: int) -> float:
    """Consumer(deaggregate=True).getRecords over the aggregated stream: client CPU per user record."""
    run = read_through(server, calls)
    run()  # warm up: connections, imports
    return cpu_per(calls * READ_USER_RECORDS, run)


def boto3_read(server: LocalKinesis, calls: int) -> float:
    """boto3 get_records plus aws-kinesis-agg's deaggregator: client CPU per user record."""
    from aws_kinesis_agg.deaggregator import iter_deaggregate_records

    from conftest import boto_kinesis

    client = boto_kinesis(server)
    shard = client.list_shards(StreamName=READ_STREAM)["Shards"][0]["ShardId"]
    iterator = client.get_shard_iterator(
        StreamName=READ_STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    seen = [0]

    def run() -> None:
        for _ in range(calls):
            records = client.get_records(ShardIterator=iterator, Limit=10_000)["Records"]
            seen[0] += len(list(iter_deaggregate_records(records, data_format="Boto3")))

    run()
    seen[0] = 0
    figure = cpu_per(calls * READ_USER_RECORDS, run)
    assert seen[0] == calls * READ_USER_RECORDS, seen[0]
    return figure


# -- what each client's child measures ------------------------------------------------


def measure(side: str, stub: LocalKinesis, moto: LocalKinesis, count: int) -> Dict[str, float]:
    """The aggregation figures of one client (`library`, `boto3` or `kpl-agg`), in this process."""
    if side == "library":
        return {"agg_put": ours_put(stub, count), "agg_read": ours_read(moto, 2)}
    if side == "boto3":
        return {"agg_put": boto3_put(stub, count), "agg_read": boto3_read(moto, 2)}
    return {"agg_put": kpl_aggregate(count)}


# -- throughput into kinesalite -------------------------------------------------------


def throughput(count: int) -> Dict[str, float]:
    """User records and MiB a second into a 4-shard kinesalite stream, BufferedProducer at default settings.

    The steady rate is that of the second half of the outcomes, past the burst that the rate
    limiter's full buckets allow at the start. The bytes are counted as Kinesis counts them
    against a shard's 1 MiB/s (data and partition key of each Kinesis record), read back
    from the stream after the run, and also as the user's data and keys.
    """
    from servers import Kinesalite

    records = user_records(count)
    user_bytes = sum(len(data) + len(key) for data, key in records)
    with Kinesalite() as server:
        server.create_stream("bench-throughput", 4)
        producer = buffered_producer(server, "bench-throughput")
        marks: Dict[int, float] = {}
        delivered = [0]
        failed = [0]
        mark_at = count // 2

        def callback(err: object, _result: object) -> None:
            delivered[0] += 1
            failed[0] += err is not None
            if delivered[0] in (mark_at, count):
                marks[delivered[0]] = time.perf_counter()

        started = time.perf_counter()
        for data, key in records:
            producer.putRecord(Record(data, key), callback)
        err = producer.flush().result(timeout=600)[0]
        producer.close(timeout=30)
        assert err is None and failed[0] == 0 and delivered[0] == count, (err, failed[0], delivered[0])
        kinesis_bytes = stream_bytes(server, "bench-throughput")
    overall = count / (marks[count] - started)
    steady = (count - mark_at) / (marks[count] - marks[mark_at])
    return {
        "records": count,
        "seconds": marks[count] - started,
        "overall_rps": overall,
        "steady_rps": steady,
        "steady_user_mibps": steady * user_bytes / count / 2**20,
        "steady_kinesis_mibps": steady * kinesis_bytes / count / 2**20,
        "overall_kinesis_mibps": overall * kinesis_bytes / count / 2**20,
    }


def stream_bytes(server: LocalKinesis, stream: str) -> int:
    """The bytes (data and partition key) of every Kinesis record in `stream`, aggregates left whole."""
    reader = consumer(server, stream)
    err, shards = reader.getShards(None).result(timeout=30)
    assert err is None, err
    total = 0
    for shard in shards:
        err, iterator = reader.getShardIterator(shard, TRIM_HORIZON, None, None).result(timeout=30)
        options = {"shardIterator": iterator, "limit": 10_000}
        records = [None]
        while records:  # kinesalite answers [] only once the open shard is read to its end
            err, records, _millis, options = reader.getRecords(options, None).result(timeout=60)
            assert err is None, err
            total += sum(len(record.data) + len(record.partitionKey.encode()) for record in records)
    return total


# -- where the producer's time goes ---------------------------------------------------


def profile_put(stub: LocalKinesis, count: int, top: int) -> List[Tuple[str, float, float]]:
    """Where the buffered producer's CPU goes, per user record: `count` put and flushed, the `top` functions."""

    def work() -> None:
        producer = buffered_producer(stub)
        put_through(producer, count)()
        producer.close(timeout=30)

    return profiled(work, count, top)


def profile_read(moto: LocalKinesis, top: int) -> List[Tuple[str, float, float]]:
    """Where the deaggregating reader's CPU goes, per user record: 4 getRecords of READ_USER_RECORDS each."""
    return profiled(lambda: read_through(moto, 4)(), 4 * READ_USER_RECORDS, top)  # threads start inside
