"""The known traps of lease libraries, one test each, with Workers on real servers and real lease stores."""

import json
import json
import threading
import time

import pytest
from aws_kinesis_agg.aggregator import AggRecord
from conftest import boto_kinesis, new_stream, producer, wait_for
from proxy import Proxy, aws_error
from atomic_dynamodb import dynamodb_store

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR, AWSKinesisStreams, imp
from awskinesisstreams.leases.store import KEEP, LATEST, SHARD_END, TRIM_HORIZON, Lease, SQLiteLeaseStore
from awskinesisstreams.worker.worker import LeaseLost

FAST = dict(leaseDuration=1.0, heartbeatPeriod=0.25, shardSyncPeriod=1.0, pace="fast")


@pytest.fixture(params=["sqlite", "dynamodb_endpoint", "dynalite"])
def store(request, tmp_path):
    made = (
        SQLiteLeaseStore(str(tmp_path / "leases.sqlite3"))
        if request.param == "sqlite"
        else dynamodb_store(request.getfixturevalue(request.param))
    )
    made.prepare()
    return made


@pytest.fixture
def sqlite_store(tmp_path):
    made = SQLiteLeaseStore(str(tmp_path / "leases.sqlite3"))
    made.prepare()
    return made


class App:
    """An application's callbacks, recording what the Worker hands it."""

    def __init__(self, checkpoint=True):
        self.records = []
        self.errors = []
        self.batches = 0
        self.checkpoint = checkpoint

    def processRecords(self, records, cb):
        self.batches += 1
        self.records.extend(record.data for record in records)
        cb(None, self.checkpoint)

    def onError(self, shard_id, error):
        self.errors.append((shard_id, error))


@pytest.fixture
def workers():
    """Makes Workers; every one is stopped at the end of the test."""
    made = []

    def make(server, stream, store, app, processRecords=None, endpoint=None, **options):
        worker = AWSKinesisStreams.Worker(
            server.region,
            server.accessKeyId,
            server.secretAccessKey,
            stream,
            dict(FAST, **options),
            endpoint=endpoint or server.endpoint,
            processRecords=processRecords or app.processRecords,
            onError=app.onError,
            leaseStore=store,
        )
        made.append(worker)
        worker.start()
        return worker

    yield make
    stopped = [threading.Event() for _ in made]
    for worker, event in zip(made, stopped):
        worker.stop(lambda error, event=event: event.set())
    assert all(event.wait(20) for event in stopped)


def put(server, stream, numbers, key="k"):
    records = [AWSKinesisStreams.Record(n, key) for n in numbers]
    error, failed, _ = producer(server, stream).putRecords(records).result(10)
    assert error is None and failed == 0


def test_a_checkpoint_after_the_lease_was_lost_is_refused_and_the_application_told(moto_server, store, workers):
    stream = new_stream(moto_server, 1)
    put(moto_server, stream, range(10))
    held = []
    app = App()
    # the heartbeat is slow on purpose: the store's condition, not the heartbeat, must refuse the checkpoint
    hold = lambda records, cb: held.append(cb)  # noqa: E731
    workers(moto_server, stream, store, app, processRecords=hold, leaseDuration=60.0, heartbeatPeriod=30.0)
    assert wait_for(lambda: held)
    lease = store.list(stream, stream)[0]
    assert store.take(lease, "intruder") is not None
    held[0](None, True)
    assert wait_for(lambda: app.errors)
    shard, error = app.errors[0]
    assert isinstance(error, LeaseLost) and error.type == AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED
    assert shard == lease.shardId and "refused" in error.details
    stored = store.list(stream, stream)[0]
    assert (stored.owner, stored.checkpoint) == ("intruder", TRIM_HORIZON)
    put(moto_server, stream, range(10, 20))
    time.sleep(1.5)
    assert len(held) == 1  # nothing more delivered from a shard this worker lost


