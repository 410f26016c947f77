"""`kinesis-streams put`: one record per input line, written with putRecords in batches of up to 500 records and 5 MiB.

With --aggregate the lines go through a BufferedProducer instead, packed many to a Kinesis
record in the KPL format (readers must deaggregate: `pull` does by default).

Batches go one at a time unless --parallel says more: moto's server (the embedded local
Kinesis) numbers records racily, and loses some when two writes reach one shard at once.
Records that fail are resent by the producer's retry policy (retry.py); those that still
fail are counted, and written as their original lines to the --failed file.
"""

import argparse
import json
import random
import sys
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Deque, Iterable, Iterator, List, Optional, Tuple

from .target import Target, UsageError, positive
from ..enums import AWS_KINESIS_STREAMS_ERROR
from ..error import Error
from ..wire.kinesis import MAX_PUT_BYTES, MAX_RECORDS_PER_PUT
from ..producer import Producer
from ..record import Record
from ..transport.retry import is_retryable

Line = Tuple[bytes, Record]  # the input line as read, and the record made from it
Failure = Tuple[bytes, str]  # the input line, and why it was not written


def send(producer: Producer, batch: List[Line]) -> List[Failure]:
    """Put a batch; returns the lines that never got in, with why.

    The producer's retry policy already resent throttled records and lost calls; a refusal
    of the request itself (a missing stream, access denied) stops the command.
    """
    error, _, results = producer.putRecords([record for _, record in batch]).result()
    if error is not None:
        if not is_retryable(error):
            raise error
        return [(line, error.awsErrorType or error.type.name) for line, _ in batch]
    return [(line, result.errorCode) for (line, _), result in zip(batch, results) if result.errorCode]


def _lines(source: IO[bytes]) -> Iterator[bytes]:
    for line in source:
        line = line.rstrip(b"\r\n")
        if line:
            yield line


def _key(line: bytes, args: argparse.Namespace) -> str:
    """The partition key: -k, the --key-field of a JSON line, or a random 128-bit number."""
    if args.key:
        return str(args.key)
    if not args.key_field:
        return "%032x" % random.getrandbits(128)
    try:
        value = json.loads(line)[args.key_field]
    except (ValueError, KeyError, TypeError, IndexError):
        raise ValueError("no %r field in a JSON object" % args.key_field) from None
    return value if isinstance(value, str) else json.dumps(value)


