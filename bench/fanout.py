"""Enhanced fan-out against polling: client CPU per record delivered, the same records, on kinesis-mock.

kinesis-mock (npm kinesis-local) is the only local server with stream consumers and
SubscribeToShard. It pushes an event about once a second, so latency cannot be compared on
it: only the client's CPU per record is.
"""

from typing import Dict, List

from common import PAYLOADS, KEYS, AWSKinesisStreams, LocalKinesis, Record, TRIM_HORIZON, consumer, cpu_per

STREAM = "bench-fanout"
LATENCY_NOTE = ("kinesis-mock pushes an event about once a second, so no latency is quoted: "
                "on it a figure would measure its timer, not the client")


def fill(server: LocalKinesis, count: int) -> None:
    """`count` records of 100 bytes into a one-shard stream (kinesis-mock slows down as a shard fills)."""
    server.create_stream(STREAM, 1)
    producer = AWSKinesisStreams.Producer(
        server.region, server.accessKeyId, server.secretAccessKey, STREAM, endpoint=server.endpoint
    )
    for start in range(0, count, 500):
        records = [Record(PAYLOADS[i % len(PAYLOADS)], KEYS[i % len(KEYS)]) for i in range(start, start + 500)]
        err, failed, _ = producer.putRecords(records).result(timeout=60)
        assert err is None and failed == 0, err


def poll(reader: AWSKinesisStreams.Consumer, shard: str, wanted: int) -> int:
    """getRecords from the start of the shard until `wanted` records are read; how many were."""
    err, iterator = reader.getShardIterator(shard, TRIM_HORIZON, None, None).result(timeout=30)
    assert err is None, err
    seen = 0
    while seen < wanted:
        options = {"shardIterator": iterator, "limit": 10_000}
        err, records, _millis, options = reader.getRecords(options, None).result(timeout=60)
        assert err is None, err
        seen += len(records)
        iterator = options["shardIterator"]
    return seen


def subscribe(reader: AWSKinesisStreams.Consumer, consumer_arn: str, shard: str, wanted: int) -> int:
    """subscribeToShard from the start of the shard until `wanted` records are delivered; how many were."""
    seen: List[int] = [0]

    def on_event(records: list, _millis: int, _continuation: str) -> bool:
        seen[0] += len(records)
        return seen[0] < wanted

    options = {"consumerARN": consumer_arn, "shardId": shard, "type": TRIM_HORIZON}
    err = reader.subscribeToShard(options, on_event, None).result(timeout=120)[0]
    assert err is None, err
    return seen[0]


def measure(server: LocalKinesis, round_number: int, count: int) -> Dict[str, float]:
    """Client CPU per record of polling and of fan-out over the same `count` records, in this process.

    Each round registers consumers of its own: AWS (and so a faithful mock) refuses a second
    subscription of one consumer to one shard within 5 seconds of the last.
    """
    reader = consumer(server, STREAM)
    err, shards = reader.getShards(None).result(timeout=30)
    assert err is None, err
    arns = []
    for name in ("bench-warm-%d" % round_number, "bench-%d" % round_number):
        err, description = reader.registerStreamConsumer(name, None).result(timeout=60)
        assert err is None, err
        arns.append(description["consumerARN"])
    poll(reader, shards[0], count)  # warm up both paths: connections, imports
    subscribe(reader, arns[0], shards[0], 1)
    counts = {}

    def polled() -> None:
        counts["poll"] = poll(reader, shards[0], count)

    def pushed() -> None:
        counts["fanout"] = subscribe(reader, arns[1], shards[0], count)

    runs = [("fanout_cpu", pushed), ("poll_cpu", polled)]
    if round_number % 2:  # each goes first in every other round
        runs.reverse()
    figures = {key: cpu_per(count, run) for key, run in runs}
    assert counts == {"poll": count, "fanout": count}, counts
    return figures