def test_heartbeats_run_while_process_records_is_busy(moto_server, store, workers):
    stream = new_stream(moto_server, 1)
    put(moto_server, stream, range(10))
    slow, watcher = App(), App()
    owners = []

    def busy(records, cb):  # blocks the library's loop for 3 lease durations
        time.sleep(3.0)
        slow.processRecords(records, cb)

    workers(moto_server, stream, store, slow, processRecords=busy, workerId="slow")
    assert wait_for(lambda: store.list(stream, stream) and store.list(stream, stream)[0].owner == "slow")
    counter = store.list(stream, stream)[0].counter
    workers(moto_server, stream, store, watcher, workerId="watcher")  # would take the lease were it expired
    while not slow.batches:
        owners.append(store.list(stream, stream)[0].owner)
        time.sleep(0.1)
    assert wait_for(lambda: store.list(stream, stream)[0].checkpoint != TRIM_HORIZON)
    lease = store.list(stream, stream)[0]
    assert set(owners) == {"slow"} and lease.owner == "slow"
    assert lease.counter >= counter + 8  # renewed about 4 times a second through the busy batch
    assert not slow.errors and not watcher.records


def test_a_stuck_worker_loses_its_lease_to_a_live_one(moto_server, store, workers):
    stream = new_stream(moto_server, 1)
    put(moto_server, stream, range(10))
    stuck, rescuer = App(), App()
    workers(moto_server, stream, store, stuck, processRecords=lambda records, cb: None, stuckAfter=1.5, workerId="stuck")
    assert wait_for(lambda: store.list(stream, stream) and store.list(stream, stream)[0].owner == "stuck")
    workers(moto_server, stream, store, rescuer, workerId="rescuer")
    assert wait_for(lambda: rescuer.records == list(range(10)), 15)
    assert [type(error) for _, error in stuck.errors] == [LeaseLost] and "stuck" in stuck.errors[0][1].details
    assert store.list(stream, stream)[0].owner == "rescuer"


def test_expiry_uses_the_observers_own_clock_on_the_lease_counter(moto_server, store, workers):
    stream = new_stream(moto_server, 1)
    shard = "shardId-000000000000"
    store.create(Lease(stream, stream, shard, checkpoint=TRIM_HORIZON))
    ghost = store.take(store.get(stream, stream, shard), "elsewhere")
    app = App()
    workers(moto_server, stream, store, app, workerId="observer")
    deadline = time.monotonic() + 3.0  # three lease durations of a live owner renewing with any clock
    while time.monotonic() < deadline:
        assert store.get(stream, stream, shard).owner == "elsewhere"
        ghost = store.renew(ghost)
        stopped = time.monotonic()
        time.sleep(0.3)
    assert wait_for(lambda: store.get(stream, stream, shard).owner == "observer", 5)
    taken_after = time.monotonic() - stopped
    assert 1.0 <= taken_after < 2.5  # one lease duration with no counter move, plus at most a scan


def test_a_dead_owners_lease_is_taken_only_after_a_lease_duration_seen_here(moto_server, sqlite_store, workers):
    stream = new_stream(moto_server, 1)
    shard = "shardId-000000000000"
    sqlite_store.create(Lease(stream, stream, shard, checkpoint=TRIM_HORIZON))
    sqlite_store.take(sqlite_store.get(stream, stream, shard), "long-dead")  # however old, its age is unknown here
    started = time.monotonic()
    workers(moto_server, stream, sqlite_store, App(), workerId="newcomer")
    assert wait_for(lambda: sqlite_store.get(stream, stream, shard).owner == "newcomer", 5)
    assert time.monotonic() - started >= 1.0


def test_a_child_shard_starts_at_trim_horizon_even_when_new_shards_start_at_latest(resharding_server, sqlite_store, workers):
    stream = new_stream(resharding_server, 1)
    put(resharding_server, stream, ["before-start"])
    app = App()
    workers(resharding_server, stream, sqlite_store, app, initialPosition=LATEST, shardSyncPeriod=30.0)
    assert wait_for(lambda: sqlite_store.list(stream, stream) and sqlite_store.list(stream, stream)[0].owner)
    time.sleep(0.5)  # the LATEST iterator is taken
    put(resharding_server, stream, ["after-start"])
    assert wait_for(lambda: app.records == ["after-start"])
    boto_kinesis(resharding_server).split_shard(StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127))
    time.sleep(0.3)
    put(resharding_server, stream, ["in-child-before-first-read-%d" % i for i in range(5)])  # before the worker knows the child
    assert wait_for(lambda: len(app.records) == 6, 15), app.records
    leases = {lease.shardId: lease for lease in sqlite_store.list(stream, stream)}
    assert leases["shardId-000000000000"].checkpoint == SHARD_END
    children = [lease for lease in leases.values() if lease.parents]
    assert len(children) == 2 and all(lease.parents == ("shardId-000000000000",) for lease in children)
    assert "before-start" not in app.records