def batches(lines: Iterable[bytes], args: argparse.Namespace, tally: "Tally") -> Iterator[List[Line]]:
    """Group records into putRecords batches; lines that cannot be records are counted as failed, with why."""
    batch: List[Line] = []
    size = 0
    for line in lines:
        try:
            record = Record(line, _key(line, args))
            record_size = len(record.encode()) + len(record.partitionKey.encode("utf-8"))
        except (ValueError, Error) as exc:
            tally.add(0, [(line, getattr(exc, "details", str(exc)))])
            continue
        if batch and (len(batch) == MAX_RECORDS_PER_PUT or size + record_size > MAX_PUT_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((line, record))
        size += record_size
    if batch:
        yield batch


class Tally:
    """What became of the lines: counts and reasons, the failed lines written to --failed as they come, and progress."""

    def __init__(self, failed_path: Optional[str]) -> None:
        try:
            self.failed_file = open(failed_path, "wb") if failed_path else None
        except OSError as exc:
            raise UsageError("cannot write %s: %s" % (failed_path, exc.strerror)) from None
        self.written = 0
        self.reasons: Counter = Counter()
        self.live = sys.stderr.isatty()
        self.shown = time.monotonic()

    @property
    def failed(self) -> int:
        return sum(self.reasons.values())

    def add(self, written: int, lost: List[Failure]) -> None:
        self.written += written
        for line, reason in lost:
            self.reasons[reason] += 1
            if self.failed_file is not None:
                self.failed_file.write(line + b"\n")
        now = time.monotonic()
        if now - self.shown >= (0.1 if self.live else 1.0):
            self.shown = now
            text = "put: %d written, %d failed" % (self.written, self.failed)
            sys.stderr.write("\r\x1b[K" + text if self.live else text + "\n")
            sys.stderr.flush()

    def close(self) -> None:
        """Close the failed file and clear the live line: the summary follows."""
        if self.failed_file is not None:
            self.failed_file.close()
        if self.live:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def put_aggregated(target: Target, lines: Iterable[bytes], args: argparse.Namespace, tally: "Tally") -> None:
    """--aggregate: every line through a BufferedProducer; outcomes are tallied as they come back."""
    answers: Deque[Tuple[bytes, Optional[Error]]] = deque()

    def settle() -> None:
        while answers:
            line, error = answers.popleft()
            if error is None:
                tally.add(1, [])
            else:  # a line that cannot be a record says why; a write that failed, its AWS error
                reason = error.details if error.type is AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR else error.type.name
                tally.add(0, [(line, error.awsErrorType or reason)])

    with target.buffered_producer() as producer:
        for line in lines:
            try:
                record = Record(line, _key(line, args))
            except ValueError as exc:
                tally.add(0, [(line, str(exc))])
                continue
            producer.putRecord(record, lambda error, _, line=line: answers.append((line, error)))
            settle()
    settle()


def put_batches(target: Target, lines: Iterable[bytes], args: argparse.Namespace, tally: "Tally") -> None:
    """Lines in putRecords batches, up to --parallel of them in flight."""
    producer = target.producer()
    in_flight: Deque[Tuple[int, "Future[List[Failure]]"]] = deque()

    def settle(count: int, future: "Future[List[Failure]]") -> None:
        lost = future.result()
        tally.add(count - len(lost), lost)

    with ThreadPoolExecutor(args.parallel) as senders:
        for batch in batches(lines, args, tally):
            in_flight.append((len(batch), senders.submit(send, producer, batch)))
            if len(in_flight) > 2 * args.parallel:
                settle(*in_flight.popleft())
        while in_flight:
            settle(*in_flight.popleft())


def run(args: argparse.Namespace) -> int:
    if args.key and args.key_field:
        raise UsageError("give -k or --key-field, not both")
    target = Target.from_args(args)
    target.summary()  # fails at once, before reading any input, if the stream is not there
    try:
        source = sys.stdin.buffer if args.file in (None, "-") else open(args.file, "rb")
    except OSError as exc:
        raise UsageError("cannot read %s: %s" % (args.file, exc.strerror)) from None
    tally = Tally(args.failed)
    started = time.monotonic()
    try:
        with source:
            (put_aggregated if args.aggregate else put_batches)(target, _lines(source), args, tally)
    finally:
        tally.close()
    seconds = max(time.monotonic() - started, 1e-6)
    written, failed = tally.written, tally.failed
    print(
        "put %d records into %s in %.1f s (%.0f records/s): %d written, %d failed"
        % (written + failed, target.stream, seconds, written / seconds, written, failed)
    )
    if tally.failed:
        print("failed: " + ", ".join("%d %s" % (n, reason) for reason, n in tally.reasons.most_common()))
        print("the failed lines are in %s" % args.failed if args.failed else "give --failed FILE to keep the failed lines")
        return 1
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("stream", metavar="STREAM", help="the stream's name")
    add("file", nargs="?", help="read lines from FILE (default, or -: standard input)")
    add("-k", dest="key", metavar="KEY", help="partition key of every record")
    add("--key-field", metavar="FIELD", help="partition key from this field of each line's JSON object")
    add("--parallel", type=positive, default=1, metavar="N",
        help="batches in flight at once (default 1; more is faster on AWS, lossy on moto)")
    add("--failed", metavar="FILE", help="write the lines that could not be put to FILE")
    add("--aggregate", action="store_true",
        help="pack many lines into each Kinesis record (the KPL format) with the buffered producer")
