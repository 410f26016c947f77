"""Credentials that expire: refreshed before they do, one refresh at a time, off the loop thread; kept
through a failed refresh while they hold; never used once expired; renewed at once on ExpiredToken.

Keys live seconds here, not hours. A loopback proxy in front of moto refuses, as AWS does with
ExpiredTokenException, any request signed with keys past the expiry they were issued with; a
moto server that checks signatures proves that temporary keys really sign.
"""

import datetime
import json
import logging
import re
import threading
import time

import pytest
import requests
from conftest import new_stream, wait_for
from fake_endpoints import FakeEndpoint, json_answer
from proxy import Proxy, aws_error

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR as ERR, AWSKinesisStreams, imp
from awskinesisstreams.local import LocalKinesis
from awskinesisstreams.transport.sigv4 import Keys

Credentials = AWSKinesisStreams.Credentials
Record = AWSKinesisStreams.Record
KEY_IN = re.compile(r"Credential=([^/]+)/")


class Issuer:
    """A container credentials endpoint that issues new keys, each living `lifetime` seconds, and
    remembers when each expires; `fail` makes it answer 500 instead."""

    def __init__(self, lifetime):
        self.lifetime = lifetime
        self.expiry = {}  # access key id -> epoch seconds
        self.issued = []  # (time, key id)
        self.fail = False
        self.lock = threading.Lock()

    def __call__(self, asked):
        if self.fail:
            return 500, {}, b"unavailable"
        with self.lock:
            key = "ASIAISSUED%04d" % len(self.issued)
            self.expiry[key] = time.time() + self.lifetime
            self.issued.append((time.time(), key))
        expiration = datetime.datetime.fromtimestamp(self.expiry[key], datetime.timezone.utc).isoformat()
        return json_answer({"AccessKeyId": key, "SecretAccessKey": "testing", "Token": "TOKEN-%s" % key, "Expiration": expiration})


def expired_refuser(issuer, revoked=()):
    """A proxy rule: ExpiredTokenException for keys past their expiry, or revoked; counts what it refused."""
    refused = []

    def rule(call):
        match = KEY_IN.search(call.headers.get("Authorization", ""))
        key = match.group(1) if match else None
        if key in revoked or (key in issuer.expiry and time.time() >= issuer.expiry[key]):
            refused.append(key)
            return aws_error(400, "ExpiredTokenException", "The security token included in the request is expired")
        return None

    rule.refused = refused
    return rule


@pytest.fixture
def container(monkeypatch):
    """The container endpoint, a loopback fake issuing keys; yields (issuer, fake)."""
    issuer = Issuer(lifetime=6)
    with FakeEndpoint(issuer) as fake:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", fake.url + "/v2/credentials")
        yield issuer, fake


def test_keys_are_refreshed_before_they_expire_and_never_used_after(container, moto_server):
    issuer, fake = container
    stream = new_stream(moto_server, 1)
    rule = expired_refuser(issuer)
    credentials = Credentials.container()
    with Proxy(moto_server.endpoint, rule=rule) as proxy:
        producer = AWSKinesisStreams.Producer("us-east-1", None, None, stream, endpoint=proxy.endpoint, credentials=credentials)
        errors = []
        started = time.time()
        while time.time() - started < 13:
            errors.append(producer.putRecord(Record({"t": time.time()}, "k")).result(10)[0])
            time.sleep(0.1)
    assert errors and all(error is None for error in errors), [e for e in errors if e][:2]
    assert rule.refused == []  # no request signed with keys past their expiry
    times = [when for when, _ in issuer.issued]
    # keys of 6 s (a third of their life: 2 s) are replaced about 4 s after they were issued
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert len(times) in (3, 4) and all(3.0 <= gap <= 5.0 for gap in gaps), gaps
    assert credentials.fetches == len(times)


def test_an_expired_token_answer_refreshes_at_once_and_sends_once_more(container, moto_server):
    issuer, fake = container
    issuer.lifetime = 3600
    stream = new_stream(moto_server, 1)
    rule = expired_refuser(issuer, revoked={"ASIAISSUED0000"})  # the first keys are refused early, as after a revocation
    with Proxy(moto_server.endpoint, rule=rule) as proxy:
        producer = AWSKinesisStreams.Producer("us-east-1", None, None, stream, endpoint=proxy.endpoint,
                                              credentials=Credentials.container(), retries=0)
        error, result = producer.putRecord(Record("x", "k")).result(10)
        puts = proxy.actions().count("PutRecord")
    assert error is None and result.sequenceNumber and puts == 2 and rule.refused == ["ASIAISSUED0000"]
    assert [key for _, key in issuer.issued] == ["ASIAISSUED0000", "ASIAISSUED0001"]


