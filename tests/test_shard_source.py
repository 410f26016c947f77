"""PollingSource, the GetRecords source of one shard's batches that the Worker's shard readers and `pull` use."""

import queue
import time

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR
from awskinesisstreams.enums import AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as ITERATOR
from awskinesisstreams.wire.kinesis import JSON_VERSION, TARGET_PREFIX, Kinesis, stream_admin
from awskinesisstreams.loop import LOOP
from awskinesisstreams.record import Record
from awskinesisstreams.transport.signed_request import AwsJsonClient, Timeout
from awskinesisstreams.transport.sigv4 import Keys
from awskinesisstreams.transport.retry import Retry
from awskinesisstreams.reading.source import PollingSource
from conftest import new_stream, producer, wait_for
from proxy import Proxy, aws_error

SHARD = "shardId-000000000000"


def kinesis_at(server, stream, endpoint=None):
    """The mapping layer on `endpoint` (a proxy, say), without client-level retries: the source's own are tested."""
    credentials = Keys(server.accessKeyId, server.secretAccessKey)
    client = AwsJsonClient(
        endpoint or server.endpoint, server.region, "kinesis", TARGET_PREFIX, JSON_VERSION, credentials, Timeout(), Retry(0)
    )
    return Kinesis(client, stream)


class Puller:
    """Drives a source from the test thread: `next()` asks on the loop and waits for the delivery."""

    def __init__(self, kinesis, shard=SHARD, type=ITERATOR.TRIM_HORIZON, options=None, **settings):
        self.reports = []
        self.source = PollingSource(kinesis, shard, type, options, self.reports.append, **settings)

    def next(self, timeout=20.0):
        outcome = queue.Queue()
        LOOP.deliver((), lambda: self.source.next(lambda *args: outcome.put(args)))
        return outcome.get(timeout=timeout)

    def read_to(self, count, timeout=20.0):
        """Batches until `count` records came (or the shard ended); returns the records and the batches."""
        records, batches = [], []
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            error, batch = self.next()
            assert error is None, error
            batches.append(batch)
            records += batch.records
            if batch.ended:
                break
        return records, batches


def put(server, stream, values):
    """Write each value as a record, one after the other (so in order on the one shard)."""
    with producer(server, stream) as p:
        for value in values:
            error = p.putRecord(Record(value, "k")).result(10)[0]
            assert error is None, error


def test_closed_shard_ends_after_its_last_record(resharding_server):
    stream = new_stream(resharding_server, 1)
    put(resharding_server, stream, ["before1", "before2"])
    kinesis = kinesis_at(resharding_server, stream)
    stream_admin(kinesis.client, "SplitShard", {"StreamName": stream, "ShardToSplit": SHARD, "NewStartingHashKey": str(2**127)})
    assert wait_for(lambda: "EndingSequenceNumber" in kinesis.list_shards()()[0]["SequenceNumberRange"])
    puller = Puller(kinesis, limit=1)
    records, batches = puller.read_to(10)
    assert [r.data for r in records] == ["before1", "before2"]
    assert batches[-1].ended and all(not b.ended for b in batches[:-1])
    assert batches[-1].childShardIds is None  # polling leaves the children to ListShards (kinesalite's GetRecords names none)
    error, batch = puller.next()
    assert batch is None and error.type is AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR and "after its end" in error.details
    assert puller.reports == []


def test_expired_iterator_is_renewed_after_the_last_record_delivered(moto_server):
    stream = new_stream(moto_server, 1)
    put(moto_server, stream, ["r%d" % i for i in range(25)])
    gets = []

    def rule(call):
        if call.action == "GetRecords":
            gets.append(call)
            if len(gets) == 2:
                return aws_error(400, "ExpiredIteratorException", "Iterator expired")
        return None

    with Proxy(moto_server.endpoint, rule) as proxy:
        puller = Puller(kinesis_at(moto_server, stream, proxy.endpoint), limit=10)
        records, _ = puller.read_to(25)
        iterators = [call.body for call in proxy.calls if call.action == "GetShardIterator"]
    assert [r.data for r in records] == ["r%d" % i for i in range(25)]
    assert [i["ShardIteratorType"] for i in iterators] == ["TRIM_HORIZON", "AFTER_SEQUENCE_NUMBER"]
    assert iterators[1]["StartingSequenceNumber"] == records[9].sequenceNumber
    assert [e.awsErrorType for e in puller.reports] == ["ExpiredIteratorException"]


