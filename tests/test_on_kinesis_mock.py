"""The beyond-Squirrel parts on kinesis-mock, with leases in dynalite: records written from threads by the
BufferedProducer (aggregated or not) counted one by one, read back by Workers sharing a DynamoDB table, and
the `put`, `pull` and `leases` commands (`ls` on kinesis-mock: test_cli's resharded stream).

kinesis-mock departs from AWS in ways these tests step around: a closed shard's EndingSequenceNumber
is 9223372036854775807 rather than its last record's, and its hash key ranges for N shards are off by
one from AWS's (2 shards split at 2^127 - 1, not 2^127). The library takes both as the server says.
"""

import json
import threading
import uuid
from collections import Counter, defaultdict

import pytest
from atomic_dynamodb import dynamodb_store
from conftest import new_stream, wait_for
from test_buffered_producer import buffered, read_back, user_records
from test_cli import env, run  # noqa: F401  (env is a fixture)

from awskinesisstreams import AWSKinesisStreams

Record = AWSKinesisStreams.Record
THREADS, PER_THREAD = 4, 1500


def key_of(i):
    """Thread t writes i = t, t + THREADS, ...: its keys are its own, so each key's order is defined."""
    return "t%d-%d" % (i % THREADS, i // THREADS % 25)


def write_from_threads(producer):
    """THREADS threads put PER_THREAD records each; every record's (error, result) by its number."""
    outcomes = defaultdict(list)

    def write(t):
        for i in range(t, THREADS * PER_THREAD, THREADS):
            producer.putRecord(Record({"i": i}, key_of(i)), lambda e, r, i=i: outcomes[i].append((e, r)))

    writers = [threading.Thread(target=write, args=(t,)) for t in range(THREADS)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    assert producer.close(60)
    return outcomes


def start_worker(server, stream, app, store, got):
    worker = AWSKinesisStreams.Worker(
        server.region, server.accessKeyId, server.secretAccessKey, stream,
        endpoint=server.endpoint, applicationName=app, leaseStore=store, initialPosition="TRIM_HORIZON",
        processRecords=lambda records, cb: (got.extend(r.data["i"] for r in records), cb(None, True)),
        leaseDuration=2.0, heartbeatPeriod=0.5, shardSyncPeriod=1.0, pace="fast",
    )
    worker.start()
    return worker


def stop(workers):
    stopped = [threading.Event() for _ in workers]
    for worker, event in zip(workers, stopped):
        worker.stop(lambda error, event=event: event.set())
    assert all(event.wait(20) for event in stopped)


def test_concurrent_put_records_on_one_shard_each_get_their_own_sequence_number(kinesis_mock):
    """moto 5.2 can give two concurrent PutRecords one sequence number; kinesis-mock, like AWS, does not."""
    stream = new_stream(kinesis_mock, 1)
    producer = AWSKinesisStreams.Producer(
        kinesis_mock.region, kinesis_mock.accessKeyId, kinesis_mock.secretAccessKey, stream, endpoint=kinesis_mock.endpoint
    )
    futures = [producer.putRecords([Record({"i": i * 10 + n}, "k%d" % n) for n in range(10)]) for i in range(200)]
    answers = [future.result(30) for future in futures]
    assert all(error is None and failed == 0 for error, failed, _ in answers)
    written = [result.sequenceNumber for _, _, results in answers for result in results]
    found = read_back(kinesis_mock, stream)
    assert len(set(written)) == len(found) == 2000
    assert [record["SequenceNumber"] for _, record in found] == sorted(written, key=int)
    assert sorted(json.loads(record["Data"])["i"] for _, record in found) == list(range(2000))


@pytest.mark.parametrize("aggregate", [True, False])
def test_buffered_producer_from_threads_then_two_workers_on_dynalite_count_every_record(kinesis_mock, dynalite, aggregate):
    stream, total = new_stream(kinesis_mock, 3), THREADS * PER_THREAD
    outcomes = write_from_threads(buffered(kinesis_mock, stream, aggregate=aggregate))
    assert sorted(outcomes) == list(range(total)) and all(len(got) == 1 for got in outcomes.values())
    assert [i for i, ((error, _),) in outcomes.items() if error is not None] == []

    at, ordered = user_records(read_back(kinesis_mock, stream))
    assert len(ordered) == total  # none lost, none twice, in the stream itself
    for i, ((_, result),) in outcomes.items():  # each where its result says
        assert at[result.shardId, result.sequenceNumber, result.subSequenceNumber] == (key_of(i), b'{"i":%d}' % i)
    by_key = defaultdict(list)
    for key, data in ordered:
        by_key[key].append(json.loads(data)["i"])
    assert all(numbers == sorted(numbers) for numbers in by_key.values())
    subs = Counter((result.shardId, result.sequenceNumber) for ((_, result),) in outcomes.values())
    assert (max(subs.values()) > 1) is aggregate  # many user records in one Kinesis record only when aggregating

    last = {}
    for (_, result), in outcomes.values():
        last[result.shardId] = max(last.get(result.shardId, 0), int(result.sequenceNumber))
    store, app, got = dynamodb_store(dynalite), "app-" + uuid.uuid4().hex[:6], []
    store.prepare()
    workers = [start_worker(kinesis_mock, stream, app, store, got) for _ in range(2)]

    def read_and_spread():
        leases = store.list(app, stream)
        done = {lease.shardId: lease.checkpoint for lease in leases} == {shard: str(n) for shard, n in last.items()}
        return done and len({lease.owner for lease in leases}) == 2  # the shards spread over both workers

    try:
        assert wait_for(read_and_spread, 30)
    finally:
        stop(workers)
    assert Counter(got) == Counter(range(total))  # every user record once, to one of the two


def test_put_then_pull_on_kinesis_mock_every_line_once(env, kinesis_mock, tmp_path):  # noqa: F811
    env = dict(env, AWS_ENDPOINT_URL_KINESIS=kinesis_mock.endpoint)
    stream = new_stream(kinesis_mock, 2)
    plain = run(env, "put", stream, input=b"".join(b'{"n": %d}\n' % n for n in range(500)))
    aggregated = run(env, "put", stream, "--aggregate", input=b"".join(b'{"n": %d}\n' % n for n in range(500, 1000)))
    assert plain.returncode == aggregated.returncode == 0, plain.stderr + aggregated.stderr
    assert b"500 written, 0 failed" in plain.stdout and b"500 written, 0 failed" in aggregated.stdout
    out = tmp_path / "out"
    pull = run(env, "pull", stream, "-t", "TRIM_HORIZON", "-o", str(out), "--until-caught-up")
    assert pull.returncode == 0, pull.stderr
    lines = [json.loads(line) for name in sorted(out.iterdir()) for line in name.read_text().splitlines()]
    assert Counter(json.loads(line["data"])["n"] for line in lines) == Counter(range(1000))
    assert sum(1 for line in lines if "subSequenceNumber" in line) == 500  # the aggregated half, unpacked


def test_leases_on_dynalite_for_a_kinesis_mock_stream(env, kinesis_mock, dynalite):  # noqa: F811
    env = dict(env, AWS_ENDPOINT_URL_KINESIS=kinesis_mock.endpoint)
    stream, app, got = new_stream(kinesis_mock, 2), "app-" + uuid.uuid4().hex[:6], []
    records = [Record({"i": i}, "key-%d" % i) for i in range(20)]
    error, failed, results = AWSKinesisStreams.Producer(
        kinesis_mock.region, kinesis_mock.accessKeyId, kinesis_mock.secretAccessKey, stream, endpoint=kinesis_mock.endpoint
    ).putRecords(records).result(10)
    assert error is None and failed == 0
    store = dynamodb_store(dynalite)
    store.prepare()
    worker = start_worker(kinesis_mock, stream, app, store, got)
    try:
        assert wait_for(lambda: len(got) >= 20 and all(lease.checkpoint.isdigit() for lease in store.list(app, stream)), 20)
        shown = run(env, "leases", stream, "--app", app, "--dynamodb", store.table, "--dynamodb-endpoint", dynalite, "--json")
    finally:
        stop([worker])
    assert shown.returncode == 0, shown.stderr
    last = {}
    for result in results:
        last[result.shardId] = max(last.get(result.shardId, 0), int(result.sequenceNumber))
    rows = json.loads(shown.stdout)
    assert {row["shardId"]: int(row["checkpoint"]) for row in rows} == last
    assert all(row["owner"] == worker.workerId for row in rows)
