"""One worker process for the multi-process tests: reads a stream with AWSKinesisStreams.Worker and
appends every record it processes to its own file, one line each:

    number partitionKey shardId sequenceNumber monotonic_ns

then checkpoints after each batch (--checkpoint-delay seconds later: a worker killed in that
window leaves processed records after its last checkpoint). SIGTERM stops it gracefully (Worker.stop), which ends with a
line "STOPPED". It exits by itself after --deadline seconds, whatever happens.
"""

import argparse
import signal
import sys
import time

from awskinesisstreams import AWSKinesisStreams, imp


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kinesis", required=True, help="Kinesis endpoint")
    parser.add_argument("--stream", required=True)
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--sqlite", help="SQLite lease store file")
    parser.add_argument("--dynamodb", help="DynamoDB endpoint (lease table --table)")
    parser.add_argument("--table", default="leases")
    parser.add_argument("--lease-duration", type=float, default=3.0)
    parser.add_argument("--checkpoint-delay", type=float, default=0.0)
    parser.add_argument("--deadline", type=float, default=150.0)
    parser.add_argument("--defaults", action="store_true", help="the library's default timings, not the tests' short ones")
    args = parser.parse_args()

    if args.sqlite:
        store = AWSKinesisStreams.SQLiteLeaseStore(args.sqlite)
    else:
        store = AWSKinesisStreams.DynamoDBLeaseStore(args.table, "us-east-1", "testing", "testing", endpoint=args.dynamodb)
    out = open(args.out, "a", buffering=1 << 20)
    stopped = []

    def process(records, cb):
        now = time.monotonic_ns()
        for record in records:
            out.write("%d %s %s %s %d\n" % (record.data["n"], record.partitionKey, cb.shardId, record.sequenceNumber, now))
        out.flush()
        if args.checkpoint_delay:
            imp.wakeup(args.checkpoint_delay, lambda: cb(None, True))
        else:
            cb(None, True)

    def on_error(shard_id, error):
        print("onError %s: %s" % (shard_id, error), file=sys.stderr, flush=True)

    timings = {} if args.defaults else {
        "leaseDuration": args.lease_duration,
        "heartbeatPeriod": args.lease_duration / 3,
        "shardSyncPeriod": 2.0,
        "pace": "fast",
    }
    worker = AWSKinesisStreams.Worker(
        "us-east-1",
        "testing",
        "testing",
        args.stream,
        timings,
        endpoint=args.kinesis,
        processRecords=process,
        onError=on_error,
        leaseStore=store,
        workerId=args.worker_id,
    )

    def finished(error):
        out.write("STOPPED\n")
        out.flush()
        stopped.append(error)
        imp.stop()

    signal.signal(signal.SIGTERM, lambda *_: worker.stop(finished))
    worker.start(lambda error: error and on_error(None, error))
    deadline = time.monotonic() + args.deadline
    while not stopped and time.monotonic() < deadline:
        imp.run(timeout=0.2)
    return 0 if stopped == [None] else 1


if __name__ == "__main__":
    sys.exit(main())
