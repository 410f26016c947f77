"""The Worker with fanOut (SubscribeToShard) on kinesis-mock: leases, checkpoints, closed shards and lag as with polling."""

import threading
import time

import pytest
from atomic_dynamodb import dynamodb_store
from conftest import boto_kinesis, consumer, new_stream, producer, wait_for
from eventstream_bytes import exception, shard_event
from stream_proxy import END, StreamProxy

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR, AWSKinesisStreams, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as ITERATOR
from awskinesisstreams.leases.store import SHARD_END, SQLiteLeaseStore
from awskinesisstreams.worker.worker import LeaseLost

FAST = dict(leaseDuration=2.0, heartbeatPeriod=0.25, shardSyncPeriod=1.0)


class App:
    """Records what the Worker hands over, by shard, and checkpoints every batch."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records = []  # (shardId, data, sequenceNumber)
        self.errors = []

    def processRecords(self, records, cb):
        with self.lock:
            self.records.extend((cb.shardId, r.data, r.sequenceNumber) for r in records)
        cb(None, True)

    def onError(self, shard_id, error):
        self.errors.append((shard_id, error))

    def data(self):
        with self.lock:
            return [data for _, data, _ in self.records]


@pytest.fixture
def store(request, tmp_path):
    """SQLite leases, or DynamoDB ones in dynalite where a test asks for them (parametrize indirect)."""
    kind = getattr(request, "param", "sqlite")
    made = SQLiteLeaseStore(str(tmp_path / "leases.sqlite3")) if kind == "sqlite" else dynamodb_store(request.getfixturevalue(kind))
    made.prepare()
    return made


@pytest.fixture
def workers():
    """Makes Workers; each is stopped at the end of the test."""
    made = []

    def make(server, stream, store, app, endpoint=None, **options):
        worker = AWSKinesisStreams.Worker(
            server.region, server.accessKeyId, server.secretAccessKey, stream, dict(FAST, **options),
            endpoint=endpoint or server.endpoint, processRecords=app.processRecords, onError=app.onError, leaseStore=store,
        )
        made.append(worker)
        started = []
        worker.start(lambda error: started.append(error))
        assert wait_for(lambda: started, 60) and started == [None]
        return worker

    yield make
    stop_all(made)


def stop_all(made):
    stopped = [threading.Event() for _ in made]
    for worker, event in zip(made, stopped):
        worker.stop(lambda error, event=event: event.set())
    assert all(event.wait(30) for event in stopped)


def put(server, stream, values, keys=7):
    writer = producer(server, stream)
    for n in values:
        error, _ = writer.putRecord(AWSKinesisStreams.Record({"n": n}, "key-%d" % (n % keys)), None).result(30)
        assert error is None, error


def consumers_of(server, stream):
    return [d["consumerName"] for d in consumer(server, stream).listStreamConsumers(None).result(30)[1]]


@pytest.mark.parametrize("store", ["sqlite", "dynalite"], indirect=True)
def test_fan_out_on_three_shards_then_polling_honours_its_checkpoints(kinesis_mock, store, workers):
    stream = new_stream(kinesis_mock, 3)
    put(kinesis_mock, stream, range(60))
    app = App()
    worker = workers(kinesis_mock, stream, store, app, fanOut="app-fan")
    assert consumers_of(kinesis_mock, stream) == ["app-fan"]  # registered on start
    assert wait_for(lambda: len(app.records) >= 60, 60), len(app.records)
    put(kinesis_mock, stream, range(60, 90))  # pushed while subscribed
    assert wait_for(lambda: len(app.records) >= 90, 60), len(app.records)
    assert sorted(n["n"] for n in app.data()) == list(range(90))  # each once
    assert {shard for shard, _, _ in app.records} == {"shardId-00000000000%d" % i for i in range(3)}
    for key in range(7):  # per partition key, in the order written
        numbers = [data["n"] for data in app.data() if data["n"] % 7 == key]
        assert numbers == sorted(numbers)
    stats = worker.getStats()
    assert sorted(stats) == ["shardId-00000000000%d" % i for i in range(3)]
    assert all(isinstance(s["millisBehindLatest"], int) and s["millisBehindLatest"] >= 0 for s in stats.values())
    last = {}
    for shard, _, sequence in app.records:
        last[shard] = sequence
    assert wait_for(lambda: {lease.shardId: lease.checkpoint for lease in store.list(stream, stream)} == last, 10)
    stop_all([worker])
    assert app.errors == []

    put(kinesis_mock, stream, range(90, 120))
    polling = App()
    workers(kinesis_mock, stream, store, polling, pace="fast")
    assert wait_for(lambda: len(polling.records) >= 30, 60)
    time.sleep(1.5)  # a record read twice would show by now (pace fast: a poll a second)
    assert sorted(n["n"] for n in polling.data()) == list(range(90, 120))


def subscribe_when_free(server, stream, shard_id, seconds=15):
    """The records of `shard_id` as another reader of consumer "app" gets them, once no subscription holds it."""
    reader = consumer(server, stream)
    arn = reader.describeStreamConsumer("app", None).result(30)[1]["consumerARN"]
    options = {"consumerARN": arn, "shardId": shard_id, "type": ITERATOR.TRIM_HORIZON}
    got = []
    deadline = time.monotonic() + seconds  # AWS (and kinesis-mock) refuse a subscription within 5 s of the last
    while time.monotonic() < deadline:
        error, _, _ = reader.subscribeToShard(options, lambda records, *_: got.extend(records) or not got, None).result(30)
        if error is None:
            break
        assert error.awsErrorType == "ResourceInUseException"
        time.sleep(0.5)
    return [r.data for r in got]


def test_a_lost_lease_ends_its_subscription_at_once(kinesis_mock, store, workers):
    stream = new_stream(kinesis_mock, 1)
    app = App()
    # a long lease: the thief's lease must not expire (and come back to this worker) during the test
    worker = workers(kinesis_mock, stream, store, app, fanOut="app", stuckAfter=600, leaseDuration=120.0)
    assert wait_for(lambda: [s["millisBehindLatest"] for s in worker.getStats().values()] == [0], 30)  # subscribed
    (lease,) = store.list(stream, stream)
    assert store.take(lease, "thief") is not None
    assert wait_for(lambda: any(isinstance(e, LeaseLost) for _, e in app.errors), 15)
    put(kinesis_mock, stream, range(3))
    assert subscribe_when_free(kinesis_mock, stream, lease.shardId) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert app.records == []  # nothing delivered after the lease was lost


def test_a_lease_lost_while_process_records_holds_its_batch_ends_the_subscription_at_once(kinesis_mock, store, workers):
    stream = new_stream(kinesis_mock, 1)
    put(kinesis_mock, stream, range(3))
    held = []
    app = App()
    app.processRecords = lambda records, cb: held.append(cb)  # never calls back while the lease is taken
    worker = workers(kinesis_mock, stream, store, app, fanOut="app", stuckAfter=600, leaseDuration=120.0)
    assert wait_for(lambda: held, 30)
    (lease,) = store.list(stream, stream)
    assert store.take(lease, "thief") is not None
    assert wait_for(lambda: any(isinstance(e, LeaseLost) for _, e in app.errors), 15)
    assert subscribe_when_free(kinesis_mock, stream, lease.shardId) == [{"n": 0}, {"n": 1}, {"n": 2}]
    held[0](None, True)  # the late checkpoint is refused: the thief holds the lease
    assert wait_for(lambda: not worker.getStats(), 10)
    (after,) = store.list(stream, stream)
    assert (after.owner, after.checkpoint) == ("thief", lease.checkpoint)


def closing_proxy(server):
    """A proxy that ends a closed shard's subscription as AWS does: an event with ChildShards, then the end."""
    kinesis = boto_kinesis(server)
    ended = []

    def rewrite(body, message, raw):
        if message.headers.get(":event-type") != "SubscribeToShardEvent" or b'"Records":[]' not in message.payload:
            return None
        stream = body["ConsumerARN"].split("/")[1]
        shards = kinesis.list_shards(StreamName=stream)["Shards"]
        me = [s for s in shards if s["ShardId"] == body["ShardId"]][0]
        if not me["SequenceNumberRange"].get("EndingSequenceNumber"):
            return None
        children = [
            {"ShardId": s["ShardId"], "ParentShards": [body["ShardId"]], "HashKeyRange": s["HashKeyRange"]}
            for s in shards
            if s.get("ParentShardId") == body["ShardId"]
        ]
        ended.append(body["ShardId"])
        return [shard_event([], None, 0, children), END]

    return StreamProxy(server.endpoint, rewrite=rewrite), ended