def test_pacing_0_2_s_while_behind_and_the_pace_once_caught_up(moto_server):
    stream = new_stream(moto_server, 1)
    put(moto_server, stream, ["a", "b", "c"])
    times = []

    def rule(call):
        if call.action == "GetRecords":
            times.append(time.monotonic())
        return None

    with Proxy(moto_server.endpoint, rule) as proxy:
        puller = Puller(kinesis_at(moto_server, stream, proxy.endpoint), limit=1, pace=1.0)
        records, _ = puller.read_to(3)
        for _ in range(3):  # caught up: empty batches, one a pace apart
            error, batch = puller.next()
            assert error is None and batch.records == [] and not batch.ended
    assert [r.data for r in records] == ["a", "b", "c"]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert len(gaps) == 5
    assert all(0.17 <= gap < 0.9 for gap in gaps[:3]), gaps  # behind: at most 5 a second, not the pace
    assert all(gap >= 0.95 for gap in gaps[3:]), gaps  # after an empty batch at the tip: the pace


def test_failures_back_off_then_end_the_source_after_max_failures(moto_server):
    stream = new_stream(moto_server, 1)
    times = []

    def rule(call):
        if call.action == "GetRecords":
            times.append(time.monotonic())
            return aws_error(400, "ProvisionedThroughputExceededException", "Rate exceeded for shard")
        return None

    with Proxy(moto_server.endpoint, rule) as proxy:
        puller = Puller(kinesis_at(moto_server, stream, proxy.endpoint), maxFailures=4)
        error, batch = puller.next()
    assert batch is None and error.awsErrorType == "ProvisionedThroughputExceededException"
    assert [e.awsErrorType for e in puller.reports] == ["ProvisionedThroughputExceededException"] * 3
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert len(gaps) == 3 and all(gap >= 0.9 * 0.2 * 2**n for n, gap in enumerate(gaps, 1)), gaps  # 0.4, 0.8, 1.6 s
    error, batch = puller.next()
    assert batch is None and error.type is AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR


def test_a_missing_shard_or_wrong_start_ends_the_source_at_once(moto_server):
    stream = new_stream(moto_server, 1)
    kinesis = kinesis_at(moto_server, stream)
    missing = Puller(kinesis, shard="shardId-000000000009")
    error, batch = missing.next()
    assert batch is None and error.awsErrorType == "ResourceNotFoundException" and missing.reports == []
    no_time = Puller(kinesis, type=ITERATOR.AT_TIMESTAMP)
    error, batch = no_time.next()
    assert batch is None and error.type is AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR and "timestamp" in error.details


def test_records_that_are_not_json_come_as_bytes_with_a_report(moto_server):
    stream = new_stream(moto_server, 1)
    put(moto_server, stream, [b"not json {", {"fine": 1}])
    puller = Puller(kinesis_at(moto_server, stream))
    records, _ = puller.read_to(2)
    assert [r.data for r in records] == [b"not json {", b'{"fine":1}']
    assert [e.type for e in puller.reports] == [AWS_KINESIS_STREAMS_ERROR.UNEXPECTED_RESPONSE]
    put(moto_server, stream, ["after"])
    records, _ = puller.read_to(1)
    assert [r.data for r in records] == ["after"]  # read on after the bytes batch, decoded again


def test_close_stops_at_once_and_never_delivers(moto_server):
    stream = new_stream(moto_server, 1)
    delivered = []
    with Proxy(moto_server.endpoint) as proxy:
        puller = Puller(kinesis_at(moto_server, stream, proxy.endpoint), pace=1.0)
        assert puller.next()[1].records == []
        LOOP.deliver((), lambda: puller.source.next(lambda *args: delivered.append(args))).result(5)
        LOOP.deliver((), puller.source.close).result(5)
        time.sleep(1.5)  # past the pace: a poll would have been sent and delivered by now
        gets = proxy.actions().count("GetRecords")
    assert delivered == [] and gets == 1
