"""A minimal Kinesis stand-in for the benchmark: a 4-shard stream on 127.0.0.1 that stores nothing.

moto keeps every record in memory, spends milliseconds per call and closes the connection
after each answer, which would dominate a million-record run; this server answers on a
keep-alive connection as AWS does. It serves ListShards (4 shards splitting the hash range
evenly) and PutRecord(s), answering each entry with the shard its ExplicitHashKey or the MD5
of its partition key falls in, so a producer that predicts shards sees its predictions hold.
Run as `python bench/stub.py PORT` (the benchmark starts it in its own process).
"""

import hashlib
import http.server
import itertools
import json
import sys
from functools import lru_cache

SHARDS = 4
SPAN = 2**128 // SHARDS
FIRST_SEQUENCE = "49590338271490256608559692538361571095921575989136588898"
SEQUENCE = itertools.count(int(FIRST_SEQUENCE))
SHARD_LIST = json.dumps({
    "Shards": [
        {
            "ShardId": "shardId-%012d" % i,
            "HashKeyRange": {
                "StartingHashKey": str(i * SPAN),
                "EndingHashKey": str(2**128 - 1 if i == SHARDS - 1 else (i + 1) * SPAN - 1),
            },
            "SequenceNumberRange": {"StartingSequenceNumber": FIRST_SEQUENCE},
        }
        for i in range(SHARDS)
    ]
}).encode()


@lru_cache(maxsize=100_000)
def shard_of_key(partition_key: str) -> int:
    """The shard the MD5 of a partition key falls in."""
    return int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big") // SPAN


def entry(record: dict) -> str:
    """One PutRecord(s) result for a request entry."""
    explicit = record.get("ExplicitHashKey")
    shard = int(explicit) // SPAN if explicit else shard_of_key(record["PartitionKey"])
    return '{"SequenceNumber":"%d","ShardId":"shardId-%012d"}' % (next(SEQUENCE), min(shard, SHARDS - 1))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        action = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        status = 200
        if action == "PutRecords":
            entries = json.loads(body)["Records"]
            payload = ('{"FailedRecordCount":0,"Records":[%s]}' % ",".join(map(entry, entries))).encode()
        elif action == "PutRecord":
            payload = entry(json.loads(body)).encode()
        elif action == "ListShards":
            payload = SHARD_LIST
        else:
            status = 400
            payload = b'{"__type":"UnknownOperationException","message":"the stub serves ListShards and PutRecord(s)"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        """Silent: a million records make a lot of log lines."""


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()
