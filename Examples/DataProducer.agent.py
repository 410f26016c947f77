#!/usr/bin/env python3
"""AWSKinesisStreams.Producer example, ported from the Squirrel DataProducer agent.

Every `--period` seconds it writes a counter value with its origin: one record with
putRecord, then two with putRecords, and so on. `--count N` stops it after N records.
See example_settings.py for where the records go (AWS, --endpoint, or an embedded server).
"""

import json
import sys

from example_settings import kinesis_target, parse_args

from awskinesisstreams import AWSKinesisStreams, imp, server


class DataProducer:
    """Writes increasing values to one stream, alternating putRecord and putRecords."""

    def __init__(self, target, count=None, period=0.5):
        self._awsProducer = AWSKinesisStreams.Producer(
            target.region, target.accessKeyId, target.secretAccessKey, target.streamName, **target.keywords()
        )
        self._counter = 0
        self._writeSingleRecord = True
        self._count = count
        self._period = period
        self.failures = 0

    @property
    def written(self):
        """How many records were handed to the library so far."""
        return self._counter

    def getData(self, isMultiple):
        """The next record: the counter value and the method that writes it."""
        self._counter += 1
        body = {"value": self._counter, "origin": "putRecords" if isMultiple else "putRecord"}
        return AWSKinesisStreams.Record(body, "testPartitionKey")

    def writeRecord(self):
        record = self.getData(False)

        def done(error, putResult):
            if error:
                self.failures += 1
                server.error("Data writing failed: " + error.details)
            else:
                server.log("Data written successfully:")
                server.log(json.dumps(record.data, separators=(",", ":")))

        self._awsProducer.putRecord(record, done)

    def writeMultipleRecords(self):
        records = [self.getData(True), self.getData(True)]

        def done(error, failedRecordCount, putResults):
            if error:
                self.failures += len(records)
                server.error("Data writing failed: " + error.details)
            elif failedRecordCount > 0:
                self.failures += failedRecordCount
                server.log("Data writing partially failed:")
                for result in putResults:
                    if result.errorCode:
                        server.log("%s: %s" % (result.errorCode, result.errorMessage))
            else:
                server.log("Data written successfully:")
                for record in records:
                    server.log(json.dumps(record.data, separators=(",", ":")))

        self._awsProducer.putRecords(records, done)

    def writeData(self):
        """Write once, then come back in `period` seconds until `count` records are written."""
        remaining = None if self._count is None else self._count - self._counter
        if self._writeSingleRecord or remaining == 1:
            self.writeRecord()
        else:
            self.writeMultipleRecords()
        self._writeSingleRecord = not self._writeSingleRecord
        if self._count is None or self._counter < self._count:
            imp.wakeup(self._period, self.writeData)


def main():
    args = parse_args("Write counter values to a Kinesis stream with putRecord and putRecords.")
    with kinesis_target(args) as target:
        producer = DataProducer(target, args.count, args.period)
        if args.count != 0:
            producer.writeData()
        imp.run()  # returns once --count records are written and answered
    server.log("Wrote %d records, %d failed" % (producer.written, producer.failures))
    return 1 if producer.failures else 0


if __name__ == "__main__":
    sys.exit(main())
