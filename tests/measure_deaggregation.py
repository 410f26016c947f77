"""Client CPU per user record of the KPL codec, against aws-kinesis-agg (protobuf), in this process.

    python tests/measure_deaggregation.py

100-byte user records (JSON, so both readers can also decode them), 1000 partition keys,
51,200-byte aggregates. The reader figures start from a GetRecords answer body: ours through
the library's mapping (kinesis.py), boto3's through botocore's own parser, then aws-kinesis-agg.
Each figure is the best of several runs; on a busy machine read the ratios.
"""

import base64
import json
import os
import sys
import timeit

import botocore.session
from aws_kinesis_agg.aggregator import AggRecord
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from botocore.parsers import create_parser

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from awskinesisstreams.wire.kpl_aggregation import Aggregate, deaggregate  # noqa: E402
from awskinesisstreams.wire.received_records import _decode_json, _received, user_records  # noqa: E402

USERS = [("key-%d" % (i % 1000), None, json.dumps({"n": i, "pad": "x" * (82 - len(str(i)))}).encode()) for i in range(20000)]


def per_record(run, count, number=3):
    """Best microseconds per user record over 7 repetitions of `number` runs."""
    return min(timeit.repeat(run, number=number, repeat=7)) / number / count * 1e6


def packed():
    """USERS in aggregates of the KPL's default size."""
    blobs, aggregate = [], Aggregate()
    for user in USERS:
        if not aggregate.add(*user):
            blobs.append(aggregate.encode())
            aggregate = Aggregate()
            aggregate.add(*user)
    return blobs


def main() -> None:
    assert all(len(data) == 100 for _, _, data in USERS)
    blobs = packed()
    count = sum(len(deaggregate(blob)) for blob in blobs)
    print("%d user records of 100 bytes in %d aggregates" % (count, len(blobs)))

    def ours_pack():
        aggregate = Aggregate(10**8)
        for user in USERS:
            aggregate.add(*user)
        return aggregate.encode()

    def theirs_pack():
        aggregate = AggRecord(10**8)
        for key, hash_key, data in USERS:
            aggregate.add_user_record(key, data, hash_key)
        return aggregate.get_contents()

    print("pack:   Aggregate.add + encode %.2f us;  aws-kinesis-agg add_user_record + get_contents %.2f us"
          % (per_record(ours_pack, len(USERS)), per_record(theirs_pack, len(USERS), 1)))
    boto_form = [{"Data": b, "PartitionKey": "p", "SequenceNumber": str(i), "ApproximateArrivalTimestamp": 0}
                 for i, b in enumerate(blobs)]
    print("unpack: deaggregate %.2f us;  aws-kinesis-agg iter_deaggregate_records %.2f us"
          % (per_record(lambda: [deaggregate(b) for b in blobs], count),
             per_record(lambda: list(iter_deaggregate_records(boto_form, data_format="Boto3")), count)))

    body = json.dumps({
        "Records": [{"Data": base64.b64encode(b).decode(), "PartitionKey": "p", "SequenceNumber": str(10**50 + i),
                     "ApproximateArrivalTimestamp": 1.7e9 + i} for i, b in enumerate(blobs)],
        "NextShardIterator": "next", "MillisBehindLatest": 0}).encode()
    shape = botocore.session.get_session().get_service_model("kinesis").operation_model("GetRecords").output_shape
    parser = create_parser("json")

    def ours(is_blob):
        def read():
            records = user_records([_received(entry) for entry in json.loads(body)["Records"]])
            if not is_blob:
                _decode_json(records, None)
            return records
        return read

    def theirs(decode):
        def read():
            parsed = parser.parse({"body": body, "headers": {}, "status_code": 200}, shape)
            return [decode(base64.b64decode(r["kinesis"]["data"]))
                    for r in iter_deaggregate_records(parsed["Records"], data_format="Boto3")]
        return read

    assert [r.data for r in ours(True)()] == theirs(bytes)() and len(theirs(bytes)()) == count
    print("read, bytes: getRecords mapping %.2f us;  botocore parser + aws-kinesis-agg + b64decode %.2f us"
          % (per_record(ours(True), count), per_record(theirs(bytes), count)))
    print("read, JSON:  getRecords mapping %.2f us;  botocore parser + aws-kinesis-agg + json.loads %.2f us"
          % (per_record(ours(False), count), per_record(theirs(json.loads), count)))


if __name__ == "__main__":
    main()
