"""Workers as separate processes share a kinesalite stream while it is written, resharded, and
while one worker is killed (SIGKILL) and another stopped gracefully (SIGTERM); with the SQLite
lease store and with the DynamoDB one (on moto's server, made atomic by a proxy).
"""

import collections
import os
import signal
import subprocess
import sys
import time

import pytest
from atomic_dynamodb import dynamodb_store
from conftest import boto_kinesis, new_stream, producer, wait_for

from awskinesisstreams import AWSKinesisStreams
from awskinesisstreams.leases.store import SHARD_END, SQLiteLeaseStore

RECORDS = 20000
BATCH = 500
KEYS = 8
LEASE = 3.0
SCRIPT = os.path.join(os.path.dirname(__file__), "worker_process.py")
HASH_STEP = 2**128 // KEYS  # key i lands at i * HASH_STEP: two keys per shard of four, one per child after a split


class Workers:
    """The worker processes of one run, each bounded in time and killed at the end whatever happens."""

    def __init__(self, tmp_path, base_args):
        self.tmp_path = tmp_path
        self.base_args = base_args
        self.procs = {}

    def start(self, name, *extra):
        out = self.tmp_path / (name + ".txt")
        log = open(self.tmp_path / (name + ".log"), "w")
        args = [sys.executable, SCRIPT, "--worker-id", name, "--out", str(out)] + self.base_args + list(extra)
        self.procs[name] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    def lines(self):
        """Every worker's processed records: name -> [(number, key, shard, sequence, time)], and who stopped."""
        records, stopped = {}, set()
        for name in self.procs:
            path = self.tmp_path / (name + ".txt")
            rows = []
            for line in path.read_text().splitlines() if path.exists() else []:
                if line == "STOPPED":
                    stopped.add(name)
                    continue
                number, key, shard, sequence, stamp = line.split()
                rows.append((int(number), key, shard, sequence, int(stamp)))
            records[name] = rows
        return records, stopped

    def close(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def split_first_shard(server, stream):
    client = boto_kinesis(server)
    client.split_shard(StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**125))
    client.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})


@pytest.mark.parametrize("kind", ["sqlite", "dynamodb"])
def test_worker_processes_survive_kill_split_and_graceful_stop(request, kinesalite, tmp_path, kind):
    stream = new_stream(kinesalite, 4)
    if kind == "sqlite":
        store = SQLiteLeaseStore(str(tmp_path / "leases.sqlite3"))
        store_args = ["--sqlite", store.path]
    else:
        endpoint = request.getfixturevalue("dynamodb_endpoint")
        store = dynamodb_store(endpoint)
        store_args = ["--dynamodb", endpoint, "--table", store.table]
    base = ["--kinesis", kinesalite.endpoint, "--stream", stream, "--lease-duration", str(LEASE)] + store_args
    workers = Workers(tmp_path, base)
    try:
        workers.start("w0", "--checkpoint-delay", "0.5")  # to be killed, likely between a batch and its checkpoint
        workers.start("w1")
        workers.start("w2")
        put = producer(kinesalite, stream)
        last_in_shard = {}
        for batch in range(RECORDS // BATCH):
            numbers = range(batch * BATCH, (batch + 1) * BATCH)
            records = [
                AWSKinesisStreams.Record({"n": n}, "key%d" % (n % KEYS), str(HASH_STEP * (n % KEYS) + 7)) for n in numbers
            ]
            error, failed, results = put.putRecords(records).result(30)
            assert error is None and failed == 0
            for result in results:
                last_in_shard[result.shardId] = result.sequenceNumber
            if batch == 8:
                # kill w0 mid-stream: once it has processed records (however slowly the processes started)
                assert wait_for(lambda: workers.lines()[0]["w0"], 60, step=0.5), "w0 processed nothing in 60 s"
                workers.procs["w0"].send_signal(signal.SIGKILL)
            elif batch == 14:
                split_first_shard(kinesalite, stream)
            elif batch == 20:
                workers.start("w3")
            elif batch == 26:
                workers.procs["w1"].send_signal(signal.SIGTERM)
            time.sleep(0.25)

        def final_checkpoints():
            checkpoints = {lease.shardId: lease.checkpoint for lease in store.list(stream, stream)}
            open_shards = {shard: sequence for shard, sequence in last_in_shard.items() if shard != "shardId-000000000000"}
            return checkpoints.get("shardId-000000000000") == SHARD_END and all(
                checkpoints.get(shard) == sequence for shard, sequence in open_shards.items()
            )

        assert wait_for(final_checkpoints, 60, step=0.5), store.list(stream, stream)
        assert workers.procs["w1"].wait(15) == 0
        for name in ("w2", "w3"):
            workers.procs[name].send_signal(signal.SIGTERM)
            assert workers.procs[name].wait(15) == 0
    finally:
        workers.close()

    per_worker, stopped = workers.lines()
    assert stopped == {"w1", "w2", "w3"}
    assert per_worker["w0"], "w0 was killed before it read anything"

    # every record processed at least once, and its shard's final checkpoint is SHARD_END or its last record
    occurrences = collections.defaultdict(list)
    for name, rows in per_worker.items():
        for row in rows:
            occurrences[row[0]].append(name)
    assert set(occurrences) == set(range(RECORDS))
    leases = {lease.shardId: lease for lease in store.list(stream, stream)}
    assert leases["shardId-000000000000"].checkpoint == SHARD_END
    children = [lease for lease in leases.values() if lease.parents == ("shardId-000000000000",)]
    assert len(children) == 2 and all(last_in_shard.get(lease.shardId) == lease.checkpoint for lease in children)

    # per partition key in order: in each worker's file, and in the order records were first processed
    for rows in per_worker.values():
        by_key = collections.defaultdict(list)
        for number, key, *_ in rows:
            by_key[key].append(number)
        assert all(numbers == sorted(set(numbers)) for numbers in by_key.values())
    first = {}
    for row in sorted((row for rows in per_worker.values() for row in rows), key=lambda row: row[4]):
        first.setdefault(row[0], row)
    by_key = collections.defaultdict(list)
    for number, key, _, _, stamp in sorted(first.values(), key=lambda row: (row[4], row[0])):
        by_key[key].append(number)
    assert all(numbers == sorted(numbers) for numbers in by_key.values())

    # duplicates: only records the killed worker processed after its last checkpoint (a tail of each of
    # its shards), each once more by the worker that took the shard over; none from the graceful stop
    duplicated = {number for number, names in occurrences.items() if len(names) > 1}
    assert all(len(occurrences[n]) == 2 and "w0" in occurrences[n] and occurrences[n].count("w0") == 1 for n in duplicated)
    tails = collections.defaultdict(list)
    for number, _, shard, _, _ in per_worker["w0"]:
        tails[shard].append(number in duplicated)
    assert all(flags == sorted(flags) for flags in tails.values())  # never a duplicate before a non-duplicate
