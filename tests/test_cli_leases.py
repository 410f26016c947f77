"""`kinesis-streams leases`, run as a user runs it (the installed script), after a real Worker read a stream on moto,
with its leases in SQLite, in moto's DynamoDB (atomic proxy) and in dynalite."""

import json
import threading
import uuid

import pytest
from atomic_dynamodb import dynamodb_store
from conftest import boto_kinesis, new_stream, producer, wait_for
from proxy import Proxy
from test_cli import assert_user_error, env, run  # noqa: F401  (env is a fixture)

from awskinesisstreams import AWSKinesisStreams
from awskinesisstreams.cli.leases import lease_rows
from awskinesisstreams.leases.store import Lease, SQLiteLeaseStore

LAG = 4242  # what the proxy makes every GetRecords answer report
KEYS = ["shardId", "owner", "counter", "checkpoint", "parents", "millisBehindLatest"]


@pytest.fixture(params=["sqlite", "dynamodb_endpoint", "dynalite"])
def lease_store(request, tmp_path):
    """A prepared lease store and the command-line options that name it."""
    if request.param == "sqlite":
        path = str(tmp_path / "leases.sqlite3")
        store, options = SQLiteLeaseStore(path), ["--sqlite", path]
    else:
        endpoint = request.getfixturevalue(request.param)
        store = dynamodb_store(endpoint)
        options = ["--dynamodb", store.table, "--dynamodb-endpoint", endpoint]
    store.prepare()
    return store, options


def with_lag(call, status, payload):
    """The server's answer, with GetRecords reporting LAG milliseconds behind."""
    if call.action != "GetRecords" or status != 200:
        return payload
    return json.dumps(dict(json.loads(payload), MillisBehindLatest=LAG)).encode()


def leases_json(env, stream, app, options):
    result = run(env, "leases", stream, "--app", app, *options, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_leases_shows_owner_counter_checkpoint_parents_and_the_lag_its_owner_renewed_with(env, moto_server, lease_store):
    store, options = lease_store
    stream, app = new_stream(moto_server, 2), "app-" + uuid.uuid4().hex[:6]
    records = [AWSKinesisStreams.Record(n, "key-%d" % n) for n in range(20)]
    err, failed, results = producer(moto_server, stream).putRecords(records).result(10)
    assert err is None and failed == 0
    last = {}
    for result in results:
        last[result.shardId] = max(last.get(result.shardId, 0), int(result.sequenceNumber))
    with Proxy(moto_server.endpoint, on_answer=with_lag) as proxy:
        worker = AWSKinesisStreams.Worker(
            moto_server.region,
            moto_server.accessKeyId,
            moto_server.secretAccessKey,
            stream,
            endpoint=proxy.endpoint,
            applicationName=app,
            leaseStore=store,
            processRecords=lambda batch, cb: cb(None, True),
            leaseDuration=1.0,
            heartbeatPeriod=0.25,
            pace="fast",
        )
        worker.start()

        def renewed_with_lag():
            leases = store.list(app, stream)
            return len(leases) == 2 and all(
                lease.millisBehindLatest == LAG and lease.checkpoint == str(last[lease.shardId]) for lease in leases
            )

        try:
            assert wait_for(renewed_with_lag, 20)
            rows = leases_json(env, stream, app, options)
            text = run(env, "leases", stream, "--app", app, *options)
        finally:
            stopped = threading.Event()
            worker.stop(lambda error: stopped.set())
            assert stopped.wait(20)

    assert [list(row) for row in rows] == [KEYS, KEYS]
    assert [row["shardId"] for row in rows] == ["shardId-000000000000", "shardId-000000000001"]
    for row in rows:
        assert row["owner"] == worker.workerId
        assert isinstance(row["counter"], int) and row["counter"] >= 2
        assert row["checkpoint"] == str(last[row["shardId"]])
        assert (row["parents"], row["millisBehindLatest"]) == ([], LAG)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.decode().splitlines()
    assert lines[0].split() == ["SHARD", "OWNER", "COUNTER", "CHECKPOINT", "PARENTS", "MILLIS", "BEHIND"]
    assert [line.split()[0] for line in lines[1:]] == ["shardId-000000000000", "shardId-000000000001"]
    assert all(worker.workerId in line and line.split()[-1] == str(LAG) for line in lines[1:])

    # after a split, the children have no lease until a worker lists them: listed with nulls, and their parent
    boto = boto_kinesis(moto_server)
    boto.split_shard(StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**126))
    summary = lambda: boto.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]  # noqa: E731
    assert wait_for(lambda: summary()["StreamStatus"] == "ACTIVE")
    rows = leases_json(env, stream, app, options)
    assert len(rows) == 4
    for child in rows[2:]:
        assert child == dict(child, owner=None, counter=None, checkpoint=None, millisBehindLatest=None)
        assert child["parents"] == ["shardId-000000000000"]
    assert rows[0]["owner"] is None and rows[0]["millisBehindLatest"] == LAG  # released at stop, the last lag kept


