"""FanOutSource on kinesis-mock, driven batch by batch: resubscribing after each end, backoff, close, closed shards."""

import queue
import time

from conftest import consumer, new_stream, wait_for
from eventstream_bytes import exception
from stream_proxy import END, StreamProxy
from test_shard_source import kinesis_at, put

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR
from awskinesisstreams.enums import AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as ITERATOR
from awskinesisstreams.wire.stream_consumers import StreamConsumers
from awskinesisstreams.reading.fanout_source import FanOutSource
from awskinesisstreams.loop import LOOP

SHARD = "shardId-000000000000"


class Reader:
    """Drives a FanOutSource from the test thread: `next()` asks on the loop and waits for the delivery."""

    def __init__(self, server, stream, endpoint=None, type=ITERATOR.TRIM_HORIZON, options=None, **settings):
        arn = consumer(server, stream).registerStreamConsumer("app", None).result(60)[1]["consumerARN"]
        self.reports = []
        consumers = StreamConsumers(kinesis_at(server, stream, endpoint))
        self.source = FanOutSource(consumers, arn, SHARD, type, options, self.reports.append, **settings)

    def next(self, timeout=30.0):
        outcome = queue.Queue()
        LOOP.deliver((), lambda: self.source.next(lambda *args: outcome.put(args)))
        return outcome.get(timeout=timeout)

    def read_to(self, count, timeout=60.0):
        records = []
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            error, batch = self.next()
            assert error is None, error
            records += batch.records
        return records

    def close(self):
        LOOP.deliver((), self.source.close).result(10)


def test_it_subscribes_again_after_each_end_from_the_last_continuation(kinesis_mock):
    stream = new_stream(kinesis_mock, 1)
    put(kinesis_mock, stream, range(5))
    seen = {}

    def end_after_two_events(body, message, raw):  # as AWS ends a subscription after 5 minutes
        key = len(proxy.subscriptions)
        seen[key] = seen.get(key, 0) + 1
        return [raw, END] if seen[key] == 2 else None

    started = []
    note_start = lambda body: started.append(time.monotonic())  # noqa: E731  (None: passed on upstream)
    with StreamProxy(kinesis_mock.endpoint, script=note_start, rewrite=end_after_two_events) as proxy:
        reader = Reader(kinesis_mock, stream, proxy.endpoint)
        records = reader.read_to(5)
        for n in range(5, 15):
            put(kinesis_mock, stream, [n])
            time.sleep(0.3)
        records += reader.read_to(10)
        reader.close()
    assert [r.data for r in records] == list(range(15))  # none twice, none skipped, in order
    starts = [body["StartingPosition"] for body in proxy.subscriptions]
    assert len(starts) >= 3 and starts[0] == {"Type": "TRIM_HORIZON"}
    assert all(start["Type"] == "AFTER_SEQUENCE_NUMBER" for start in starts[1:])
    assert reader.reports == []  # a ResourceInUseException right after an end is waited out, not reported
    assert all(later - earlier >= 0.95 for earlier, later in zip(started, started[1:]))  # AWS: one call a second


def test_errors_are_reported_and_tried_again_with_backoff(kinesis_mock):
    stream = new_stream(kinesis_mock, 1)
    put(kinesis_mock, stream, range(3))
    failing = [2]

    def script(body):
        if failing[0]:
            failing[0] -= 1
            return [exception("InternalFailureException", "try again")]
        return None

    with StreamProxy(kinesis_mock.endpoint, script=script) as proxy:
        reader = Reader(kinesis_mock, stream, proxy.endpoint)
        started = time.monotonic()
        records = reader.read_to(3)
        took = time.monotonic() - started
        reader.close()
    assert [r.data for r in records] == [0, 1, 2]
    assert [e.awsErrorType for e in reader.reports] == ["InternalFailureException"] * 2
    assert took >= 0.5 + 1.0  # backed off 0.5 s, then 1 s
    assert len(proxy.subscriptions) == 3


def test_a_fatal_error_or_too_many_failures_ends_it(kinesis_mock):
    stream = new_stream(kinesis_mock, 1)
    script = lambda body: [exception("InternalFailureException", "down")]  # noqa: E731
    with StreamProxy(kinesis_mock.endpoint, script=script) as proxy:
        reader = Reader(kinesis_mock, stream, proxy.endpoint, maxFailures=2)
        error, batch = reader.next()
        assert batch is None and error.awsErrorType == "InternalFailureException"
        assert len(proxy.subscriptions) == 2 and len(reader.reports) == 1
        error, batch = reader.next()
        assert batch is None and error.type == AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR and "after its end" in error.details
    script = lambda body: [exception("ResourceNotFoundException", "no such consumer")]  # noqa: E731
    with StreamProxy(kinesis_mock.endpoint, script=script) as proxy:
        reader = Reader(kinesis_mock, stream, proxy.endpoint)
        error, batch = reader.next()
        assert batch is None and error.awsErrorType == "ResourceNotFoundException" and reader.reports == []


def test_close_cuts_the_subscription_and_delivers_nothing_more(kinesis_mock):
    stream = new_stream(kinesis_mock, 1)
    put(kinesis_mock, stream, range(3))
    reader = Reader(kinesis_mock, stream)
    assert [r.data for r in reader.read_to(3)] == [0, 1, 2]
    delivered = []
    LOOP.deliver((), lambda: reader.source.next(lambda *args: delivered.append(args))).result(10)
    reader.close()
    put(kinesis_mock, stream, [3])
    # the subscription is gone: another may start (once AWS's 5 s have passed), and gets record 3
    arn = consumer(kinesis_mock, stream).describeStreamConsumer("app", None).result(30)[1]["consumerARN"]
    got = []
    options = {"consumerARN": arn, "shardId": SHARD, "type": ITERATOR.TRIM_HORIZON}
    assert wait_for(
        lambda: consumer(kinesis_mock, stream).subscribeToShard(options, lambda r, *_: got.extend(r) or False, None)
        .result(30)[0] is None, 20, 0.5
    )
    assert [r.data for r in got][:4] == [0, 1, 2, 3]
    assert delivered == []


def test_a_shard_known_closed_ends_at_its_first_caught_up_empty_event(kinesis_mock):
    stream = new_stream(kinesis_mock, 1)
    put(kinesis_mock, stream, range(4))
    reader = Reader(kinesis_mock, stream)
    reader.source.shard_closed(["shardId-000000000001", "shardId-000000000002"])
    batches = []
    while not (batches and batches[-1].ended):
        error, batch = reader.next()
        assert error is None
        batches.append(batch)
    assert [r.data for b in batches for r in b.records] == [0, 1, 2, 3]
    assert batches[-1].records == [] and batches[-1].childShardIds == ["shardId-000000000001", "shardId-000000000002"]
