"""SigV4: byte for byte what botocore signs, the key derived once a day, and a server that checks signatures."""

import datetime
import hmac
import json
from unittest import mock
from urllib.parse import urlsplit

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR, AWSKinesisStreams
from awskinesisstreams.transport import sigv4 as sigv4_module
from awskinesisstreams.local import LocalKinesis
from awskinesisstreams.transport.sigv4 import Keys, SigV4Signer

AMZ_DATE = "20240229T235959Z"
BODY = b'{"Data":"ImEi","PartitionKey":"k","StreamName":"s"}'
HEADERS = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.PutRecord"}


def botocore_headers(url, token):
    request = AWSRequest(method="POST", url=url, data=BODY, headers=dict(HEADERS))
    fixed = datetime.datetime.strptime(AMZ_DATE, "%Y%m%dT%H%M%SZ")
    with mock.patch("botocore.auth.get_current_datetime", return_value=fixed):
        SigV4Auth(BotoCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token), "kinesis", "eu-west-1").add_auth(request)
    return request.headers


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEJr//session+token="])
@pytest.mark.parametrize(
    "url, host",
    [
        ("https://kinesis.eu-west-1.amazonaws.com/", "kinesis.eu-west-1.amazonaws.com"),
        ("http://127.0.0.1:4567/", "127.0.0.1:4567"),
        ("http://127.0.0.1:4567/kinesis-proxy/", "127.0.0.1:4567"),  # an endpoint behind a path prefix
    ],
)
def test_authorization_equals_botocore(token, url, host):
    ours = SigV4Signer("eu-west-1", "kinesis").sign(
        Keys("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token), host, HEADERS, BODY, AMZ_DATE, path=urlsplit(url).path
    )
    theirs = botocore_headers(url, token)
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"] == AMZ_DATE
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token") == token
    expected = "content-type;host;x-amz-date;%sx-amz-target" % ("x-amz-security-token;" if token else "")
    assert "SignedHeaders=%s," % expected in ours["Authorization"]


def test_signing_key_is_derived_once_per_day():
    derivations = []
    original_new = hmac.new

    def counting_new(key, message, digest):
        if key.startswith(b"AWS4"):  # the first step of a key derivation
            derivations.append(message)
        return original_new(key, message, digest)

    signer = SigV4Signer("us-east-1", "kinesis")
    keys = Keys("id", "secret")
    with mock.patch.object(sigv4_module.hmac, "new", side_effect=counting_new):
        first = [signer.sign(keys, "h", HEADERS, BODY, "20240101T0000%02dZ" % s)["Authorization"] for s in range(50)]
        next_day = signer.sign(keys, "h", HEADERS, BODY, "20240102T000000Z")["Authorization"]
        signer.sign(keys, "h", HEADERS, BODY, "20240102T120000Z")
    assert derivations == [b"20240101", b"20240102"]
    assert len(set(first)) == 50 and "20240102/us-east-1/kinesis" in next_day


@pytest.fixture(scope="module")
def auth_server():
    """A moto server of its own with request authentication on, an IAM user allowed Kinesis, and its key.

    Never the session's moto: with authentication on, the other tests' keys would be refused.
    """
    with LocalKinesis() as server:
        import boto3

        kwargs = dict(region_name=server.region, endpoint_url=server.endpoint,
                      aws_access_key_id="testing", aws_secret_access_key="testing")
        # moto 5 takes the number of calls still allowed without authentication, as plain text.
        requests.post(server.endpoint + "/moto-api/reset-auth", data=b"4", timeout=5).raise_for_status()
        iam = boto3.client("iam", **kwargs)
        iam.create_user(UserName="agent")
        iam.put_user_policy(
            UserName="agent",
            PolicyName="kinesis",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}]}
            ),
        )
        key = iam.create_access_key(UserName="agent")["AccessKey"]
        boto3.client("kinesis", **kwargs).create_stream(StreamName="signed", ShardCount=1)
        yield server, key["AccessKeyId"], key["SecretAccessKey"]


def test_server_that_checks_signatures_accepts_ours(auth_server):
    server, key_id, secret = auth_server
    p = AWSKinesisStreams.Producer(server.region, key_id, secret, "signed", endpoint=server.endpoint)
    err, result = p.putRecord(AWSKinesisStreams.Record({"signed": True}, "k")).result(10)
    assert err is None and result.sequenceNumber
    c = AWSKinesisStreams.Consumer(server.region, key_id, secret, "signed", endpoint=server.endpoint)
    err, shards = c.getShards(None).result(10)
    assert err is None and shards == ["shardId-000000000000"]


def test_server_that_checks_signatures_refuses_a_wrong_secret(auth_server):
    server, key_id, secret = auth_server
    p = AWSKinesisStreams.Producer(server.region, key_id, secret + "x", "signed", endpoint=server.endpoint)
    err, result = p.putRecord(AWSKinesisStreams.Record({"signed": True}, "k")).result(10)
    assert err.type == AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED and err.httpStatus == 403 and result is None
    assert "Signature" in str(err.httpResponse)
