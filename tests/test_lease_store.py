"""One conformance suite for every lease store: SQLite in a temporary file, DynamoDB on moto's server
(behind a proxy that makes its conditional writes atomic, as DynamoDB's are) and on dynalite."""

import multiprocessing
import sqlite3
from contextlib import closing

import pytest
from atomic_dynamodb import dynamodb_store

from awskinesisstreams.leases.dynamodb import DynamoDBLeaseStore
from awskinesisstreams.leases.store import LATEST, SHARD_END, TRIM_HORIZON, Lease, SQLiteLeaseStore


@pytest.fixture(params=["sqlite", "dynamodb_endpoint", "dynalite"])
def store(request, tmp_path):
    if request.param == "sqlite":
        made = SQLiteLeaseStore(str(tmp_path / "leases.sqlite3"))
    else:
        made = dynamodb_store(request.getfixturevalue(request.param))
    made.prepare()
    made.prepare()  # a second prepare finds the table there and keeps it
    return made


def new_lease(shard="shardId-000000000000", application="app", stream="s1", **kwargs):
    return Lease(application, stream, shard, **kwargs)


def test_create_get_list_and_no_second_create(store):
    lease = new_lease(parents=("shardId-000000000009",), checkpoint=LATEST)
    assert store.create(lease) is True
    assert store.create(new_lease(checkpoint=TRIM_HORIZON)) is False
    assert store.get("app", "s1", lease.shardId) == lease
    assert store.get("app", "s1", "shardId-000000000001") is None
    store.create(new_lease("shardId-000000000001"))
    assert [l.shardId for l in sorted(store.list("app", "s1"), key=lambda l: l.shardId)] == [
        "shardId-000000000000",
        "shardId-000000000001",
    ]


def test_one_store_serves_several_applications_and_streams(store):
    for application, stream in (("app", "s1"), ("app", "s2"), ("other", "s1"), ('a"/[x', "s1")):
        assert store.create(new_lease(application=application, stream=stream))
    taken = store.take(store.get("other", "s1", "shardId-000000000000"), "w1")
    assert taken.owner == "w1"
    assert store.get("app", "s1", "shardId-000000000000").owner is None
    assert [(l.application, l.stream) for l in store.list('a"/[x', "s1")] == [('a"/[x', "s1")]
    assert len(store.list("app", "s2")) == 1


def test_take_renew_checkpoint_release_each_move_the_counter(store):
    store.create(new_lease())
    lease = store.take(store.get("app", "s1", "shardId-000000000000"), "w1")
    assert (lease.owner, lease.counter) == ("w1", 1)
    lease = store.renew(lease)
    assert lease.counter == 2
    lease = store.checkpoint(lease, "100")
    assert (lease.checkpoint, lease.counter) == ("100", 3)
    lease = store.release(lease)
    assert (lease.owner, lease.counter, lease.checkpoint) == (None, 4, "100")
    assert store.get("app", "s1", lease.shardId) == lease


def test_two_workers_can_never_both_take_a_lease(store):
    store.create(new_lease())
    seen = store.get("app", "s1", "shardId-000000000000")
    assert store.take(seen, "w1") is not None
    assert store.take(seen, "w2") is None
    assert store.get("app", "s1", seen.shardId).owner == "w1"


def test_a_lost_lease_can_neither_be_renewed_nor_checkpointed(store):
    store.create(new_lease())
    mine = store.take(store.get("app", "s1", "shardId-000000000000"), "w1")
    mine = store.checkpoint(mine, "10")
    theirs = store.take(store.get("app", "s1", mine.shardId), "w2")  # w2 takes it over (expired on its clock)
    assert theirs.owner == "w2"
    assert store.renew(mine) is None
    assert store.checkpoint(mine, "20") is None
    assert store.release(mine) is None
    stored = store.get("app", "s1", mine.shardId)
    assert (stored.owner, stored.checkpoint) == ("w2", "10")


