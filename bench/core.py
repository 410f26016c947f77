"""The faithful calls against boto3's: putRecords, putRecord and getRecords, and the memory run.

The user's side of each call is counted: building the Records for this library, building
the request dicts for boto3.
"""

import json
import os
import tracemalloc
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict

from common import KEYS, PAYLOADS, AWSKinesisStreams, LocalKinesis, Record, TRIM_HORIZON, consumer, cpu_per, rate

BATCH = 500
GET_BATCH = 1000
IN_FLIGHT = 4
BATCH_DATA = list(zip(PAYLOADS[:BATCH], KEYS[:BATCH]))

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


# -- this library ---------------------------------------------------------------------


def library_side(server: LocalKinesis, put_stream: str):
    producer = AWSKinesisStreams.Producer(
        server.region, server.accessKeyId, server.secretAccessKey, put_stream, endpoint=server.endpoint
    )

    def put_records(batches: int) -> None:
        for _ in range(batches):
            records = [Record(data, key) for data, key in BATCH_DATA]
            err, failed, _results = producer.putRecords(records).result()
            assert err is None and failed == 0, err

    def put_record(calls: int) -> None:
        for i in range(calls):
            data, key = BATCH_DATA[i % BATCH]
            err, result = producer.putRecord(Record(data, key)).result()
            assert err is None and result.sequenceNumber, err

    def put_records_in_flight(batches: int) -> None:
        pending: deque = deque()
        for _ in range(batches):
            if len(pending) == IN_FLIGHT:
                assert pending.popleft().result()[0] is None
            pending.append(producer.putRecords([Record(data, key) for data, key in BATCH_DATA]))
        while pending:
            assert pending.popleft().result()[0] is None

    return put_records, put_record, put_records_in_flight


def library_reader(server: LocalKinesis, stream: str, is_blob: bool) -> Callable[[int], None]:
    reader = consumer(server, stream) if is_blob else AWSKinesisStreams.Consumer(
        server.region, server.accessKeyId, server.secretAccessKey, stream, False, endpoint=server.endpoint
    )
    err, shards = reader.getShards(None).result()
    err, iterator = reader.getShardIterator(shards[0], TRIM_HORIZON, None, None).result()
    options = {"shardIterator": iterator, "limit": GET_BATCH}

    def get_records(calls: int) -> None:
        for _ in range(calls):
            err, records, _millis, _next = reader.getRecords(options, None).result()
            assert err is None and len(records) == GET_BATCH, err

    return get_records


# -- boto3 ----------------------------------------------------------------------------


def boto3_side(server: LocalKinesis, put_stream: str):
    from conftest import boto_kinesis  # here, so the library's children never load boto3 or pytest

    client = boto_kinesis(server)

    def put_batch() -> None:
        records = [{"Data": data, "PartitionKey": key} for data, key in BATCH_DATA]
        answer = client.put_records(Records=records, StreamName=put_stream)
        assert answer["FailedRecordCount"] == 0

    def put_records(batches: int) -> None:
        for _ in range(batches):
            put_batch()

    def put_record(calls: int) -> None:
        for i in range(calls):
            data, key = BATCH_DATA[i % BATCH]
            answer = client.put_record(StreamName=put_stream, Data=data, PartitionKey=key)
            assert answer["SequenceNumber"]

    def put_records_in_flight(batches: int) -> None:
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            for future in [pool.submit(put_batch) for _ in range(batches)]:
                future.result()

    return put_records, put_record, put_records_in_flight


def boto3_reader(server: LocalKinesis, stream: str, is_blob: bool) -> Callable[[int], None]:
    from conftest import boto_kinesis

    client = boto_kinesis(server)
    shard = client.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = client.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]

    def get_records(calls: int) -> None:
        for _ in range(calls):
            records = client.get_records(ShardIterator=iterator, Limit=GET_BATCH)["Records"]
            if not is_blob:
                values = [json.loads(record["Data"]) for record in records]
                assert len(values) == GET_BATCH
            assert len(records) == GET_BATCH

    return get_records


# -- both -----------------------------------------------------------------------------


def fill(server: LocalKinesis) -> None:
    """The streams the core measures use: one to put into, and GET_BATCH records of JSON and of bytes to read."""
    server.create_stream("bench-put", 4)
    for stream, is_blob in (("bench-json", False), ("bench-blob", True)):
        server.create_stream(stream, 1)
        producer = AWSKinesisStreams.Producer(
            server.region, server.accessKeyId, server.secretAccessKey, stream, endpoint=server.endpoint
        )
        for start in range(0, GET_BATCH, BATCH):
            if is_blob:
                records = [Record(data, key) for data, key in BATCH_DATA]
            else:
                records = [Record({"n": start + i, "text": "x" * 80}, KEYS[i]) for i in range(BATCH)]
            err, failed, _ = producer.putRecords(records).result()
            assert err is None and failed == 0, err


def measure(side: str, moto: LocalKinesis, stub: LocalKinesis) -> Dict[str, float]:
    """Every core figure of one client (`library` or `boto3`), in this process."""
    writer, reader = (library_side, library_reader) if side == "library" else (boto3_side, boto3_reader)
    put_records, put_record, in_flight = writer(moto, "bench-put")
    _, put_record_stub, in_flight_stub = writer(stub, "bench-stub")
    put_records(1)  # warm up: connections, imports, caches
    put_record(5)
    put_record_stub(5)
    in_flight_stub(IN_FLIGHT)
    figures = {
        "put_records_cpu": cpu_per(4 * BATCH, lambda: put_records(4)),
        "put_record_cpu": cpu_per(100, lambda: put_record(100)),
        "put_record_cpu_keepalive": cpu_per(300, lambda: put_record_stub(300)),
    }
    for stream, is_blob, key in (("bench-json", False, "get_json_cpu"), ("bench-blob", True, "get_blob_cpu")):
        get_records = reader(moto, stream, is_blob)
        get_records(1)
        figures[key] = cpu_per(2 * GET_BATCH, lambda: get_records(2))
    figures["rate_moto"] = rate(8 * BATCH, lambda: in_flight(8))
    figures["rate_stub"] = rate(40 * BATCH, lambda: in_flight_stub(40))
    return figures


# -- the memory run -------------------------------------------------------------------


def rss_mib() -> float:
    """The resident set size of this process now, in MiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_run(endpoint: str, total: int) -> Dict[str, Dict[int, Dict[str, float]]]:
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
        pending.append(producer.putRecords([Record(data, key) for data, key in BATCH_DATA]))
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
