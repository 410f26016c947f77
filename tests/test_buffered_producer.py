"""BufferedProducer on real servers: the contract's surface, aggregation read back by aws-kinesis-agg,
retries within recordTtl, the rate limit, the memory bound, and nothing lost or reordered
under faults (kinesalite, where records are counted) and while the stream is resharded (kinesalite and
kinesis-mock)."""

import base64
import hashlib
import json
import threading
import time
from collections import defaultdict

from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from aws_kinesis_agg import messages_pb2  # after the line above, which puts its folder on sys.path
from conftest import boto_kinesis, consumer, new_stream, wait_for
from proxy import Faults, Proxy

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE, AWSKinesisStreams, imp
from awskinesisstreams.wire.kpl_aggregation import MAGIC, deaggregate

Record = AWSKinesisStreams.Record
LIBRARY_ERROR = AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR
REQUEST_FAILED = AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED

FAULTS = Faults(
    drop=0.02, delay=0.02, truncate=0.02, garble=0.01, server_error=0.04, throttle=0.05, fail_records=0.05,
    delay_seconds=0.8, seed=20261123, actions=frozenset({"PutRecords"}),
)


def buffered(server, stream, endpoint=None, **kwargs):
    return AWSKinesisStreams.BufferedProducer(
        server.region, server.accessKeyId, server.secretAccessKey, stream, endpoint=endpoint or server.endpoint, **kwargs
    )


def shards_in_order(kinesis, stream):
    """Every shard, open and closed, parents before children."""
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    placed, order = set(), []
    while len(order) < len(shards):
        for shard in shards:
            parents = {shard.get("ParentShardId"), shard.get("AdjacentParentShardId")} & {s["ShardId"] for s in shards}
            if shard["ShardId"] not in placed and parents <= placed:
                placed.add(shard["ShardId"])
                order.append(shard["ShardId"])
    return order


def read_back(server, stream):
    """Every Kinesis record of the stream in stream order (parents first): [(shardId, boto3 record)]."""
    kinesis = boto_kinesis(server)
    found = []
    for shard_id in shards_in_order(kinesis, stream):
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            answer = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            found.extend((shard_id, record) for record in answer["Records"])
            if not answer["Records"]:
                break
            iterator = answer.get("NextShardIterator")
    return found


def user_records(found):
    """The user records in stream order: {(shardId, sequenceNumber, subSequenceNumber): (partitionKey, data)} and a list."""
    at, ordered = {}, []
    for shard_id, record in found:
        unpacked = deaggregate(record["Data"])
        if unpacked is None:
            unpacked = [(record["PartitionKey"], None, record["Data"])]
        for sub, (key, _, data) in enumerate(unpacked):
            at[shard_id, record["SequenceNumber"], sub] = (key, data)
            ordered.append((key, data))
    return at, ordered


def check_delivery(outcomes, total, found):
    """Each user record answered once; each success where its result says; per-key order in the stream.

    `outcomes[i]` lists (error, result) of user record i (key "k<i % 97>", data {"i": i, ...}).
    Returns (successes, failures).
    """
    lost = [i for i in range(total) if not outcomes.get(i)]
    twice = [i for i, got in outcomes.items() if len(got) != 1]
    assert lost == [] and twice == []
    at, ordered = user_records(found)
    successes = {i: got[0][1] for i, got in outcomes.items() if got[0][0] is None}
    missing = [
        i for i, result in successes.items()
        if at.get((result.shardId, result.sequenceNumber, result.subSequenceNumber), (None, b"{}"))[0] != "k%d" % (i % 97)
        or json.loads(at[result.shardId, result.sequenceNumber, result.subSequenceNumber][1])["i"] != i
    ]
    assert missing == []
    first_seen = defaultdict(list)
    seen = set()
    for key, data in ordered:
        i = json.loads(data)["i"]
        assert key == "k%d" % (i % 97)
        if i not in seen:
            seen.add(i)
            first_seen[key].append(i)
    assert all(ids == sorted(ids) for ids in first_seen.values()), "a partition key's records out of order"
    return len(successes), total - len(successes)


# -- the surface, on moto ---------------------------------------------------------