def test_a_checkpoint_never_moves_back_nor_away_from_shard_end(store):
    store.create(new_lease())
    lease = store.take(store.get("app", "s1", "shardId-000000000000"), "w1")
    lease = store.checkpoint(lease, "49590000000000000000000000000000000000000000000000000010")
    assert store.checkpoint(lease, "49590000000000000000000000000000000000000000000000000009") is None
    assert store.checkpoint(lease, "9") is None
    lease = store.checkpoint(lease, SHARD_END)
    assert store.checkpoint(lease, "49590000000000000000000000000000000000000000000000000011") is None
    assert store.get("app", "s1", lease.shardId).checkpoint == SHARD_END


def test_ask_marks_the_lease_wanted_and_a_handover_clears_it(store):
    store.create(new_lease())
    lease = store.take(store.get("app", "s1", "shardId-000000000000"), "w1")
    assert store.ask(lease, "w2") is True
    renewed = store.renew(lease)
    assert (renewed.wanted, renewed.counter) == ("w2", lease.counter + 1)
    handed = store.release(renewed, to="w2")
    assert (handed.owner, handed.wanted) == ("w2", None)
    assert store.ask(renewed, "w3") is False  # the owner it names is no longer the owner


def test_delete_only_if_the_counter_did_not_move(store):
    store.create(new_lease())
    seen = store.get("app", "s1", "shardId-000000000000")
    store.take(seen, "w1")
    assert store.delete(seen) is False
    assert store.delete(store.get("app", "s1", seen.shardId)) is True
    assert store.list("app", "s1") == []


def _race(args):
    """One process's attempt to take the lease it read."""
    kind, where, name = args
    store = SQLiteLeaseStore(where) if kind == "sqlite" else DynamoDBLeaseStore(*where[:4], endpoint=where[4])
    seen = store.get("app", "s1", "shardId-000000000000")
    return store.take(seen, name) is not None


def test_processes_racing_for_one_lease_give_it_to_exactly_one(store):
    store.create(new_lease())
    if isinstance(store, SQLiteLeaseStore):
        where = store.path
        kind = "sqlite"
    else:
        client = store._client
        where = (store.table, "us-east-1", "testing", "testing", client.endpoint)
        kind = "dynamodb"
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        wins = pool.map(_race, [(kind, where, "w%d" % i) for i in range(4)], chunksize=1)
    stored = store.get("app", "s1", "shardId-000000000000")
    # each process read the lease before or after another took it: at most one take per counter value
    assert sum(wins) == stored.counter
    assert stored.owner in {"w%d" % i for i, won in enumerate(wins) if won}


def test_a_renewal_carries_the_lag_and_other_changes_keep_it(store):
    store.create(new_lease())
    lease = store.take(store.get("app", "s1", "shardId-000000000000"), "w1")
    assert lease.millisBehindLatest is None
    lease = store.renew(lease, 1234)
    assert (lease.millisBehindLatest, lease.counter) == (1234, 2)
    assert store.get("app", "s1", lease.shardId) == lease
    lease = store.renew(lease)  # nothing read yet: the last lag stays
    lease = store.checkpoint(lease, "100")
    assert store.get("app", "s1", lease.shardId).millisBehindLatest == 1234
    lease = store.renew(lease, 0)
    assert store.list("app", "s1")[0].millisBehindLatest == 0
    taken = store.take(lease, "w2")  # another worker takes it over: the last lag reported stays
    assert (taken.owner, taken.millisBehindLatest) == ("w2", 0)
    assert store.renew(lease, 5) is None  # and the old owner can no longer report


SEQ = "49590000000000000000000000000000000000000000000000000010"
NEXT = "49590000000000000000000000000000000000000000000000000011"


