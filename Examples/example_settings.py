"""What the two examples share: their command line, and where they send requests.

With a region in the environment (AWS_REGION or AWS_DEFAULT_REGION) the examples use that
account's stream, which must exist, with credentials found as the AWS SDKs find them
(AWSKinesisStreams.Credentials.default: the environment, a web identity, the profile that
AWS_PROFILE names, the container endpoint, the instance role).
With `--endpoint URL` they use that Kinesis-compatible server and create the stream there.
With neither, they start the embedded local Kinesis (moto's server, `pip install ".[local]"`)
on 127.0.0.1, create the stream, and stop the server when they end.
"""

import argparse
import contextlib
import os
from dataclasses import dataclass
from typing import Iterator, Optional

from awskinesisstreams import AWSKinesisStreams, server
from awskinesisstreams.local import LocalKinesis, create_stream
from awskinesisstreams.wire.kinesis import JSON_VERSION, TARGET_PREFIX
from awskinesisstreams.transport.signed_request import AwsJsonClient, resolve_endpoint
from awskinesisstreams.transport.sigv4 import Keys

LOCAL_SHARDS = 2


@dataclass
class Target:
    """The stream an example talks to, and how to reach it."""

    region: str
    accessKeyId: Optional[str]
    secretAccessKey: Optional[str]
    streamName: str
    endpoint: Optional[str] = None
    sessionToken: Optional[str] = None
    credentials: Optional[AWSKinesisStreams.Credentials] = None  # on AWS, instead of the keys
    embedded: bool = False  # True when this process started the local Kinesis itself

    def keywords(self) -> dict:
        """The keyword arguments of Producer and Consumer for this target."""
        return {"endpoint": self.endpoint, "sessionToken": self.sessionToken, "credentials": self.credentials}


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--count", type=int, default=None, help="stop after this many records (default: never)")
    parser.add_argument(
        "--stream",
        default=os.environ.get("AWS_KINESIS_STREAM_NAME", "testStream"),
        help="stream name (default: $AWS_KINESIS_STREAM_NAME, else testStream)",
    )
    parser.add_argument("--endpoint", help="a Kinesis-compatible server to use instead of AWS, e.g. http://127.0.0.1:4567")
    parser.add_argument("--period", type=float, default=0.5, help="seconds between two writes or reads (default 0.5)")
    return parser.parse_args()


@contextlib.contextmanager
def kinesis_target(args: argparse.Namespace) -> Iterator[Target]:
    """The target the environment and `args` ask for; an embedded server lives as long as the `with` block."""
    key_id = os.environ.get("AWS_ACCESS_KEY_ID")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    token = os.environ.get("AWS_SESSION_TOKEN")
    if args.endpoint:
        target = Target(region or LocalKinesis.region, key_id or LocalKinesis.accessKeyId,
                        secret or LocalKinesis.secretAccessKey, args.stream, args.endpoint, token)
        _create_stream(target)
        yield target
    elif region:
        server.log("Using AWS: stream %s in %s" % (args.stream, region))
        yield Target(region, None, None, args.stream, credentials=AWSKinesisStreams.Credentials.default())
    else:
        server.log("No AWS settings: starting the embedded local Kinesis")
        with LocalKinesis() as local:
            local.create_stream(args.stream, LOCAL_SHARDS)
            server.log("Local Kinesis on %s, stream %s with %d shards" % (local.endpoint, args.stream, LOCAL_SHARDS))
            yield Target(local.region, local.accessKeyId, local.secretAccessKey, args.stream, local.endpoint,
                         embedded=True)


def _create_stream(target: Target) -> None:
    client = AwsJsonClient(resolve_endpoint("kinesis", target.region, target.endpoint), target.region, "kinesis", TARGET_PREFIX, JSON_VERSION,
                           Keys(target.accessKeyId, target.secretAccessKey, target.sessionToken))
    create_stream(client, target.streamName, LOCAL_SHARDS)