def test_put_flush_and_close_answer_every_record_with_its_place_in_an_aggregate(moto_then_mock):
    stream = new_stream(moto_then_mock, 2)
    got = []
    with buffered(moto_then_mock, stream, maxBufferedTime=5.0) as producer:
        assert isinstance(producer, AWSKinesisStreams.BufferedProducer)
        futures = [producer.putRecord(Record({"n": n}, "key-%d" % (n % 5)), lambda e, r, n=n: got.append((n, e, r)))
                   for n in range(300)]
        batch = producer.putRecords([Record(b"a", "x"), Record(b"b", "y", explicitHashKey=str(2**127 + 5))])
        assert producer.outstandingRecords == 302  # maxBufferedTime 5 s: nothing has gone yet
        assert producer.flush().result(15) == (None,)
        assert producer.outstandingRecords == 0 and len(got) == 300
    error, failed, results = batch.result(1)
    x_shard = "shardId-00000000000%d" % (hashlib.md5(b"x").digest()[0] >> 7)  # 2 shards: the top bit of the hash key
    assert error is None and failed == 0 and [r.shardId for r in results] == [x_shard, "shardId-000000000001"]
    assert all(e is None for _, e, _ in got)
    assert [f.result(0) for f in futures] == [(e, r) for _, e, r in sorted(got, key=lambda g: g[0])]  # the callback's arguments
    by_record = defaultdict(list)
    for _, _, result in got:
        by_record[result.shardId, result.sequenceNumber].append(result.subSequenceNumber)
    assert all(subs == list(range(len(subs))) for subs in by_record.values())
    assert len(by_record) <= 2  # 300 small records: one aggregate per shard
    assert producer.putRecord(Record(b"late", "k")).result(5)[0].type is LIBRARY_ERROR  # closed
    # this library's deaggregating Consumer names each user record as its callback did
    reader = consumer(moto_then_mock, stream, isBlob=True, deaggregate=True)  # blobs: b"a" and b"b" are not JSON
    read = {}
    for shard in ("shardId-000000000000", "shardId-000000000001"):
        iterator = reader.getShardIterator(shard, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE.TRIM_HORIZON, {}, None).result(10)[1]
        for record in reader.getRecords({"shardIterator": iterator}, None).result(10)[1]:
            read[shard, record.sequenceNumber, record.subSequenceNumber] = record.data
    assert all(json.loads(read[r.shardId, r.sequenceNumber, r.subSequenceNumber]) == {"n": n} for n, _, r in got)


def test_what_it_writes_is_read_back_by_aws_kinesis_agg_exactly(moto_then_mock):
    stream = new_stream(moto_then_mock, 1)
    sent = [
        (("key-%d" % (n % 7)) if n % 3 else "ключ-%d" % n, str(n * 2**100) if n % 4 == 0 else None, b"%d" % n * (n % 50 + 1))
        for n in range(500)
    ]
    with buffered(moto_then_mock, stream) as producer:
        for key, hash_key, data in sent:
            producer.putRecord(Record(data, key, explicitHashKey=hash_key))
    found = read_back(moto_then_mock, stream)
    assert found and all(record["Data"].startswith(MAGIC) for _, record in found)
    unpacked = list(iter_deaggregate_records([record for _, record in found], data_format="Boto3"))
    assert [(r["kinesis"]["partitionKey"], base64.b64decode(r["kinesis"]["data"])) for r in unpacked] == [(k, d) for k, _, d in sent]
    # aws-kinesis-agg reads a record without an explicit hash key index as index 0 (it never asks HasField),
    # so the records given one are compared through it, and the others checked on the protobuf itself
    assert [r["kinesis"]["explicitHashKey"] for r, (_, h, _) in zip(unpacked, sent) if h] == [h for _, h, _ in sent if h]
    message = messages_pb2.AggregatedRecord()
    given = iter(sent)
    for _, record in found:
        message.ParseFromString(record["Data"][len(MAGIC):-16])
        for user in message.records:
            hash_key = next(given)[1]
            assert user.HasField("explicit_hash_key_index") == (hash_key is not None)


def test_not_aggregated_records_are_collected_into_putrecords_calls(moto_server):
    stream = new_stream(moto_server, 1)
    with Proxy(moto_server.endpoint) as proxy:
        with buffered(moto_server, stream, proxy.endpoint, aggregate=False) as producer:
            futures = [producer.putRecord(Record({"n": n}, "k%d" % n)) for n in range(1200)]
        puts = [call for call in proxy.calls if call.action == "PutRecords"]
    results = [f.result(0)[1] for f in futures]
    assert all(r.errorCode is None and r.subSequenceNumber == 0 for r in results)
    assert len(puts) < 20 and max(len(call.body["Records"]) for call in puts) == 500
    assert sorted(json.loads(r["Data"])["n"] for _, r in read_back(moto_server, stream)) == list(range(1200))


