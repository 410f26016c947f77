"""`kinesis-streams consumers STREAM`: the stream's enhanced fan-out consumers; `--register NAME` / `--deregister NAME`."""

import argparse
import json
from typing import Any, Callable, Dict, List, TypeVar

from .target import Target, UsageError, table, when
from ..enums import AWS_KINESIS_STREAMS_ERROR
from ..error import Error
from ..wire.stream_consumers import StreamConsumers
from ..wire.kinesis import Kinesis

T = TypeVar("T")
HEADER = ["NAME", "STATUS", "CREATED", "ARN"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stream", metavar="STREAM", help="the stream's name")
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--register", metavar="NAME", help="register a consumer (waits until it is ACTIVE; an existing one is kept)"
    )
    action.add_argument("--deregister", metavar="NAME", help="deregister a consumer")
    parser.add_argument("--json", action="store_true", help="print as JSON")


def _row(description: Dict[str, Any]) -> List[str]:
    return [
        description["consumerName"] or "-",
        description["consumerStatus"] or "-",
        when(description["consumerCreationTimestamp"]),
        description["consumerARN"] or "-",
    ]


def _checked(send: Callable[[], T], name: str, stream: str) -> T:
    """`send()`, with a wrong name or a missing consumer as the user's mistake (exit status 2)."""
    try:
        return send()
    except Error as error:
        if error.type is AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR:
            raise UsageError(error.details) from None
        if error.awsErrorType == "ResourceNotFoundException":
            raise UsageError("stream %r has no consumer named %r" % (stream, name)) from None
        raise


def run(args: argparse.Namespace) -> int:
    """List, register or deregister; one line (or JSON) per consumer."""
    target = Target.from_args(args)
    target.summary()  # a missing stream is the user's mistake, said as such
    consumers = StreamConsumers(Kinesis(target.client(), target.stream))
    if args.deregister is not None:
        _checked(lambda: consumers.deregister(args.deregister)(), args.deregister, target.stream)
        print(json.dumps({"deregistered": args.deregister}) if args.json else "deregistered %s" % args.deregister)
        return 0
    if args.register is not None:
        listed = [_checked(lambda: consumers.register(args.register)(), args.register, target.stream)]
    else:
        listed = consumers.list()()
    if args.json:
        print(json.dumps(listed[0] if args.register is not None else listed, indent=2))
    elif listed:
        print(table([HEADER] + [_row(description) for description in listed]))
    else:
        print("stream %s has no registered consumers" % target.stream)
    return 0
