"""Where requests go (endpoint=, AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL, AWS's own) and the session token."""

import re

import pytest
import responses
from conftest import consumer

from awskinesisstreams import AWSKinesisStreams


ANY_URL = re.compile(r"https?://.*")


@pytest.fixture(autouse=True)
def no_endpoint_variables(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL_KINESIS", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def sent_to(region="us-east-1", **kwargs):
    """The URL and headers of the one request a Consumer's getShards makes."""
    with responses.RequestsMock() as mocked:
        mocked.add_callback(responses.POST, ANY_URL, callback=lambda request: (200, {}, '{"Shards":[]}'))
        err, shards = AWSKinesisStreams.Consumer(region, "id", "secret", "s", **kwargs).getShards(None).result(10)
        assert err is None and shards == []
        # only this consumer's: a client an earlier test left retrying against its proxy is caught here too
        ours = [call.request for call in mocked.calls if b'"StreamName":"s"' in (call.request.body or b"")]
        assert len(ours) == 1
        request = ours[0]
    return request.url, request.headers


@pytest.mark.parametrize(
    "region, url",
    [
        ("us-east-1", "https://kinesis.us-east-1.amazonaws.com/"),
        ("eu-central-1", "https://kinesis.eu-central-1.amazonaws.com/"),
        ("cn-north-1", "https://kinesis.cn-north-1.amazonaws.com.cn/"),
        ("cn-northwest-1", "https://kinesis.cn-northwest-1.amazonaws.com.cn/"),
    ],
)
def test_default_endpoint(region, url):
    assert sent_to(region)[0] == url


def test_endpoint_keyword_wins_over_the_variables(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:1111")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:2222")
    assert sent_to(endpoint="http://127.0.0.1:3333/")[0] == "http://127.0.0.1:3333/"


def test_kinesis_variable_wins_over_the_general_one(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:1111")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:2222")
    assert sent_to()[0] == "http://127.0.0.1:1111/"


def test_general_variable(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://localhost.localstack.cloud:4566")
    assert sent_to()[0] == "https://localhost.localstack.cloud:4566/"


def test_session_token_is_sent_and_signed():
    url, headers = sent_to(sessionToken="temporary-token")
    assert headers["X-Amz-Security-Token"] == "temporary-token"
    assert "x-amz-security-token" in headers["Authorization"]
    assert headers["X-Amz-Target"] == "Kinesis_20131202.ListShards"
    assert headers["Content-Type"] == "application/x-amz-json-1.1"


def test_no_token_header_without_a_token():
    url, headers = sent_to()
    assert "X-Amz-Security-Token" not in headers
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=id/")
    assert "/us-east-1/kinesis/aws4_request" in headers["Authorization"]


def test_variable_reaches_a_real_server(monkeypatch, moto_server, stream):
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", moto_server.endpoint)
    c = AWSKinesisStreams.Consumer(moto_server.region, "testing", "testing", stream)
    err, shards = c.getShards(None).result(10)
    assert err is None and shards == ["shardId-000000000000"]
    assert repr(c).endswith("endpoint=%r)" % moto_server.endpoint)


def test_session_token_accepted_by_a_real_server(moto_server, stream):
    err, shards = consumer(moto_server, stream, sessionToken="token").getShards(None).result(10)
    assert err is None and shards == ["shardId-000000000000"]