@pytest.mark.parametrize("how", ["ChildShards event", "ListShards"])
def test_a_split_parent_is_read_to_its_end_before_its_children(kinesis_mock, store, workers, how):
    stream = new_stream(kinesis_mock, 1)
    put(kinesis_mock, stream, range(20))
    proxy, ended = closing_proxy(kinesis_mock)
    with proxy:
        app = App()
        if how == "ListShards":
            workers(kinesis_mock, stream, store, app, fanOut="app")
        else:  # no shard sync but the first: only the stream's own end can close the parent
            workers(kinesis_mock, stream, store, app, endpoint=proxy.endpoint, fanOut="app", shardSyncPeriod=600)
        assert wait_for(lambda: len(app.records) >= 20, 60)
        boto_kinesis(kinesis_mock).split_shard(
            StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127)
        )
        put(kinesis_mock, stream, range(20, 60))
        assert wait_for(lambda: len(app.records) >= 60, 60), len(app.records)
        time.sleep(1.5)
        assert sorted(d["n"] for d in app.data()) == list(range(60))
        for key in range(7):  # the parent's records of a key before its children's
            numbers = [data["n"] for data in app.data() if data["n"] % 7 == key]
            assert numbers == sorted(numbers)
        leases = {lease.shardId: lease for lease in store.list(stream, stream)}
        assert leases["shardId-000000000000"].checkpoint == SHARD_END
        assert sorted(leases) == ["shardId-00000000000%d" % i for i in range(3)]
        assert ended == (["shardId-000000000000"] if how == "ChildShards event" else [])
        assert [e for _, e in app.errors if e.awsErrorType != "ResourceInUseException"] == []


