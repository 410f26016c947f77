"""Coordinated reading with AWSKinesisStreams.Worker: run it in several terminals and the shards spread out.

With no AWS settings it starts the embedded local Kinesis, creates a two-shard stream and writes
a reading every half second itself. With AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION
set it reads --stream on AWS. Leases live in an SQLite file (--leases) that every worker on this
machine shares. --count N ends it after N records.

--fan-out NAME reads by enhanced fan-out: the stream pushes each shard's records to the
stream consumer NAME (registered if missing) instead of the worker polling for them. The
embedded local Kinesis does not serve it; AWS does, and so does kinesis-mock (set
AWS_ENDPOINT_URL_KINESIS to it).

    python Examples/Worker.agent.py --count 20
"""

import argparse
import os
import signal
import tempfile

from awskinesisstreams import AWSKinesisStreams, imp, server

parser = argparse.ArgumentParser(description="Read a stream's shards together with other workers.")
parser.add_argument("--stream", default="worker-demo")
parser.add_argument("--count", type=int, default=0, help="stop after this many records (0: run until Ctrl-C)")
parser.add_argument("--leases", default=os.path.join(tempfile.gettempdir(), "worker-demo-leases.sqlite3"))
parser.add_argument("--fan-out", metavar="NAME", help="read by enhanced fan-out as stream consumer NAME")
args = parser.parse_args()

local = None
if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
    REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    KEY_ID, SECRET, ENDPOINT = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], None
elif args.fan_out:
    parser.error("--fan-out needs AWS settings: the embedded local Kinesis does not serve SubscribeToShard")
else:
    from awskinesisstreams.local import LocalKinesis

    local = LocalKinesis().start()
    local.create_stream(args.stream, shards=2)
    REGION, KEY_ID, SECRET, ENDPOINT = local.region, local.accessKeyId, local.secretAccessKey, local.endpoint
    args.leases += ".%d" % local.port  # a fresh local server: fresh leases

processed = 0


def init(shardId, cb):
    server.log("now reading " + shardId)
    cb(None)


def processRecords(records, cb):
    global processed
    for record in records:
        server.log("%s %s: %s" % (cb.shardId, record.partitionKey, record.data))
    processed += len(records)
    cb(None, True)  # checkpoint after the last of these records
    if args.count and processed - len(records) < args.count <= processed:
        worker.stop(finished)


def onShardClosed(shardId, cb):
    server.log(shardId + " is closed and read to its end")
    cb(None)


def onError(shardId, error):
    server.error("%s: %s" % (shardId, error))


def finished(error):
    server.log("stopped after %d records, leases released" % processed)
    if local is not None:
        local.stop()
    imp.stop()


worker = AWSKinesisStreams.Worker(
    REGION,
    KEY_ID,
    SECRET,
    args.stream,
    {
        "init": init,
        "processRecords": processRecords,
        "onShardClosed": onShardClosed,
        "onError": onError,
        "leaseStore": AWSKinesisStreams.SQLiteLeaseStore(args.leases),
        "initialPosition": "TRIM_HORIZON",
        "fanOut": args.fan_out,  # None: poll with GetRecords
    },
    endpoint=ENDPOINT,
)
worker.start(lambda error: server.error(error) if error else server.log("worker %s started" % worker.workerId))
signal.signal(signal.SIGINT, lambda *_: worker.stop(finished))

if local is not None:
    producer = AWSKinesisStreams.Producer(REGION, KEY_ID, SECRET, args.stream, endpoint=ENDPOINT)
    sent = [0]

    def produce():
        sent[0] += 1
        producer.putRecord(AWSKinesisStreams.Record({"reading": sent[0]}, "sensor-%d" % (sent[0] % 3)))
        if not args.count or sent[0] < args.count:
            imp.wakeup(0.5, produce)

    produce()

imp.run()
