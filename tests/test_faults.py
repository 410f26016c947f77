"""Nothing is lost under faults: every record handed to a Producer gets exactly one outcome.

Thousands of records go through a fault-injecting proxy in front of the real moto server;
a second test kills its server mid-run. Successes are read back from the stream with boto3.
"""

import json
import time
from collections import Counter, defaultdict
from concurrent.futures import wait

from conftest import boto_kinesis, new_stream, producer

from awskinesisstreams import AWSKinesisStreams
from awskinesisstreams.local import LocalKinesis
from proxy import Faults, Proxy

Record = AWSKinesisStreams.Record

RATES = Faults(
    drop=0.02,
    delay=0.02,
    truncate=0.02,
    garble=0.01,
    server_error=0.04,
    throttle=0.05,
    fail_records=0.05,
    delay_seconds=0.8,
    seed=20261122,
)
SINGLE_RECORDS = 800
BATCHES = 32
BATCH_SIZE = 100
TIME_LIMIT = 60.0


def drive(p, first_id, singles, batches, batch_size, outcomes):
    """putRecord `singles` records and putRecords `batches` batches; record each callback outcome by id."""

    def single(rid):
        return lambda err, result: outcomes[rid].append((err, result))

    def batch(ids):
        def callback(err, failed, results):
            if err is not None:
                for rid in ids:
                    outcomes[rid].append((err, None))
                return
            assert len(results) == len(ids) and failed == sum(r.errorCode is not None for r in results)
            for rid, result in zip(ids, results):
                outcomes[rid].append((None, result))

        return callback

    futures = []
    ids = iter(range(first_id, first_id + singles + batches * batch_size))
    for _ in range(batches):
        chunk = [next(ids) for _ in range(batch_size)]
        futures.append(p.putRecords([Record({"id": i}, "pk-%d" % i) for i in chunk], batch(chunk)))
        for _ in range(singles // batches):
            rid = next(ids)
            futures.append(p.putRecord(Record({"id": rid}, "pk-%d" % rid), single(rid)))
    return futures


def read_stream(server, name):
    """Every record in the stream, straight from the server: {(shardId, sequenceNumber): (partitionKey, data)}."""
    kinesis = boto_kinesis(server)
    found = {}
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while True:
            answer = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            for record in answer["Records"]:
                found[shard["ShardId"], record["SequenceNumber"]] = (record["PartitionKey"], json.loads(record["Data"]))
            if not answer["Records"]:
                break
            iterator = answer["NextShardIterator"]
    return found


def outcome_counts(outcomes, expected_ids):
    """(lost, reported twice, successes, failures) over the records handed to the library."""
    lost = [rid for rid in expected_ids if not outcomes.get(rid)]
    twice = [rid for rid, got in outcomes.items() if len(got) > 1]
    successes = {rid: got[0][1] for rid, got in outcomes.items() if got[0][0] is None and got[0][1].errorCode is None}
    return lost, twice, successes, len(expected_ids) - len(lost) - len(successes)


def test_thousands_of_records_through_faults_each_get_one_outcome(moto_server):
    name = new_stream(moto_server, 2)
    outcomes = defaultdict(list)
    started = time.monotonic()
    with Proxy(moto_server.endpoint, faults=RATES) as proxy:
        p = AWSKinesisStreams.Producer(
            "us-east-1", "testing", "testing", name, endpoint=proxy.endpoint,
            timeout=AWSKinesisStreams.Timeout(connect=2.0, read=0.4),
        )
        futures = drive(p, 0, SINGLE_RECORDS, BATCHES, BATCH_SIZE, outcomes)
        done, not_done = wait(futures, TIME_LIMIT)
        assert p.close(5)
        injected = dict(proxy.injected)
    elapsed = time.monotonic() - started
    total = SINGLE_RECORDS + BATCHES * BATCH_SIZE

    lost, twice, successes, failures = outcome_counts(outcomes, range(total))
    in_stream = read_stream(moto_server, name)
    missing = [rid for rid, result in successes.items() if in_stream.get((result.shardId, result.sequenceNumber)) != ("pk-%d" % rid, {"id": rid})]
    copies = Counter(data["id"] for _, data in in_stream.values())
    kinds = Counter(err.type.name if err else result.errorCode for got in outcomes.values() for err, result in got
                    if err is not None or result.errorCode is not None)
    print(
        "\nfaults %s; %d records in %.1f s: lost %d, reported twice %d, successes %d (not in stream %d), "
        "final failures %d %s, written twice in the stream %d; injected %s"
        % (RATES, total, elapsed, len(lost), len(twice), len(successes), len(missing), failures, dict(kinds),
           sum(1 for n in copies.values() if n > 1), injected)
    )
    assert not not_done and elapsed < TIME_LIMIT
    assert lost == [] and twice == [] and missing == []
    assert all(injected.get(kind, 0) > 0 for kind in ("drop", "delay", "truncate", "garble", "server_error", "throttle", "fail_records"))
    assert len(successes) > 0.9 * total  # the retries did their work; a garbled answer is never retried
    for rid, got in outcomes.items():
        err, result = got[0]
        assert err is not None or result.errorCode is not None or result.sequenceNumber
        assert err is None or err.details
        assert result is None or result.errorCode is None or result.errorMessage


def test_server_killed_mid_run_every_record_still_gets_one_outcome():
    outcomes = defaultdict(list)
    with LocalKinesis() as local:
        name = new_stream(local, 1)
        p = producer(local, name, timeout=AWSKinesisStreams.Timeout(connect=1.0, read=2.0))
        futures = drive(p, 0, 300, 20, 25, outcomes)
        deadline = time.monotonic() + 20
        while len(outcomes) < 150 and time.monotonic() < deadline:
            time.sleep(0.005)
        local.stop()
        at_kill = len(outcomes)
        done, not_done = wait(futures, 30)
        assert p.close(5)
    lost, twice, successes, failures = outcome_counts(outcomes, range(800))
    print("\nserver killed after %d outcomes: lost %d, twice %d, successes %d, failures %d" % (
        at_kill, len(lost), len(twice), len(successes), failures))
    assert not not_done
    assert lost == [] and twice == []
    assert len(successes) >= 150 and failures > 0
