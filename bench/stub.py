"""A minimal Kinesis stand-in for the benchmark: answers PutRecord(s) on 127.0.0.1 and stores nothing.

moto keeps every record in memory, spends milliseconds per call and closes the connection
after each answer, which would dominate a million-record run; this server answers each
PutRecords with one success per record, on a keep-alive connection as AWS does.
Run as `python bench/stub.py PORT` (the benchmark starts it in its own process).
"""

import http.server
import sys
from functools import lru_cache

ENTRY = b'{"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ShardId":"shardId-000000000000"}'


@lru_cache(maxsize=None)
def answer(count: int) -> bytes:
    """A PutRecords answer with `count` successful entries."""
    return b'{"FailedRecordCount":0,"Records":[' + b",".join([ENTRY] * count) + b"]}"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        action = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        if action == "PutRecords":
            status, payload = 200, answer(body.count(b'"PartitionKey"'))
        elif action == "PutRecord":
            status, payload = 200, ENTRY
        else:
            status, payload = 400, b'{"__type":"UnknownOperationException","message":"the stub serves PutRecord(s) only"}'
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
