"""What a command-line command talks to: one stream, on one endpoint, with credentials found as the AWS SDKs find them."""

import argparse
import datetime
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, TypeVar

from ..buffering.buffered_producer import BufferedProducer
from ..transport.credentials import Credentials
from ..transport.providers.profiles import profile_region, shared_files
from ..error import Error
from ..wire.kinesis import JSON_VERSION, TARGET_PREFIX, Kinesis, stream_admin
from ..producer import Producer
from ..transport.signed_request import AwsJsonClient, Timeout, resolve_endpoint

T = TypeVar("T")


class UsageError(Exception):
    """A mistake of the user's (an option, a missing stream, no credentials): one line, exit status 2."""


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError("%r is not a positive whole number" % text)
    return value


def table(rows: List[List[str]]) -> str:
    """Rows of text cells as aligned columns."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def when(seconds: Optional[float]) -> str:
    """Seconds since the epoch as an ISO 8601 UTC time; "-" for None."""
    if seconds is None:
        return "-"
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Target:
    """A stream on an endpoint, with the region and credentials to sign for it."""

    stream: str
    region: str
    credentials: Credentials
    endpoint: str

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Target":
        """From --endpoint/--region/--profile, the environment and the shared AWS files."""
        if args.endpoint and not args.endpoint.startswith(("http://", "https://")):
            raise UsageError("--endpoint must be an http:// or https:// URL, got %r" % args.endpoint)
        credentials = Credentials.default(args.profile)
        credentials.keys()  # found now: none is a LIBRARY_ERROR, said in one line with exit status 2
        region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        try:
            region = region or profile_region(args.profile)
        except Error as error:
            raise UsageError(error.details) from None
        if not region:
            raise UsageError("no AWS region found: give --region, set AWS_REGION, or set region for profile %r in %s"
                             % (args.profile or os.environ.get("AWS_PROFILE") or "default", shared_files()[1]))
        return cls(args.stream, region, credentials, resolve_endpoint("kinesis", region, args.endpoint))

    def client(self) -> AwsJsonClient:
        return AwsJsonClient(self.endpoint, self.region, "kinesis", TARGET_PREFIX, JSON_VERSION, self.credentials, Timeout())

    def summary(self) -> Dict[str, Any]:
        """DescribeStreamSummary's StreamDescriptionSummary; also how commands find out the stream exists."""
        key = "StreamDescriptionSummary"
        body = {"StreamName": self.stream}
        return self._found(lambda: stream_admin(self.client(), "DescribeStreamSummary", body, (key,)))[key]

    def shards(self) -> List[Dict[str, Any]]:
        """Every shard's full description (the mapping layer's paged ListShards)."""
        return self._found(self.kinesis().list_shards())

    def _found(self, send: Callable[[], T]) -> T:
        """`send()`, with a missing stream turned into a UsageError that says where it was looked for."""
        try:
            return send()
        except Error as error:
            if error.awsErrorType != "ResourceNotFoundException":
                raise
            where = "at %s (region %s)" % (self.endpoint, self.region)
            raise UsageError("stream %r does not exist %s" % (self.stream, where)) from None

    def _keys(self) -> Dict[str, Any]:
        return {"endpoint": self.endpoint, "credentials": self.credentials}

    def kinesis(self) -> Kinesis:
        """The mapping layer for this stream, as `kinesis-streams pull` reads it."""
        return Kinesis(self.client(), self.stream)

    def producer(self) -> Producer:
        return Producer(self.region, None, None, self.stream, **self._keys())

    def buffered_producer(self) -> BufferedProducer:
        """A BufferedProducer with its defaults: aggregated, in key order, retried within 30 s."""
        return BufferedProducer(self.region, None, None, self.stream, **self._keys())
