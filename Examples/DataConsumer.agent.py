#!/usr/bin/env python3
"""AWSKinesisStreams.Consumer example, ported from the Squirrel DataConsumer agent.

It reads every shard of the stream from LATEST (only records written after it started),
every `--period` seconds, and prints them. When a shard closes (nextOptions None, after a
reshard) it lists the shards again and reads the new ones. `--count N` stops it after N records.

When it started the embedded local Kinesis itself, nobody else can write to that stream,
so a small built-in writer (below, marked) puts records there for it to read.
See example_settings.py for where it reads from (AWS, --endpoint, or an embedded server).
"""

import json
import sys

from example_settings import kinesis_target, parse_args

from awskinesisstreams import AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE, AWSKinesisStreams, imp, server

RECORDS_LIMIT = 10


class DataConsumer:
    """Reads new records from all shards of one stream."""

    def __init__(self, target, count=None, period=0.5, onReading=None):
        self._awsConsumer = AWSKinesisStreams.Consumer(
            target.region, target.accessKeyId, target.secretAccessKey, target.streamName, **target.keywords()
        )
        self._shardIterators = {}
        self._count = count
        self._period = period
        self._onReading = onReading  # called once, when every shard has its first iterator
        self.read = 0
        self.stopped = False

    def readRecords(self, shardId, options):
        """Read one batch from a shard, print it, and come back for the next one."""

        def done(error, records, millisBehindLatest, nextOptions):
            if self.stopped:
                return
            if error:
                server.error("Data reading failed: " + error.details)
                imp.wakeup(self._period, lambda: self.readData(shardId))
                return
            if records:
                server.log("Data read successfully:")
            for record in records:
                server.log("data: %s, timestamp: %d" % (json.dumps(record.data, separators=(",", ":")), record.timestamp))
                self.read += 1
                if self._count is not None and self.read >= self._count:
                    return self.stop()
            if nextOptions:
                self._shardIterators[shardId] = nextOptions["shardIterator"]
                imp.wakeup(self._period, lambda: self.readRecords(shardId, nextOptions))
            else:
                # the shard has been closed: list the shards again to find its children
                self._shardIterators[shardId] = None
                self.initShardIterators()

        self._awsConsumer.getRecords(options, done)

    def readData(self, shardId):
        """Start reading a shard from its current iterator."""
        shardIterator = self._shardIterators.get(shardId)
        if shardIterator:
            self.readRecords(shardId, {"shardIterator": shardIterator, "limit": RECORDS_LIMIT})

    def initShardIterator(self, shardId):
        """Get a LATEST iterator for a shard, then start reading it."""
        self._shardIterators[shardId] = None

        def done(error, shardIterator):
            if error:
                server.error("getShardIterator failed: " + error.details)
                return
            self._shardIterators[shardId] = shardIterator
            if self._onReading and all(self._shardIterators.values()):
                self._onReading, onReading = None, self._onReading
                onReading()
            self.readData(shardId)

        self._awsConsumer.getShardIterator(shardId, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE.LATEST, None, done)

    def initShardIterators(self):
        """Start reading every shard not seen yet."""

        def done(error, shardIds):
            if error:
                server.error("getShards failed: " + error.details)
                return
            server.log("Reading shards %s from LATEST" % ", ".join(shardIds))
            for shardId in shardIds:
                if shardId not in self._shardIterators:
                    self.initShardIterator(shardId)

        self._awsConsumer.getShards(done)

    def start(self):
        self.initShardIterators()

    def stop(self):
        self.stopped = True
        imp.stop()


# -- built-in writer: only when this script started the embedded local Kinesis ----------
def startBuiltInWriter(target, consumer, period):
    """Put one record every `period` seconds until the consumer stops, so there is something to read."""
    producer = AWSKinesisStreams.Producer(
        target.region, target.accessKeyId, target.secretAccessKey, target.streamName, **target.keywords()
    )
    counter = [0]

    def write():
        if consumer.stopped:
            return
        counter[0] += 1
        producer.putRecord(AWSKinesisStreams.Record({"value": counter[0], "origin": "built-in writer"}, str(counter[0])))
        imp.wakeup(period, write)

    server.log("Built-in writer: putting a record every %.2f s" % period)
    write()
# -- end of the built-in writer ------------------------------------------------------------


def main():
    args = parse_args("Read new records from every shard of a Kinesis stream.")
    with kinesis_target(args) as target:
        writer = (lambda: startBuiltInWriter(target, consumer, args.period / 2)) if target.embedded else None
        consumer = DataConsumer(target, args.count, args.period, onReading=writer)
        consumer.start()
        imp.run()  # returns once --count records are read (or never, reading forever)
    server.log("Read %d records" % consumer.read)
    return 0


if __name__ == "__main__":
    sys.exit(main())