def test_a_merged_child_waits_for_both_parents(resharding_server, sqlite_store, workers):
    stream = new_stream(resharding_server, 2)
    client = boto_kinesis(resharding_server)
    keys = {"low": "1", "high": str(2**127 + 1)}  # one key per parent
    records = [AWSKinesisStreams.Record(n, key, keys[key]) for n in range(20) for key in keys]
    assert producer(resharding_server, stream).putRecords(records).result(10)[0] is None
    client.merge_shards(StreamName=stream, ShardToMerge="shardId-000000000000", AdjacentShardToMerge="shardId-000000000001")
    time.sleep(0.3)
    more = [AWSKinesisStreams.Record(n, key, keys[key]) for n in range(20, 30) for key in keys]
    assert producer(resharding_server, stream).putRecords(more).result(10)[0] is None
    seen = []
    app = App()

    def process(records, cb):
        seen.extend((cb.shardId, record.partitionKey, record.data) for record in records)
        cb(None, True)

    workers(resharding_server, stream, sqlite_store, app, processRecords=process)
    assert wait_for(lambda: len(seen) == 60, 15)
    child = [lease for lease in sqlite_store.list(stream, stream) if lease.parents]
    assert [lease.parents for lease in child] == [("shardId-000000000000", "shardId-000000000001")]
    first_child = [i for i, row in enumerate(seen) if row[0] == child[0].shardId][0]
    assert all(row[0] != child[0].shardId for row in seen[:first_child]) and first_child == 40  # parents first
    for key in keys:
        assert [data for _, k, data in seen if k == key] == list(range(30))


def test_max_shards_and_at_timestamp(moto_server, sqlite_store, workers):
    stream = new_stream(moto_server, 3)
    put(moto_server, stream, ["old"])
    time.sleep(1.1)
    since = time.time()
    time.sleep(0.1)
    put(moto_server, stream, ["new"])
    apps = [App(), App()]
    capped = workers(moto_server, stream, sqlite_store, apps[0], initialPosition="AT_TIMESTAMP", timestamp=since, maxShards=1)
    assert wait_for(lambda: len(capped.getStats()) == 1)
    workers(moto_server, stream, sqlite_store, apps[1], initialPosition="AT_TIMESTAMP", timestamp=since)
    assert wait_for(lambda: apps[0].records + apps[1].records == ["new"])
    time.sleep(1.0)
    assert len(capped.getStats()) == 1 and apps[0].records + apps[1].records == ["new"]


def test_a_lease_of_a_shard_that_no_longer_exists_is_cleaned_up(moto_server, sqlite_store, workers):
    stream = new_stream(moto_server, 1)
    gone = Lease(stream, stream, "shardId-000000000099", checkpoint="4959" + "0" * 51 + "1")
    sqlite_store.create(gone)
    put(moto_server, stream, range(5))
    app = App()
    workers(moto_server, stream, sqlite_store, app)
    assert wait_for(lambda: app.records == [0, 1, 2, 3, 4])
    assert [lease.shardId for lease in sqlite_store.list(stream, stream)] == ["shardId-000000000000"]


def test_a_record_that_is_not_json_comes_as_bytes_and_reading_goes_on(moto_server, sqlite_store, workers):
    stream = new_stream(moto_server, 1)
    put(moto_server, stream, [1])
    error, _ = producer(moto_server, stream).putRecord(AWSKinesisStreams.Record(b"\xffnot json", "k")).result(10)
    assert error is None
    put(moto_server, stream, [2])
    app = App()
    workers(moto_server, stream, sqlite_store, app)
    assert wait_for(lambda: len(app.records) == 3)
    assert app.records == [b"1", b"\xffnot json", b"2"]  # one GetRecords call: its whole batch as bytes
    assert [e.type for _, e in app.errors] == [AWS_KINESIS_STREAMS_ERROR.UNEXPECTED_RESPONSE]


def test_one_table_serves_two_applications_on_one_stream(moto_server, store, workers):
    stream = new_stream(moto_server, 1)
    put(moto_server, stream, range(5))
    first, second = App(), App()
    workers(moto_server, stream, store, first, applicationName="billing")
    workers(moto_server, stream, store, second, applicationName="audit")
    assert wait_for(lambda: first.records == list(range(5)) and second.records == list(range(5)))
    assert [l.application for l in store.list("billing", stream)] == ["billing"]
    assert [l.owner is not None for l in store.list("audit", stream)] == [True]