def test_wrong_arguments_get_a_library_error_through_the_callback(moto_server):
    stream = new_stream(moto_server, 1)
    producer = buffered(moto_server, stream)
    assert producer.putRecord("not a record").result(5)[0].type is LIBRARY_ERROR
    assert producer.putRecord(Record(b"x" * (1024 * 1024), "k")).result(5)[0].type is LIBRARY_ERROR  # over 1 MiB with its key
    assert producer.putRecord(Record(b"x", "")).result(5)[0].type is LIBRARY_ERROR
    assert producer.putRecord(Record(b"x", "k", explicitHashKey="-1")).result(5)[0].type is LIBRARY_ERROR
    assert producer.putRecord(Record(float("nan"), "k")).result(5)[0].type is LIBRARY_ERROR
    error, failed, results = producer.putRecords([Record(b"ok", "k"), "no"]).result(5)
    assert error.type is LIBRARY_ERROR and failed == 2 and results == []
    assert producer.putRecords("no").result(5)[1:] == (0, [])
    assert producer.outstandingRecords == 0  # nothing of a refused call was buffered
    assert producer.putRecord(Record(b"x", "k"), callback="no").result(5)[0].type is LIBRARY_ERROR
    assert producer.close(10)
    for wrong in ({"aggregate": "yes"}, {"maxBufferedTime": -1}, {"recordTtl": 0}, {"maxBufferedBytes": 1.5},
                  {"rateLimit": 0}, {"maxAggregateBytes": 2**21}):
        bad = buffered(moto_server, stream, **wrong)
        error = bad.putRecord(Record(b"x", "k")).result(5)[0]
        assert error.type is LIBRARY_ERROR and next(iter(wrong)) in error.details
        assert bad.flush().result(5)[0].type is LIBRARY_ERROR
    none = AWSKinesisStreams.BufferedProducer(None, "a", "b", "s")
    assert none.putRecords([Record(b"x", "k")]).result(5)[0].type is LIBRARY_ERROR


def test_flush_waits_for_what_came_before_it_only_and_callbacks_may_put_and_close(moto_server):
    stream = new_stream(moto_server, 1)
    producer = buffered(moto_server, stream, maxBufferedTime=30.0)
    assert producer.putRecord(Record(b"first", "k")) and producer.flush().result(10) == (None,)  # the shard map is known
    before = producer.putRecord(Record(b"before", "k"))
    flushed = producer.flush()
    after = producer.putRecord(Record(b"after", "k"))
    assert flushed.result(10) == (None,) and before.done() and before.result(0)[0] is None
    assert not after.done() and producer.outstandingRecords == 1  # given after the flush: still waiting its 30 s
    inside = []

    def from_a_callback(error, result):  # on the library's thread: put more, then close without waiting
        inside.append(producer.putRecord(Record(b"from a callback", "k")))
        inside.append(producer.close())

    producer.putRecord(Record(b"third", "k"), from_a_callback)
    assert producer.flush().result(10) == (None,)
    assert wait_for(lambda: len(inside) == 2) and inside[1] is False  # it cannot wait for its own thread
    assert inside[0].result(10)[0] is None and after.result(10)[0] is None
    assert producer.close(10) and producer.outstandingRecords == 0
    _, ordered = user_records(read_back(moto_server, stream))
    assert [data for _, data in ordered] == [b"first", b"before", b"after", b"third", b"from a callback"]


# -- retries, time to live, order, rate -------------------------------------------


