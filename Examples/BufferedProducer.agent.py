#!/usr/bin/env python3
"""AWSKinesisStreams.BufferedProducer example: many small readings, packed into few Kinesis records.

Every `--period` seconds three sensors each report a reading. The buffered producer collects
them for up to 0.1 s, aggregates them in the KPL format (one Kinesis record carries many
readings) and keeps each sensor's readings in order. `--count N` stops after N readings.
See example_settings.py for where the records go (AWS, --endpoint, or an embedded server).
"""

import sys

from example_settings import kinesis_target, parse_args

from awskinesisstreams import AWSKinesisStreams, imp, server

SENSORS = ("kitchen", "hall", "garden")


class SensorWriter:
    """Buffers one reading per sensor every period, and counts what the library answers."""

    def __init__(self, target, count=None, period=0.5):
        self._producer = AWSKinesisStreams.BufferedProducer(
            target.region, target.accessKeyId, target.secretAccessKey, target.streamName, **target.keywords()
        )
        self._count = count
        self._period = period
        self.given = 0
        self.failures = 0
        self.carriers = set()  # the Kinesis records (shard, sequence number) that carried the readings

    def done(self, error, result):
        if error:
            self.failures += 1
            server.error("Reading not written: " + error.details)
        else:
            self.carriers.add((result.shardId, result.sequenceNumber))
            server.log("Written: %s, Kinesis record %s, user record %d in it" % (result.shardId, result.sequenceNumber, result.subSequenceNumber))

    def readings(self):
        """Put the next reading of each sensor, then come back in `period` seconds until `count` are given."""
        for sensor in SENSORS:
            if self._count is not None and self.given >= self._count:
                break
            self.given += 1
            reading = {"sensor": sensor, "value": 20 + self.given % 7, "n": self.given}
            self._producer.putRecord(AWSKinesisStreams.Record(reading, sensor), self.done)
        if self._count is None or self.given < self._count:
            imp.wakeup(self._period, self.readings)

    def close(self):
        """Send what is still buffered and wait for every answer."""
        return self._producer.close()


def main():
    args = parse_args("Write sensor readings to a Kinesis stream with the buffered, aggregating producer.")
    with kinesis_target(args) as target:
        writer = SensorWriter(target, args.count, args.period)
        if args.count != 0:
            writer.readings()
        imp.run()  # returns once --count readings are given and answered
        writer.close()
    server.log("Wrote %d readings in %d Kinesis records, %d failed" % (writer.given, len(writer.carriers), writer.failures))
    return 1 if writer.failures else 0


if __name__ == "__main__":
    sys.exit(main())