def test_an_unknown_application_is_a_one_line_error(env, moto_server, lease_store):
    store, options = lease_store
    stream = new_stream(moto_server, 1)
    assert_user_error(run(env, "leases", stream, "--app", "nobody", *options), "no leases of application 'nobody'")


@pytest.mark.parametrize("dynamodb", ["dynamodb_endpoint", "dynalite"])
def test_a_missing_lease_file_or_table_is_a_one_line_error_and_nothing_is_created(request, env, moto_server, tmp_path, dynamodb):
    dynamodb_endpoint = request.getfixturevalue(dynamodb)
    stream = new_stream(moto_server, 1)
    missing = tmp_path / "none.sqlite3"
    assert_user_error(run(env, "leases", stream, "--app", "a", "--sqlite", str(missing)), "does not exist")
    assert not missing.exists()
    not_leases = tmp_path / "other.sqlite3"
    not_leases.write_bytes(b"not a database at all" * 100)
    assert_user_error(run(env, "leases", stream, "--app", "a", "--sqlite", str(not_leases)), "not a lease file")
    table = ["--dynamodb", "no-such-table", "--dynamodb-endpoint", dynamodb_endpoint]
    assert_user_error(run(env, "leases", stream, "--app", "a", *table), "no-such-table")
    assert_user_error(run(env, "leases", stream, "--app", "a"), "--sqlite --dynamodb")


def test_a_checkpoint_inside_an_aggregate_shows_its_sub_sequence():
    parent, child = "shardId-000000000000", "shardId-000000000001"
    shards = [{"ShardId": parent}, {"ShardId": child, "ParentShardId": parent}]
    inside = Lease("app", "s", parent, owner="w", counter=3, checkpoint="49590", subSequence=4, millisBehindLatest=7)
    whole = Lease("app", "s", child, counter=1, checkpoint="SHARD_END")
    rows = lease_rows(shards, [whole, inside])
    assert [row["checkpoint"] for row in rows] == ["49590/4", "SHARD_END"]
    assert (rows[1]["parents"], rows[1]["owner"], rows[1]["counter"]) == ([parent], None, 1)


def test_leases_watch_redraws_with_the_largest_lag_on_top_until_interrupted(env, moto_server, tmp_path):
    import shutil
    import signal
    import subprocess
    import time

    stream, app = new_stream(moto_server, 2), "watch-" + uuid.uuid4().hex[:6]
    path = str(tmp_path / "leases.sqlite3")
    store = SQLiteLeaseStore(path)
    store.prepare()
    for shard, lag in (("shardId-000000000000", 120), ("shardId-000000000001", 9000)):
        store.create(Lease(app, stream, shard, checkpoint="TRIM_HORIZON"))
        taken = store.take(store.get(app, stream, shard), "w-1")
        store.renew(taken, lag)
    command = [shutil.which("kinesis-streams", path=env["PATH"]), "leases", stream, "--app", app, "--sqlite", path, "--watch", "0.2"]
    watching = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    watching.send_signal(signal.SIGINT)
    out, err = watching.communicate(timeout=20)
    tops = [line for line in out.splitlines() if "largest millisBehindLatest" in line]
    assert watching.returncode == 130 and "interrupted" in err
    assert len(tops) >= 3 and all("largest millisBehindLatest 9000" in line for line in tops)
    assert out.count("shardId-000000000001") == len(tops)
    bad = run(env, "leases", stream, "--app", app, "--sqlite", path, "--watch", "never")
    assert_user_error(bad, "'never' is not a number of seconds")