def test_failed_records_are_retried_alone_until_record_ttl_then_fail_with_the_last_error(moto_server):
    stream = new_stream(moto_server, 1)
    refused = {"b"}

    def on_answer(call, status, payload):  # records of key "b" are throttled inside the 200, every time
        if call.action != "PutRecords":
            return payload
        answer = json.loads(payload)
        for sent, entry in zip(call.body["Records"], answer["Records"]):
            if sent["PartitionKey"] in refused:
                entry.clear()
                entry.update(ErrorCode="ProvisionedThroughputExceededException", ErrorMessage="Rate exceeded for shard")
        return json.dumps(answer).encode()

    with Proxy(moto_server.endpoint, on_answer=on_answer) as proxy:
        started = time.monotonic()
        with buffered(moto_server, stream, proxy.endpoint, aggregate=False, recordTtl=1.5) as producer:
            good = producer.putRecord(Record(b"1", "a"))
            bad = producer.putRecord(Record(b"2", "b"))
            batch = producer.putRecords([Record(b"3", "a"), Record(b"4", "b")])
            error, result = bad.result(10)
        elapsed = time.monotonic() - started
        puts = [call.body["Records"] for call in proxy.calls if call.action == "PutRecords"]
    assert good.result(0)[0] is None
    assert error.type is REQUEST_FAILED and "recordTtl" in error.details and "Rate exceeded" in error.details
    assert error.awsErrorType == "ProvisionedThroughputExceededException" and result is None
    assert 1.5 <= elapsed < 8
    _, failed, results = batch.result(0)
    assert failed == 1 and results[0].errorCode is None
    assert results[1].errorCode == "ProvisionedThroughputExceededException" and "recordTtl" in results[1].errorMessage
    assert len(puts) >= 4 and all(all(r["PartitionKey"] == "b" for r in records) for records in puts[2:])
    assert all(len({r["PartitionKey"] for r in records}) == len(records) for records in puts)  # one record per key a request


def test_a_hung_request_does_not_hold_its_records_past_their_time_to_live(moto_server):
    stream = new_stream(moto_server, 1)
    release = threading.Event()
    with Proxy(moto_server.endpoint, rule=lambda call: (release.wait(10), None)[1] if call.action == "PutRecords" else None) as proxy:
        producer = buffered(moto_server, stream, proxy.endpoint, recordTtl=1.0)
        started = time.monotonic()
        error = producer.putRecord(Record(b"x", "k")).result(10)[0]
        elapsed = time.monotonic() - started
        release.set()
        assert producer.close(10)
    assert error.type is REQUEST_FAILED and "recordTtl" in error.details and "read timed out" in error.details
    assert 1.0 <= elapsed < 6


def test_a_refused_stream_fails_every_record_at_once(moto_server):
    producer = buffered(moto_server, "no-such-stream-" + str(time.time_ns()))
    started = time.monotonic()
    error = producer.putRecord(Record(b"x", "k")).result(10)[0]
    assert error.type is REQUEST_FAILED and error.awsErrorType == "ResourceNotFoundException"
    assert time.monotonic() - started < 5 and producer.close(5)


def test_rate_limit_holds_each_shard_to_its_share(moto_server):
    stream = new_stream(moto_server, 1)
    with Proxy(moto_server.endpoint) as proxy:
        stamps = []
        proxy.rule = lambda call: stamps.append((time.monotonic(), len(call.body.get("Records", [])))) if call.action == "PutRecords" else None
        started = time.monotonic()
        with buffered(moto_server, stream, proxy.endpoint, aggregate=False, rateLimit=0.02) as producer:  # 20 records/s
            futures = [producer.putRecord(Record(b"r", "k%d" % n)) for n in range(60)]
        elapsed = time.monotonic() - started
    assert all(f.result(0)[0] is None for f in futures)
    assert 1.8 <= elapsed < 10  # 20 at once (a full bucket), then 40 more at 20 a second
    assert all(count <= 21 for _, count in stamps)
    late = sum(count for when, count in stamps if when - started < 1.0)
    assert late <= 41  # the burst and at most one second's refill


# -- memory bound -----------------------------------------------------------------


