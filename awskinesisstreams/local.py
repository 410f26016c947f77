"""The embedded local Kinesis: moto's server on 127.0.0.1 in a child process (the `local` extra).

Used by the examples and the command line when no AWS settings are given, and by the tests.
"""

import socket
import subprocess
import sys
import time
from typing import Any, List, Optional

from .error import Error
from .wire.kinesis import JSON_VERSION, TARGET_PREFIX, stream_admin
from .transport.signed_request import AwsJsonClient, Timeout
from .transport.sigv4 import Keys

REGION = "us-east-1"
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalKinesis:
    """A Kinesis-compatible server on 127.0.0.1 that lives as long as this object (or its `with` block).

        with LocalKinesis() as local:
            local.create_stream("demo", shards=2)
            producer = AWSKinesisStreams.Producer(local.region, "testing", "testing", "demo", endpoint=local.endpoint)
    """

    region = REGION
    accessKeyId = ACCESS_KEY_ID
    secretAccessKey = SECRET_ACCESS_KEY

    def __init__(self, port: int = 0, startup_timeout: float = 30.0) -> None:
        self.port = port or free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self._startup_timeout = startup_timeout
        self._process: Optional["subprocess.Popen[bytes]"] = None

    def command(self) -> List[str]:
        """The command line that serves Kinesis on 127.0.0.1:port."""
        try:
            import moto.server  # noqa: F401  (only to fail early with a clear message)
        except ImportError:
            raise RuntimeError(
                "the embedded local Kinesis needs moto's server: pip install 'awskinesisstreams[local]'"
            ) from None
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def start(self) -> "LocalKinesis":
        """Start the server and wait until it answers; raises RuntimeError if it cannot."""
        self._process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError("the local Kinesis server exited at start (is port %d free?)" % self.port)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the local Kinesis server did not start within %.0f s" % self._startup_timeout)

    def stop(self) -> None:
        """Stop the server (its streams are gone with it)."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def client(self) -> AwsJsonClient:
        """A signed Kinesis client for this server."""
        return AwsJsonClient(
            self.endpoint,
            self.region,
            "kinesis",
            TARGET_PREFIX,
            JSON_VERSION,
            Keys(self.accessKeyId, self.secretAccessKey),
            Timeout(),
        )

    def create_stream(self, name: str, shards: int = 1, timeout: float = 30.0) -> None:
        """Create a stream with `shards` shards (if it is not there yet) and wait until it is ACTIVE."""
        create_stream(self.client(), name, shards, timeout)

    def __enter__(self) -> "LocalKinesis":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def create_stream(client: AwsJsonClient, name: str, shards: int = 1, timeout: float = 30.0) -> None:
    """CreateStream on any Kinesis endpoint, then wait for ACTIVE; an existing stream is kept."""
    try:
        stream_admin(client, "CreateStream", {"StreamName": name, "ShardCount": shards})
    except Error as error:
        if error.awsErrorType != "ResourceInUseException":
            raise
    deadline = time.monotonic() + timeout
    while True:
        summary = stream_admin(client, "DescribeStreamSummary", {"StreamName": name}, ("StreamDescriptionSummary",))
        if summary["StreamDescriptionSummary"].get("StreamStatus") == "ACTIVE":
            return
        if time.monotonic() > deadline:
            raise RuntimeError("stream %s is not ACTIVE after %.0f s" % (name, timeout))
        time.sleep(0.05)


def stream_names(client: AwsJsonClient) -> List[str]:
    """The names of the streams on an endpoint (first page)."""
    return list(stream_admin(client, "ListStreams", {}, ("StreamNames",))["StreamNames"])