def test_shards_spread_fairly_when_a_second_worker_comes(moto_server, sqlite_store, workers):
    stream = new_stream(moto_server, 4)
    first_app, second_app = App(), App()
    first = workers(moto_server, stream, sqlite_store, first_app, workerId="first")
    assert wait_for(lambda: len(first.getStats()) == 4)
    second = workers(moto_server, stream, sqlite_store, second_app, workerId="second")
    assert wait_for(lambda: len(first.getStats()) == 2 and len(second.getStats()) == 2, 15)
    owners = sorted(lease.owner for lease in sqlite_store.list(stream, stream))
    assert owners == ["first", "first", "second", "second"]
    assert not first_app.errors  # handed over at a batch boundary, not taken from under it


def test_get_records_pace_limit_backoff_and_lag(moto_server, sqlite_store, workers):
    stream = new_stream(moto_server, 1)
    put(moto_server, stream, range(500))
    throttles = [3]
    stamps = []

    def rule(call):
        if call.action != "GetRecords":
            return None
        stamps.append(time.monotonic())
        if len(stamps) > 2 and throttles[0]:
            throttles[0] -= 1
            return aws_error(400, "ProvisionedThroughputExceededException", "Rate exceeded for shard")
        return None

    app = App()
    with Proxy(moto_server.endpoint, rule=rule) as proxy:
        worker = workers(moto_server, stream, sqlite_store, app, endpoint=proxy.endpoint, limit=100)
        assert wait_for(lambda: len(app.records) == 500 and len(stamps) >= 10, 20)
        stats = worker.getStats()
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    # never more than 5 GetRecords a second on the shard (0.1 s left for the proxy's own timing)
    assert max(sum(1 for t in stamps if start <= t < start + 0.9) for start in stamps) <= 5
    assert gaps[2] < gaps[3] < gaps[4]  # backing off on throttling
    assert gaps[-1] >= 0.9  # polling at the fast pace (1 s) once caught up
    assert not app.errors  # throttling is not an application error
    assert stats["shardId-000000000000"]["millisBehindLatest"] == 0


class CountingStore(SQLiteLeaseStore):
    """An SQLite store that notes every conditional write: (owner, checkpoint, clear_wanted, keywords)."""

    def __init__(self, path):
        super().__init__(path)
        self.writes = []

    def _change(self, lease, owner, checkpoint, clear_wanted, **keywords):
        self.writes.append((owner, checkpoint, clear_wanted, keywords))
        return super()._change(lease, owner, checkpoint, clear_wanted, **keywords)


def test_the_lag_rides_on_the_renewal_and_adds_no_write(moto_server, tmp_path, workers):
    stream = new_stream(moto_server, 1)
    store = CountingStore(str(tmp_path / "leases.sqlite3"))
    store.prepare()
    lag = 777

    def with_lag(call, status, payload):
        return json.dumps(dict(json.loads(payload), MillisBehindLatest=lag)).encode() if call.action == "GetRecords" else payload

    with Proxy(moto_server.endpoint, on_answer=with_lag) as proxy:
        workers(moto_server, stream, store, App(), endpoint=proxy.endpoint)
        assert wait_for(lambda: [lease.millisBehindLatest for lease in store.list(stream, stream)] == [lag])
        taken = len(store.writes)
        assert wait_for(lambda: len(store.writes) >= taken + 4)  # a few heartbeats on a shard with nothing to read
        quiet = store.writes[taken:]
    assert quiet and all(write == (KEEP, None, False, {"millis": lag}) for write in quiet), quiet


def test_a_wrongly_initialized_worker_or_store_reports_a_library_error():
    outcomes = []
    worker = AWSKinesisStreams.Worker("us-east-1", "k", "s", "stream", {"limit": 0, "bogus": 1})
    worker.start(outcomes.append)
    AWSKinesisStreams.Worker("us-east-1", "k", "s", "stream", processRecords=print, pace="warp").start(outcomes.append)
    assert imp.run(5)
    assert [error.type for error in outcomes] == [AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR] * 2
    assert "processRecords" in outcomes[0].details and "bogus" in outcomes[0].details and "limit" in outcomes[0].details
    assert "pace" in outcomes[1].details
    for store in (SQLiteLeaseStore(None), AWSKinesisStreams.DynamoDBLeaseStore("", "us-east-1", None, "s")):
        started = []
        worker = AWSKinesisStreams.Worker("us-east-1", "k", "s", "stream", processRecords=print, leaseStore=store)
        worker.start(started.append)
        assert wait_for(lambda: started)
        worker.stop()
        assert started[0].type == AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR and "wrongly initialized" in started[0].details