def test_fan_out_option_is_checked():
    worker = AWSKinesisStreams.Worker("us-east-1", "k", "s", "stream", processRecords=lambda r, cb: cb(), fanOut="bad name")
    errors = []
    worker.start(errors.append)
    assert wait_for(lambda: errors, 5)
    assert errors[0].type == AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR and "fanOut must be" in errors[0].details


def test_fan_out_delivers_user_records_of_aggregates(kinesis_mock, store, workers):
    from test_deaggregation import aggregated, write

    stream = new_stream(kinesis_mock, 1)
    users = [("pk-%d" % i, None, b'{"n":%d}' % i) for i in range(5)]
    write(kinesis_mock, stream, [aggregated(users), ("plain", None, b'{"n":5}')])
    app = App()
    workers(kinesis_mock, stream, store, app, fanOut="app")
    assert wait_for(lambda: len(app.records) >= 6, 60)
    assert app.data() == [{"n": n} for n in range(6)]


def test_a_deleted_stream_consumer_is_registered_again_and_its_shards_read_on(kinesis_mock, store, workers):
    stream = new_stream(kinesis_mock, 1)
    put(kinesis_mock, stream, range(10))
    name = "app-" + stream  # kinesis-mock mixes up consumers of one name on other streams once one is deregistered
    gone = []  # the deleted consumer's ARN: kinesis-mock still serves it; AWS answers ResourceNotFoundException
    not_found = [exception("ResourceNotFoundException", "consumer not found"), END]

    def script(body):
        return not_found[:1] if body["ConsumerARN"] in gone else None

    def rewrite(body, message, raw):
        return not_found if body["ConsumerARN"] in gone else None

    with StreamProxy(kinesis_mock.endpoint, script=script, rewrite=rewrite) as proxy:
        app = App()
        workers(kinesis_mock, stream, store, app, endpoint=proxy.endpoint, fanOut=name)
        assert wait_for(lambda: len(app.records) >= 10, 60)
        reader = consumer(kinesis_mock, stream)
        old = reader.describeStreamConsumer(name, None).result(30)[1]["consumerARN"]
        assert reader.deregisterStreamConsumer(name, None).result(30) == (None,)
        gone.append(old)
        put(kinesis_mock, stream, range(10, 20))
        assert wait_for(lambda: len(app.records) >= 20, 60), [e.details for _, e in app.errors][-3:]
        time.sleep(1.5)  # a record read twice would show by now
        assert sorted(d["n"] for d in app.data()) == list(range(20))
        error, now = reader.describeStreamConsumer(name, None).result(30)
        assert error is None and now["consumerStatus"] == "ACTIVE" and now["consumerARN"] != old
        assert any("not found" in e.details for _, e in app.errors), app.errors
