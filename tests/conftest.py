"""Shared fixtures: real Kinesis-compatible servers on 127.0.0.1, and fresh streams on them."""

import os
import threading
import time
import uuid

import pytest
from hypothesis import strategies as st

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR as ERR, AWSKinesisStreams
from awskinesisstreams.local import LocalKinesis
from atomic_dynamodb import dynamodb_endpoint  # noqa: F401  (a fixture: DynamoDB on moto, made atomic)
from servers import Dynalite, Kinesalite, KinesisMock
from fake_endpoints import FakeEndpoint

# Never a real metadata address: the SDKs' chain would ask 169.254.169.254 and 169.254.170.2. Every
# test (and every process a test starts) has the instance metadata service off and pointed at a
# loopback fake, no container or web identity variables, and shared files that do not exist.
METADATA_GUARD = FakeEndpoint().__enter__()
GUARDED = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT": METADATA_GUARD.url,
    "AWS_CONFIG_FILE": os.path.join(os.sep, "nonexistent", "aws-config"),
    "AWS_SHARED_CREDENTIALS_FILE": os.path.join(os.sep, "nonexistent", "aws-credentials"),
}
UNSET = ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
         "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_PROFILE")
os.environ.update(GUARDED)
for _name in UNSET:
    os.environ.pop(_name, None)


def aws_free_environ():
    """This process's environment without AWS settings, the metadata guard kept: as for a user with no AWS account."""
    return dict({k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **GUARDED)


@pytest.fixture(autouse=True)
def no_real_metadata(monkeypatch):
    """Each test starts with the guard in place, whatever an earlier one changed."""
    for name, value in GUARDED.items():
        monkeypatch.setenv(name, value)
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def moto_server():
    """moto's server (the embedded local Kinesis; also serves DynamoDB), for the whole session."""
    with LocalKinesis() as server:
        yield server


@pytest.fixture(scope="session")
def kinesalite():
    """kinesalite, for the cases where moto departs from AWS (closed shards, resharding)."""
    with Kinesalite() as server:
        yield server


def new_stream(server, shards=1):
    """Create a uniquely named stream on `server` and return its name."""
    name = "test-" + uuid.uuid4().hex[:12]
    server.create_stream(name, shards)
    return name


@pytest.fixture(scope="session")
def dynalite():
    """The endpoint of dynalite, the DynamoDB whose conditional writes are atomic (installed with npm on first use)."""
    with Dynalite() as server:
        yield server.endpoint


@pytest.fixture(params=["moto_server", "kinesalite", "kinesis_mock"])
def any_server(request):
    """Each Kinesis implementation in turn, for the cases where all three behave as AWS does."""
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["moto_server", "kinesis_mock"])
def moto_then_mock(request):
    """moto, then kinesis-mock: for the beyond-Squirrel cases worth a second server's time."""
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["kinesalite", "kinesis_mock"])
def resharding_server(request):
    """Each server that reshards as AWS does: a split or merged parent is closed, read to its end, then left alone."""
    return request.getfixturevalue(request.param)


def boto_kinesis(server):
    """boto3's Kinesis client on `server`, to cross-check what the library writes and reads."""
    import boto3

    return boto3.client(
        "kinesis",
        region_name=server.region,
        endpoint_url=server.endpoint,
        aws_access_key_id=server.accessKeyId,
        aws_secret_access_key=server.secretAccessKey,
    )


@pytest.fixture
def stream(moto_server):
    """A fresh one-shard stream on moto."""
    return new_stream(moto_server, 1)


def producer(server, stream_name, **kwargs):
    return AWSKinesisStreams.Producer(
        server.region, server.accessKeyId, server.secretAccessKey, stream_name, endpoint=server.endpoint, **kwargs
    )


def consumer(server, stream_name, isBlob=False, **kwargs):
    return AWSKinesisStreams.Consumer(
        server.region, server.accessKeyId, server.secretAccessKey, stream_name, isBlob, endpoint=server.endpoint, **kwargs
    )


def wait_for(condition, seconds=15.0, step=0.05):
    """Poll `condition` every `step` seconds until it is true (True) or `seconds` pass (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


# Any code point, lone surrogates included (text() leaves them out), the odd ones often: for string arguments.
ODD = ["\ud800", "\udfff", "\x00", "\U0001f600", "\u0661"]
any_text = st.text(alphabet=st.characters(blacklist_categories=()) | st.sampled_from(ODD), max_size=40)


class OneCallback:
    """A callback that counts its calls (from the loop thread)."""

    def __init__(self):
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, *args):
        with self.lock:
            self.calls += 1


def exactly_one_outcome(call, *, server_may_refuse=False):
    """Run `call(callback)`, which must not raise, and check its single outcome."""
    callback = OneCallback()
    outcome = call(callback).result(20)
    assert callback.calls == 1
    err = outcome[0]
    allowed = set(ERR) if server_may_refuse else {ERR.LIBRARY_ERROR}
    assert err is None or (isinstance(err, AWSKinesisStreams.Error) and err.type in allowed and err.details)
    if err is not None and err.type != ERR.LIBRARY_ERROR:
        assert err.httpStatus is not None  # the server answered: it judged the argument, not the library
    return outcome


@pytest.fixture(scope="session")
def kinesis_mock():
    """kinesis-mock: the server with stream consumers, SubscribeToShard (enhanced fan-out) and encryption."""
    with KinesisMock() as server:
        yield server