def test_an_expired_token_answer_again_after_the_resend_is_the_error(container, moto_server):
    issuer, fake = container
    stream = new_stream(moto_server, 1)
    always = lambda call: aws_error(400, "ExpiredTokenException", "expired")  # noqa: E731
    with Proxy(moto_server.endpoint, rule=always) as proxy:
        producer = AWSKinesisStreams.Producer("us-east-1", None, None, stream, endpoint=proxy.endpoint,
                                              credentials=Credentials.container(), retries=0)
        error, _ = producer.putRecord(Record("x", "k")).result(10)
        puts = proxy.actions().count("PutRecord")
    assert error.type == ERR.REQUEST_FAILED and error.awsErrorType == "ExpiredTokenException" and puts == 2


def test_fixed_keys_are_not_resent_on_an_expired_token(moto_server):
    stream = new_stream(moto_server, 1)
    always = lambda call: aws_error(400, "ExpiredTokenException", "expired")  # noqa: E731
    with Proxy(moto_server.endpoint, rule=always) as proxy:
        producer = AWSKinesisStreams.Producer("us-east-1", "testing", "testing", stream, endpoint=proxy.endpoint, retries=0)
        assert producer.putRecord(Record("x", "k")).result(10)[0].awsErrorType == "ExpiredTokenException"
        assert proxy.actions().count("PutRecord") == 1


