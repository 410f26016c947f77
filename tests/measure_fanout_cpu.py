"""Measures the client's CPU per record delivered: SubscribeToShard (fan-out) against GetRecords polling, in one run.

    PYTHONPATH=. python tests/measure_fanout_cpu.py [--records 20000] [--runs 3]

One kinesis-mock (tests/servers.py) serves a one-shard stream holding `--records` JSON records
of about 100 bytes. Each run reads them all from TRIM_HORIZON once by getRecords (limit 10000)
and once by subscribeToShard, as a JSON and as a blob Consumer, and prints this process's CPU
time (all its threads: time.process_time) per record. kinesis-mock pushes an event about once
a second, so the wall time, and any latency, say nothing about AWS and are not compared.
"""

import argparse
import base64
import statistics
import time

from conftest import consumer
from servers import KinesisMock

from awskinesisstreams import AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as ITERATOR
from awskinesisstreams.kinesis import stream_admin

SHARD = "shardId-000000000000"


def fill(server, stream, count):
    client = server.client()
    for start in range(0, count, 500):
        records = [
            {"Data": base64.b64encode(b'{"n":%d,"pad":"%s"}' % (n, b"x" * 80)).decode(), "PartitionKey": "k%d" % n}
            for n in range(start, min(count, start + 500))
        ]
        stream_admin(client, "PutRecords", {"StreamName": stream, "Records": records}, ("Records",))


def polling(reader, count):
    _, iterator = reader.getShardIterator(SHARD, ITERATOR.TRIM_HORIZON, None, None).result(30)
    options, got = {"shardIterator": iterator, "limit": 10000}, 0
    while got < count:
        error, records, _, options = reader.getRecords(options, None).result(60)
        assert error is None, error
        got += len(records)
    return got


def fan_out(reader, arn, count):
    got = [0]

    def on_event(records, millis, continuation):
        got[0] += len(records)
        return got[0] < count

    while True:
        error, _, _ = reader.subscribeToShard(
            {"consumerARN": arn, "shardId": SHARD, "type": ITERATOR.TRIM_HORIZON}, on_event, None
        ).result(300)
        if error is None:
            return got[0]
        assert error.awsErrorType == "ResourceInUseException", error
        time.sleep(1)  # the last subscription is less than 5 s old


def cpu_per_record(read, count):
    started = time.process_time()
    got = read()
    assert got == count, (got, count)
    return (time.process_time() - started) / count * 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with KinesisMock() as server:
        server.create_stream("cpu", 1)
        fill(server, "cpu", args.records)
        results = {}
        for is_blob in (False, True):
            reader = consumer(server, "cpu", isBlob=is_blob)
            arn = reader.registerStreamConsumer("cpu-%s" % is_blob, None).result(60)[1]["consumerARN"]
            for name, read in (("getRecords", lambda: polling(reader, args.records)),
                               ("subscribeToShard", lambda: fan_out(reader, arn, args.records))):
                runs = [cpu_per_record(read, args.records) for _ in range(args.runs)]
                results[(name, is_blob)] = runs
                print("%-17s %-5s CPU per record: median %.1f us (runs: %s)" % (
                    name, "blob" if is_blob else "JSON", statistics.median(runs), ", ".join("%.1f" % r for r in runs)), flush=True)


if __name__ == "__main__":
    main()