def test_a_stalled_server_fills_the_buffer_then_putrecord_waits_and_the_loop_gets_buffer_full(moto_server):
    stream = new_stream(moto_server, 1)
    release = threading.Event()
    limit = 20000

    def hold(call):
        if call.action == "PutRecords":
            release.wait(30)
        return None

    with Proxy(moto_server.endpoint, rule=hold) as proxy:
        producer = buffered(moto_server, stream, proxy.endpoint, maxBufferedBytes=limit, maxBufferedTime=0.01)
        accumulator = producer._accumulator
        answered = []
        writer = threading.Thread(
            target=lambda: [producer.putRecord(Record(b"%04d" % n + b"x" * 996, "k%d" % (n % 3)), lambda e, r: answered.append(e))
                            for n in range(60)]
        )
        writer.start()
        assert wait_for(lambda: accumulator.buffered > limit - 1200)
        time.sleep(0.3)
        assert writer.is_alive() and producer.outstandingRecords < 20 and accumulator.buffered <= limit
        on_loop = []
        imp.wakeup(0, lambda: on_loop.append(producer.putRecord(Record(b"y" * 1000, "k"))))
        assert wait_for(lambda: on_loop and on_loop[0].done())
        error = on_loop[0].result(0)[0]
        assert error.type is LIBRARY_ERROR and "buffer full" in error.details
        imp.wakeup(0, lambda: on_loop.append(producer.putRecords([Record(b"z" * 1000, "k")] * 3)))
        assert wait_for(lambda: len(on_loop) == 2 and on_loop[1].done())
        error, failed, results = on_loop[1].result(0)
        assert error.type is LIBRARY_ERROR and "buffer full" in error.details and failed == 3 and results == []
        release.set()
        writer.join(30)
        assert producer.close(30)
    assert len(answered) == 60 and answered == [None] * 60
    _, ordered = user_records(read_back(moto_server, stream))
    assert len(ordered) == 60


# -- counted on kinesalite (and, resharded, on kinesis-mock) ---------------------


def produce(producer, total, outcomes, pace=0.0, every=500):
    """putRecord `total` records (key k<i % 97>, about 100 bytes), pausing `pace` seconds every `every`."""
    for i in range(total):
        record = Record({"i": i, "pad": "p" * 80}, "k%d" % (i % 97))
        producer.putRecord(record, lambda e, r, i=i: outcomes[i].append((e, r)))
        if pace and i % every == every - 1:
            time.sleep(pace)


def test_twenty_thousand_records_through_faults_none_lost_none_twice_in_key_order(kinesalite):
    stream = new_stream(kinesalite, 4)
    outcomes = defaultdict(list)
    total = 20000
    started = time.monotonic()
    with Proxy(kinesalite.endpoint, faults=FAULTS) as proxy:
        producer = buffered(kinesalite, stream, proxy.endpoint)
        produce(producer, total, outcomes, pace=0.01, every=50)  # spread over seconds: many requests, many faults
        assert producer.close(60)
        injected = dict(proxy.injected)
        puts = sum(1 for action in proxy.actions() if action == "PutRecords")
    found = read_back(kinesalite, stream)
    successes, failures = check_delivery(outcomes, total, found)
    print("\n%d user records through faults in %.1f s: %d PutRecords, %d Kinesis records read, %d written, %d failed; injected %s"
          % (total, time.monotonic() - started, puts, len(found), successes, failures, injected))
    assert puts >= 150 and sum(injected.values()) >= 15
    assert injected.get("fail_records", 0) > 0 and injected.get("throttle", 0) + injected.get("server_error", 0) > 0
    assert injected.get("drop", 0) + injected.get("delay", 0) + injected.get("truncate", 0) > 0  # answers lost
    assert successes >= 0.999 * total


def test_a_split_and_a_merge_while_producing_lose_nothing_and_keep_key_order(resharding_server):
    stream = new_stream(resharding_server, 2)
    kinesis = boto_kinesis(resharding_server)
    outcomes = defaultdict(list)
    total = 6000
    with Proxy(resharding_server.endpoint) as proxy:
        producer = buffered(resharding_server, stream, proxy.endpoint)
        writer = threading.Thread(target=produce, args=(producer, total, outcomes, 0.1))
        writer.start()
        assert wait_for(lambda: len(outcomes) > 1000)
        kinesis.split_shard(StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**126))
        assert wait_for(lambda: kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE")
        assert wait_for(lambda: len(outcomes) > 3000)
        children = [s["ShardId"] for s in kinesis.list_shards(StreamName=stream)["Shards"] if s.get("ParentShardId") == "shardId-000000000000"]
        kinesis.merge_shards(StreamName=stream, ShardToMerge=children[0], AdjacentShardToMerge=children[1])
        writer.join(60)
        assert producer.close(60)
        listings = proxy.actions().count("ListShards")
    found = read_back(resharding_server, stream)
    assert len({shard for shard, _ in found}) >= 4  # written to parents, children and the merged shard
    successes, failures = check_delivery(outcomes, total, found)
    assert failures == 0 and successes == total
    assert listings >= 3  # the map was built, then rebuilt after each reshard