def test_one_refresh_at_a_time_while_the_others_sign_with_the_old_keys(container):
    issuer, fake = container
    issuer.lifetime = 6
    credentials = Credentials.container()
    first = credentials.keys()
    time.sleep(4.3)  # within the last third: due for refresh, still valid
    fake.delay = 0.5
    got = []
    threads = [threading.Thread(target=lambda: got.append(credentials.keys())) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(issuer.issued) == 2  # one refresh for twenty signers
    assert len(got) == 20 and {keys.accessKeyId for keys in got} <= {first.accessKeyId, "ASIAISSUED0001"}
    assert sum(keys is first for keys in got) >= 15  # those that came while the refresh ran did not wait for it


def test_a_failed_refresh_keeps_keys_that_hold_then_tries_again_after_a_pause(container, caplog):
    issuer, fake = container
    issuer.lifetime = 6
    credentials = Credentials.container()
    first = credentials.keys()
    issuer.fail = True
    time.sleep(4.3)  # due for refresh (the last third), still valid for about a second
    with caplog.at_level(logging.WARNING, logger="awskinesisstreams"):
        held = [credentials.keys() for _ in range(50)]
    assert all(keys is first for keys in held)
    assert len(fake.asked) <= 1 + 3 * 2  # the first fetch, then one failed refresh (three tries), not one per call
    assert "refresh failed, the keys held are kept" in caplog.text and "TOKEN-" not in caplog.text
    time.sleep(1.5)  # now expired, and the endpoint still fails: never the old keys
    with pytest.raises(AWSKinesisStreams.Error) as caught:
        credentials.keys()
    assert caught.value.type == ERR.REQUEST_FAILED and caught.value.httpStatus == 500
    issuer.fail = False
    assert credentials.keys().accessKeyId == "ASIAISSUED0001"


def test_refresh_runs_on_the_http_threads_never_the_loop_or_the_call_site(moto_server):
    stream = new_stream(moto_server, 1)
    threads = []

    def fetch():
        threads.append(threading.current_thread())
        return Keys("testing", "testing", "TOKEN-F", time.time() + 3600)

    credentials = Credentials("probe", fetch)
    producer = AWSKinesisStreams.Producer("us-east-1", None, None, stream, endpoint=moto_server.endpoint, credentials=credentials)
    future = producer.putRecord(Record("x", "k"))
    assert future.result(10)[0] is None
    loop = []
    imp.wakeup(0, lambda: loop.append(threading.current_thread()))
    assert wait_for(lambda: loop)
    assert len(threads) == 1 and threads[0] is not loop[0] and threads[0] is not threading.main_thread()


# -- temporary keys really sign -----------------------------------------------------------


@pytest.fixture(scope="module")
def checking_server():
    """A moto server of its own that checks every signature: a user allowed to assume a role that may use Kinesis."""
    import boto3

    with LocalKinesis() as server:
        kwargs = dict(region_name=server.region, endpoint_url=server.endpoint,
                      aws_access_key_id="testing", aws_secret_access_key="testing")
        requests.post(server.endpoint + "/moto-api/reset-auth", data=b"7", timeout=5).raise_for_status()
        iam = boto3.client("iam", **kwargs)
        allow = lambda action: json.dumps({"Version": "2012-10-17", "Statement": [  # noqa: E731
            {"Effect": "Allow", "Action": action, "Resource": "*"}]})
        iam.create_user(UserName="fleet")
        iam.put_user_policy(UserName="fleet", PolicyName="assume", PolicyDocument=allow("sts:AssumeRole"))
        key = iam.create_access_key(UserName="fleet")["AccessKey"]
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
        role = iam.create_role(RoleName="writer", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName="writer", PolicyName="kinesis", PolicyDocument=allow("kinesis:*"))
        boto3.client("kinesis", **kwargs).create_stream(StreamName="checked", ShardCount=1)
        boto3.client("kinesis", **kwargs).describe_stream_summary(StreamName="checked")
        yield server, role, Credentials.static(key["AccessKeyId"], key["SecretAccessKey"])


def test_assumed_role_keys_sign_where_signatures_and_tokens_are_checked(checking_server):
    server, role, user = checking_server
    assumed = Credentials.assumeRole(role, user, endpoint=server.endpoint, duration=900)
    producer = AWSKinesisStreams.Producer(server.region, None, None, "checked", endpoint=server.endpoint, credentials=assumed)
    error, result = producer.putRecord(Record({"signed": "temporary"}, "k")).result(10)
    assert error is None and result.sequenceNumber
    keys = assumed.keys()
    for wrong in (Credentials.static(keys.accessKeyId, keys.secretAccessKey + "x", keys.sessionToken),
                  Credentials.static(keys.accessKeyId, keys.secretAccessKey, keys.sessionToken + "x")):
        refused = AWSKinesisStreams.Producer(server.region, None, None, "checked", endpoint=server.endpoint, credentials=wrong)
        error, _ = refused.putRecord(Record("x", "k")).result(10)
        assert error.type == ERR.REQUEST_FAILED and error.httpStatus in (400, 403), error


def test_every_signing_client_takes_credentials(moto_server, dynamodb_endpoint):
    stream = new_stream(moto_server, 1)
    shared = Credentials.static("testing", "testing")
    buffered = AWSKinesisStreams.BufferedProducer("us-east-1", None, None, stream, endpoint=moto_server.endpoint, credentials=shared)
    assert buffered.putRecord(Record("x", "k")).result(10)[0] is None and buffered.close(10)
    store = AWSKinesisStreams.DynamoDBLeaseStore("creds-" + stream, "us-east-1", None, None, endpoint=dynamodb_endpoint,
                                                 credentials=shared)
    processed = []

    def process(records, cb):
        processed.extend(records)
        cb(None, True)

    worker = AWSKinesisStreams.Worker("us-east-1", None, None, stream, {"processRecords": process, "leaseStore": store,
                                      "leaseDuration": 3}, endpoint=moto_server.endpoint, credentials=shared)
    started = []
    worker.start(lambda error: started.append(error))
    try:
        assert wait_for(lambda: processed, 20) and started == [None]
    finally:
        done = []
        worker.stop(lambda error: done.append(error))
        assert wait_for(lambda: done, 20)
    wrong = AWSKinesisStreams.Worker("us-east-1", None, None, stream, {"processRecords": process}, credentials=object())
    refused = []
    wrong.start(lambda error: refused.append(error))
    assert wait_for(lambda: refused) and refused[0].type == ERR.LIBRARY_ERROR and "credentials must be" in refused[0].details
    bad_store = AWSKinesisStreams.DynamoDBLeaseStore("t", "us-east-1", "AKID", "s", credentials=shared)
    with pytest.raises(AWSKinesisStreams.Error, match="not both"):
        bad_store.prepare()