def aggregated_stream(server, sizes):
    """A one-shard stream holding, for each size, an aws-kinesis-agg aggregate of that many JSON
    user records (0: one plain JSON record); the data of every user record, in stream order."""
    stream = new_stream(server, 1)
    client, everything = boto_kinesis(server), []
    for group, size in enumerate(sizes):
        values = [{"group": group, "n": n} for n in range(max(size, 1))]
        everything += values
        if size == 0:
            client.put_record(StreamName=stream, Data=json.dumps(values[0]).encode(), PartitionKey="plain")
            continue
        aggregate = AggRecord()
        for n, value in enumerate(values):
            assert aggregate.add_user_record("key-%d" % (n % 3), json.dumps(value).encode())
        partition_key, _, data = aggregate.get_contents()
        client.put_record(StreamName=stream, Data=data, PartitionKey=partition_key)
    return stream, everything


def stop(worker):
    stopped = threading.Event()
    worker.stop(lambda error: stopped.set())
    assert stopped.wait(20)


@pytest.mark.parametrize("at", [7, 5])  # inside the second aggregate; the plain record between the two
def test_a_checkpoint_at_a_user_record_resumes_right_after_it(moto_server, store, workers, at):
    stream, everything = aggregated_stream(moto_server, [5, 0, 6, 4])
    first = []

    def checkpoint_inside(records, cb):
        if first:
            return cb(None)
        first.extend(records)
        cb(None, records[at])

    worker = workers(moto_server, stream, store, App(), processRecords=checkpoint_inside)
    assert wait_for(lambda: first)
    assert [r.data for r in first] == everything
    assert [r.subSequenceNumber for r in first] == list(range(5)) + [None] + list(range(6)) + list(range(4))
    assert wait_for(lambda: store.list(stream, stream)[0].checkpoint != TRIM_HORIZON)
    stop(worker)
    lease = store.list(stream, stream)[0]
    assert (lease.checkpoint, lease.subSequence) == (first[at].sequenceNumber, first[at].subSequenceNumber)

    second = App()
    workers(moto_server, stream, store, second)
    assert wait_for(lambda: len(second.records) >= len(everything) - at - 1)
    time.sleep(1.5)  # a few more polls: nothing else may come
    assert second.records == everything[at + 1 :]
    assert wait_for(lambda: store.list(stream, stream)[0].subSequence is None)
    assert store.list(stream, stream)[0].checkpoint == first[-1].sequenceNumber


def test_a_worker_deaggregates_by_default_and_keeps_records_whole_if_told(moto_then_mock, sqlite_store, workers):
    stream, everything = aggregated_stream(moto_then_mock, [3, 0, 2])
    whole, users = App(), App()
    workers(moto_then_mock, stream, sqlite_store, whole, applicationName="whole", deaggregate=False, isBlob=True)
    workers(moto_then_mock, stream, sqlite_store, users, applicationName="users")
    assert wait_for(lambda: len(users.records) == 6 and len(whole.records) == 3)
    assert users.records == everything
    assert whole.records[0][:4] == b"\xf3\x89\x9a\xc2" and json.loads(whole.records[1]) == everything[3]


def test_a_checkpoint_at_a_record_of_another_batch_is_a_library_error(moto_server, sqlite_store, workers):
    stream, _ = aggregated_stream(moto_server, [3])
    app = App()
    batches = []

    def wrong(records, cb):
        batches.append(records)
        cb(None, AWSKinesisStreams.Record({"n": 0}, "k"))

    workers(moto_server, stream, sqlite_store, app, processRecords=wrong)
    assert wait_for(lambda: app.errors)
    shard, error = app.errors[0]
    assert error.type == AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR and "not one of this batch" in error.details
    assert sqlite_store.list(stream, stream)[0].checkpoint == TRIM_HORIZON
