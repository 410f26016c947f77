"""Shutdown: close() and `with` wait for the instance's own calls, so a script that ends right after a put loses nothing."""

import subprocess
import sys
import textwrap
import threading
import time

from conftest import consumer, producer

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR as ERR, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as IT, AWSKinesisStreams
from proxy import Proxy

Record = AWSKinesisStreams.Record

SCRIPT = textwrap.dedent(
    """
    import sys
    from awskinesisstreams import AWSKinesisStreams
    Record = AWSKinesisStreams.Record
    endpoint, stream = sys.argv[1:]
    outcomes = []
    with AWSKinesisStreams.Producer("us-east-1", "testing", "testing", stream, endpoint=endpoint) as producer:
        for i in range(40):
            producer.putRecord(Record({"i": i}, "k"), lambda err, result: outcomes.append(err))
        producer.putRecords([Record({"i": i}, "k") for i in range(40, 100)], lambda err, *_: outcomes.append(err))
    print(len(outcomes), outcomes.count(None))
    """
)


def test_script_that_exits_right_after_its_puts_loses_nothing(moto_server, stream):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, moto_server.endpoint, stream], check=True, timeout=60, capture_output=True, text=True
    )
    assert done.stdout.split() == ["41", "41"]  # every callback ran before the script went on
    c = consumer(moto_server, stream)
    err, iterator = c.getShardIterator("shardId-000000000000", IT.TRIM_HORIZON, None, None).result(10)
    err, records, _, _ = c.getRecords({"shardIterator": iterator}, None).result(10)
    assert err is None
    assert sorted(r.data["i"] for r in records) == list(range(100))


def test_close_waits_for_its_own_calls_only_and_then_refuses_new_ones(moto_server, stream):
    release = threading.Event()

    def hold_put_record(call):
        if call.action == "PutRecord":
            release.wait(10)
        return None

    with Proxy(moto_server.endpoint, rule=hold_put_record) as proxy:
        slow = AWSKinesisStreams.Producer("us-east-1", "k", "s", stream, endpoint=proxy.endpoint)
        held = slow.putRecord(Record(1, "k"))
        with producer(moto_server, stream) as quick:
            quick.putRecords([Record(2, "k")])
        started = time.monotonic()
        assert slow.close(0.3) is False and not held.done()
        assert time.monotonic() - started < 2
        release.set()
        assert slow.close() is True and held.done()
        err, result = held.result(0)
    assert err is None and result.sequenceNumber
    err, result = quick.putRecord(Record(3, "k")).result(5)
    assert err.type == ERR.LIBRARY_ERROR and "closed" in err.details and result is None


def test_consumer_is_a_context_manager_too(moto_server, stream):
    with consumer(moto_server, stream) as c:
        listed = c.getShards(None)
    assert listed.done() and listed.result(0)[1] == ["shardId-000000000000"]
    err, shards = c.getShards(None).result(5)
    assert err.type == ERR.LIBRARY_ERROR and shards == []