def test_a_checkpoint_keeps_its_sub_sequence_and_moves_forward_only(store):
    store.create(new_lease())
    lease = store.take(store.get("app", "s1", "shardId-000000000000"), "w1")
    assert lease.subSequence is None
    lease = store.checkpoint(lease, SEQ, 2)
    assert (lease.checkpoint, lease.subSequence) == (SEQ, 2)
    assert store.get("app", "s1", lease.shardId) == lease
    assert store.checkpoint(lease, SEQ, 1) is None  # back inside the same aggregate
    lease = store.checkpoint(lease, SEQ, 5)
    lease = store.renew(store.take(store.release(lease), "w2"))  # take, renew and release keep it
    assert (lease.checkpoint, lease.subSequence, lease.owner) == (SEQ, 5, "w2")
    lease = store.checkpoint(lease, SEQ)  # the whole aggregate done: after every sub-sequence
    assert (lease.checkpoint, lease.subSequence) == (SEQ, None)
    assert store.checkpoint(lease, SEQ, 7) is None  # back from "all of it" to a part of it
    lease = store.checkpoint(lease, NEXT, 0)
    assert (lease.checkpoint, lease.subSequence) == (NEXT, 0)
    assert store.checkpoint(lease, SEQ) is None
    lease = store.checkpoint(lease, SHARD_END, 3)
    assert (lease.checkpoint, lease.subSequence) == (SHARD_END, None)
    assert store.get("app", "s1", lease.shardId) == lease


def test_a_lease_created_with_a_sub_sequence_keeps_it(store):
    lease = new_lease(checkpoint=SEQ, subSequence=4)
    assert store.create(lease)
    assert store.get("app", "s1", lease.shardId) == lease


def test_an_sqlite_file_from_before_sub_sequences_keeps_working(tmp_path):
    path = str(tmp_path / "old.sqlite3")
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(  # the schema as the first release wrote it
            "CREATE TABLE leases (scope TEXT NOT NULL, shard TEXT NOT NULL, owner TEXT,"
            " counter INTEGER NOT NULL, checkpoint TEXT NOT NULL, parents TEXT NOT NULL, wanted TEXT,"
            " PRIMARY KEY (scope, shard))"
        )
        db.execute(
            "INSERT INTO leases VALUES (?, ?, ?, ?, ?, ?, ?)",
            (new_lease().scope, "shardId-000000000000", "w1", 7, SEQ, "[]", None),
        )
    store = SQLiteLeaseStore(path)
    assert store.list("app", "s1") == [new_lease(owner="w1", counter=7, checkpoint=SEQ)]  # read as it is (kinesis-streams leases)
    store.prepare()
    store.prepare()
    old = store.get("app", "s1", "shardId-000000000000")
    assert old == new_lease(owner="w1", counter=7, checkpoint=SEQ)
    lease = store.checkpoint(old, NEXT, 1)
    assert (lease.checkpoint, lease.subSequence, lease.counter) == (NEXT, 1, 8)
    assert store.get("app", "s1", lease.shardId) == lease
    lease = store.renew(lease, 99)
    assert (lease.counter, lease.millisBehindLatest) == (9, 99)
    assert store.create(new_lease("shardId-000000000001", subSequence=3))
    assert store.get("app", "s1", "shardId-000000000001").subSequence == 3
    assert [lease.millisBehindLatest for lease in store.list("app", "s1")] == [99, None]


def test_a_dynamodb_item_from_before_sub_sequences_keeps_working(dynamodb_endpoint):
    store = dynamodb_store(dynamodb_endpoint)
    store.prepare()
    item = {  # an item as the first release wrote it: no checkpointSubSequenceNumber
        "scope": {"S": new_lease().scope},
        "shardId": {"S": "shardId-000000000000"},
        "leaseCounter": {"N": "7"},
        "checkpoint": {"S": SEQ},
        "parents": {"L": []},
        "owner": {"S": "w1"},
    }
    store._call("PutItem", {"Item": item})
    old = store.get("app", "s1", "shardId-000000000000")
    assert old == new_lease(owner="w1", counter=7, checkpoint=SEQ)
    lease = store.checkpoint(old, NEXT, 1)
    assert (lease.checkpoint, lease.subSequence, lease.counter) == (NEXT, 1, 8)
    assert store.get("app", "s1", lease.shardId) == lease
    lease = store.checkpoint(lease, NEXT)
    assert store.get("app", "s1", lease.shardId).subSequence is None
    assert store.renew(lease, 99).millisBehindLatest == 99
