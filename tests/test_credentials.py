"""Each credential provider, on the wire format the AWS SDKs use, against moto's STS or a loopback fake.

Nothing here reaches a real metadata address: conftest turns the metadata service off and points
it at a loopback fake; the tests that use it point it at a fake of their own.
"""

import hashlib
import json
import os
import sys
import threading
import time
from urllib.parse import parse_qs

import pytest
from fake_endpoints import FakeEndpoint, InstanceMetadata, iso, json_answer, sts_credentials, sts_error

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR as ERR, AWSKinesisStreams
from awskinesisstreams.local import LocalKinesis
from awskinesisstreams.transport.providers import metadata

Credentials = AWSKinesisStreams.Credentials


def failure(provider):
    """The Error a provider's keys() raises."""
    with pytest.raises(AWSKinesisStreams.Error) as caught:
        provider.keys()
    return caught.value


def no_secret_in(*texts):
    for text in texts:
        assert "SECRET" not in text and "TOKEN" not in text, text


@pytest.fixture(scope="module")
def sts_server():
    """moto's server of its own, for STS and IAM, with one role anyone may assume."""
    import boto3

    with LocalKinesis() as server:
        iam = boto3.client("iam", region_name="us-east-1", endpoint_url=server.endpoint,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
        server.role = iam.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        yield server


# -- static and environment -------------------------------------------------------------


def test_static_keys_and_their_repr():
    provider = Credentials.static("AKIDSTATIC1234", "SECRET-S", "TOKEN-T")
    keys = provider.keys()
    assert (keys.accessKeyId, keys.secretAccessKey, keys.sessionToken, keys.expiration) == ("AKIDSTATIC1234", "SECRET-S", "TOKEN-T", None)
    no_secret_in(repr(provider), repr(keys), str(provider.keys()))
    wrong = failure(Credentials.static("bad id", "s"))
    assert wrong.type == ERR.LIBRARY_ERROR and "printable ASCII" in wrong.details


def test_environment_is_read_at_every_fetch_with_its_expiration(monkeypatch):
    provider = Credentials.environment()
    assert failure(provider).type == ERR.LIBRARY_ERROR and "AWS_ACCESS_KEY_ID" in failure(provider).details
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SECRET-1")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "TOKEN-OLD-NAME")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", iso(3))  # as Lambda sets it: it expires
    keys = provider.keys()
    assert (keys.accessKeyId, keys.sessionToken) == ("AKIDENV1", "TOKEN-OLD-NAME") and keys.expiration > time.time()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV2")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "TOKEN-NEW")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", iso(3600))
    assert provider.keys() is keys  # still more than a third of its life left: not fetched again
    time.sleep(2.2)  # within the last third of 3 s
    assert (provider.keys().accessKeyId, provider.keys().sessionToken) == ("AKIDENV2", "TOKEN-NEW")


# -- profiles -----------------------------------------------------------------------------


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


@pytest.fixture
def files(tmp_path, monkeypatch):
    """Shared files in a folder of the test's own; returns a function that writes (credentials, config)."""
    monkeypatch.setenv("HOME", str(tmp_path))

    def use(credentials="", config=""):
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", write(tmp_path / "credentials", credentials))
        monkeypatch.setenv("AWS_CONFIG_FILE", write(tmp_path / "config", config))

    return use


def test_profile_keys_from_either_file_and_aws_profile(files, monkeypatch):
    files("[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = SECRET-D\n"
          "[east]\naws_access_key_id = AKIDEAST\naws_secret_access_key = SECRET-E\naws_session_token = TOKEN-E\n",
          "[profile west]\nregion = eu-west-1\naws_access_key_id = AKIDWEST\naws_secret_access_key = SECRET-W\n")
    assert Credentials.profile().keys().accessKeyId == "AKIDDEFAULT"
    assert Credentials.profile("east").keys().sessionToken == "TOKEN-E"
    assert Credentials.profile("west").keys().accessKeyId == "AKIDWEST"  # keys in the config file
    monkeypatch.setenv("AWS_PROFILE", "east")
    assert Credentials.profile().keys().accessKeyId == "AKIDEAST"
    missing = failure(Credentials.profile("nobody"))
    assert missing.type == ERR.LIBRARY_ERROR and "'nobody' is not in" in missing.details


def test_profile_role_from_a_source_profile_and_chained_roles(files, sts_server):
    files("[base]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
          "[profile first]\nrole_arn = {role}\nsource_profile = base\nrole_session_name = first-session\nduration_seconds = 900\n"
          "[profile second]\nrole_arn = {role}\nsource_profile = first\nexternal_id = ext-1\n".format(role=sts_server.role))
    os.environ["AWS_ENDPOINT_URL_STS"] = sts_server.endpoint
    try:
        first = Credentials.profile("first").keys()
        second = Credentials.profile("second").keys()
    finally:
        del os.environ["AWS_ENDPOINT_URL_STS"]
    assert first.accessKeyId.startswith("ASIA") and first.sessionToken and first.expiration - time.time() <= 905
    assert second.accessKeyId.startswith("ASIA") and second.accessKeyId != first.accessKeyId


def test_a_loop_of_source_profiles_is_a_library_error(files):
    files("", "[profile a]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = b\n"
              "[profile b]\nrole_arn = arn:aws:iam::123456789012:role/y\nsource_profile = a\n")
    error = failure(Credentials.profile("a"))
    assert error.type == ERR.LIBRARY_ERROR and "loop: a -> b -> a" in error.details


def test_profile_credential_source_environment(files, sts_server, monkeypatch):
    files("", "[profile env-role]\nrole_arn = %s\ncredential_source = Environment\n" % sts_server.role)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts_server.endpoint)
    assert Credentials.profile("env-role").keys().accessKeyId.startswith("ASIA")
    files("", "[profile odd]\nrole_arn = %s\ncredential_source = Somewhere\n" % sts_server.role)
    assert "credential_source 'Somewhere'" in failure(Credentials.profile("odd")).details


def test_web_identity_reads_the_token_file_at_every_refresh(tmp_path, monkeypatch):
    seen = []

    def sts(asked):
        form = parse_qs(asked.body.decode())
        seen.append((form["Action"][0], form["WebIdentityToken"][0], "authorization" in asked.headers))
        return sts_credentials("AssumeRoleWithWebIdentity", "ASIAWEB%d" % len(seen), "SECRET-W", "TOKEN-W", iso(3))

    token = tmp_path / "token"
    token.write_text("jwt-1\n")
    with FakeEndpoint(sts) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fake.url)
        monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
        monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa")
        provider = Credentials.webIdentity()
        assert provider.keys().accessKeyId == "ASIAWEB1"
        token.write_text("jwt-2\n")  # the kubelet rotates it
        time.sleep(2.2)
        assert provider.keys().accessKeyId == "ASIAWEB2"
    assert seen == [("AssumeRoleWithWebIdentity", "jwt-1", False), ("AssumeRoleWithWebIdentity", "jwt-2", False)]


def test_web_identity_against_moto_and_from_a_profile(files, sts_server, tmp_path):
    token = write(tmp_path / "jwt", "a-token")
    files("", "[profile irsa]\nrole_arn = %s\nweb_identity_token_file = %s\n" % (sts_server.role, token))
    direct = Credentials.webIdentity(sts_server.role, token, "pod-1", endpoint=sts_server.endpoint).keys()
    assert direct.accessKeyId.startswith("ASIA") and direct.sessionToken
    os.environ["AWS_ENDPOINT_URL_STS"] = sts_server.endpoint
    try:
        assert Credentials.profile("irsa").keys().accessKeyId.startswith("ASIA")
    finally:
        del os.environ["AWS_ENDPOINT_URL_STS"]


def test_sts_refusal_is_a_request_failed_naming_the_provider_with_its_status():
    with FakeEndpoint(lambda asked: sts_error(403, "AccessDenied", "not allowed to assume it")) as fake:
        provider = Credentials.assumeRole("arn:aws:iam::123456789012:role/x", Credentials.static("AKIDSRC1", "SECRET-X"),
                                          endpoint=fake.url)
        error = failure(provider)
        signed = fake.asked[0].headers["authorization"]
    assert error.type == ERR.REQUEST_FAILED and error.httpStatus == 403
    assert "assumed role (arn:aws:iam::123456789012:role/x)" in error.details and "AccessDenied" in error.details
    assert signed.startswith("AWS4-HMAC-SHA256 Credential=AKIDSRC1/") and "/us-east-1/sts/aws4_request" in signed
    no_secret_in(error.details, repr(error))


def test_assume_role_sends_the_sdks_query_parameters():
    bodies = []

    def sts(asked):
        bodies.append(parse_qs(asked.body.decode()))
        return sts_credentials("AssumeRole", "ASIAROLE1", "SECRET-R", "TOKEN-R", iso(3600))

    with FakeEndpoint(sts) as fake:
        keys = Credentials.assumeRole("arn:aws:iam::1:role/r", Credentials.static("AKIDSRC1", "SECRET-X"), sessionName="s1",
                                      externalId="e1", duration=1800, region="eu-west-1", endpoint=fake.url).keys()
    assert keys.accessKeyId == "ASIAROLE1" and abs(keys.expiration - time.time() - 3600) < 5
    assert {k: v[0] for k, v in bodies[0].items()} == {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": "arn:aws:iam::1:role/r",
                                                        "RoleSessionName": "s1", "ExternalId": "e1", "DurationSeconds": "1800"}


# -- credential_process -------------------------------------------------------------------


def script(tmp_path, body):
    path = tmp_path / "creds.py"
    path.write_text("import json, sys\n" + body)
    return [sys.executable, str(path)]


def test_process_json_version_1_from_a_list_or_a_string(tmp_path, files):
    command = script(tmp_path, "print(json.dumps({'Version': 1, 'AccessKeyId': 'AKIDPROC', 'SecretAccessKey': 'SECRET-P',"
                               " 'SessionToken': 'TOKEN-P', 'Expiration': '2099-01-01T00:00:00Z'}))\n")
    keys = Credentials.process(command).keys()
    assert (keys.accessKeyId, keys.sessionToken, keys.expiration) == ("AKIDPROC", "TOKEN-P", 4070908800.0)
    assert Credentials.process('"%s" "%s"' % tuple(command)).keys().accessKeyId == "AKIDPROC"
    files("", "[profile proc]\ncredential_process = \"%s\" \"%s\"\n" % tuple(command))
    assert Credentials.profile("proc").keys().accessKeyId == "AKIDPROC"


def test_process_that_fails_or_prints_nonsense_is_a_request_failed(tmp_path):
    exits = Credentials.process(script(tmp_path, "sys.stderr.write('token expired, log in\\n'); sys.exit(3)\n"))
    error = failure(exits)
    assert error.type == ERR.REQUEST_FAILED and "exited with status 3: token expired, log in" in error.details
    wrong = failure(Credentials.process(script(tmp_path, "print(json.dumps({'Version': 2, 'AccessKeyId': 'A', 'SecretAccessKey': 'SECRET'}))\n")))
    assert "not Version 1" in wrong.details and "SECRET" not in wrong.details
    assert "could not run it" in failure(Credentials.process(["/no/such/program"])).details


# -- SSO --------------------------------------------------------------------------------


def test_sso_role_from_the_cached_token_of_aws_sso_login(files, tmp_path, monkeypatch):
    asked = []

    def portal(request):
        asked.append((request.path, request.headers.get("x-amz-sso_bearer_token")))
        role = {"accessKeyId": "ASIASSO1", "secretAccessKey": "SECRET-SSO", "sessionToken": "TOKEN-SSO",
                "expiration": int((time.time() + 3600) * 1000)}
        return json_answer({"roleCredentials": role})

    cache = tmp_path / ".aws" / "sso" / "cache" / (hashlib.sha1(b"corp").hexdigest() + ".json")
    write(cache, json.dumps({"accessToken": "sso-access-token", "expiresAt": iso(3600), "region": "eu-west-1"}))
    files("", "[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Reader\n"
              "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n")
    with FakeEndpoint(portal) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SSO", fake.url)
        keys = Credentials.profile("dev").keys()
        write(cache, json.dumps({"accessToken": "old", "expiresAt": iso(-60)}))
        expired = failure(Credentials.profile("dev"))
    assert keys.accessKeyId == "ASIASSO1" and abs(keys.expiration - time.time() - 3600) < 5
    assert asked == [("/federation/credentials?role_name=Reader&account_id=111122223333", "sso-access-token")]
    assert expired.type == ERR.REQUEST_FAILED and "run aws sso login" in expired.details


# -- the container endpoint ---------------------------------------------------------------


def container_keys(n=1, seconds=3600):
    return json_answer({"AccessKeyId": "ASIACONT%d" % n, "SecretAccessKey": "SECRET-C", "Token": "TOKEN-C",
                        "Expiration": iso(seconds)})


def test_container_relative_uri_comes_before_full_uri(monkeypatch):
    with FakeEndpoint(lambda asked: container_keys(1)) as relative, FakeEndpoint(lambda asked: container_keys(2)) as full:
        monkeypatch.setattr(metadata, "RELATIVE_BASE", relative.url)  # 169.254.170.2 stands for it here
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", full.url + "/creds")
        assert Credentials.container().keys().accessKeyId == "ASIACONT2"
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc")
        assert Credentials.container().keys().accessKeyId == "ASIACONT1"
    assert relative.paths() == ["GET /v2/credentials/abc"] and full.paths() == ["GET /creds"]


def test_container_full_uri_must_be_https_or_a_local_address(monkeypatch):
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.10/creds")  # never asked: refused first
    error = failure(Credentials.container())
    assert error.type == ERR.REQUEST_FAILED and "must be https, or http to a loopback" in error.details


def test_container_token_file_is_read_at_every_fetch_and_a_line_break_refused(tmp_path, monkeypatch):
    with FakeEndpoint(lambda asked: container_keys(len(fake.asked), seconds=3)) as fake:
        token = tmp_path / "eks-token"
        token.write_text("token-one")
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", fake.url + "/v1/credentials")
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token))
        provider = Credentials.container()
        assert provider.keys().accessKeyId == "ASIACONT1"
        token.write_text("token-two")
        time.sleep(2.2)
        assert provider.keys().accessKeyId == "ASIACONT2"
        token.write_text("token\r\nX-Injected: yes")
        bad = failure(Credentials.container())
    assert [asked.headers["authorization"] for asked in fake.asked] == ["token-one", "token-two"]
    assert bad.type == ERR.REQUEST_FAILED and "line break" in bad.details


def test_container_endpoint_failures_are_retried_then_reported(monkeypatch):
    with FakeEndpoint(lambda asked: (500, {}, b"busy")) as fake:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", fake.url + "/creds")
        error = failure(Credentials.container())
    assert len(fake.asked) == 3 and error.httpStatus == 500 and "the container endpoint" in error.details


# -- instance metadata --------------------------------------------------------------------


@pytest.fixture
def imds(monkeypatch):
    """A fake metadata service the provider is pointed at (and allowed to use)."""
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    with FakeEndpoint() as fake:
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake.url)
        yield fake


def role_keys(seconds=21600):
    return lambda: {"AccessKeyId": "ASIAIMDS1", "SecretAccessKey": "SECRET-I", "Token": "TOKEN-I", "Expiration": iso(seconds)}


def test_imds_v2_token_then_role_then_keys(imds):
    imds.route = InstanceMetadata(role_keys())
    keys = Credentials.instanceMetadata().keys()
    assert keys.accessKeyId == "ASIAIMDS1" and keys.sessionToken == "TOKEN-I"
    assert imds.paths() == ["PUT /latest/api/token", "GET /latest/meta-data/iam/security-credentials/",
                            "GET /latest/meta-data/iam/security-credentials/fleet-role"]
    assert imds.asked[0].headers["x-aws-ec2-metadata-token-ttl-seconds"] == "21600"
    assert all(asked.headers.get("x-aws-ec2-metadata-token") == "imds-token" for asked in imds.asked[1:])


@pytest.mark.parametrize("status", [403, 404, 405])
def test_imds_falls_back_to_v1_when_the_token_is_refused(imds, status):
    imds.route = InstanceMetadata(role_keys(), token_status=status)
    assert Credentials.instanceMetadata().keys().accessKeyId == "ASIAIMDS1"
    assert "x-aws-ec2-metadata-token" not in imds.asked[1].headers


def test_imds_falls_back_to_v1_when_the_token_put_times_out(imds):
    route = InstanceMetadata(role_keys())

    def slow_put(asked):
        if asked.method == "PUT":
            time.sleep(1.5)  # past the 1 s timeout
        return route(asked)

    route.token_status = 404  # what v1 gets asked without a token
    imds.route = slow_put
    started = time.monotonic()
    assert Credentials.instanceMetadata().keys().accessKeyId == "ASIAIMDS1"
    assert time.monotonic() - started < 4


def test_imds_v1_disabled_and_imds_disabled(imds, monkeypatch):
    imds.route = InstanceMetadata(role_keys(), token_status=403)
    monkeypatch.setenv("AWS_EC2_METADATA_V1_DISABLED", "true")
    error = failure(Credentials.instanceMetadata())
    assert error.type == ERR.REQUEST_FAILED and "IMDSv1 is disabled" in error.details and len(imds.asked) == 1
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    off = failure(Credentials.instanceMetadata())
    assert off.type == ERR.LIBRARY_ERROR and "AWS_EC2_METADATA_DISABLED" in off.details and len(imds.asked) == 1


def test_imds_credentials_already_expired_are_used_a_while_then_asked_again(imds):
    imds.route = InstanceMetadata(role_keys(seconds=-120))
    keys = Credentials.instanceMetadata().keys()
    assert 300 - 5 <= keys.expiration - time.time() <= 600  # the SDKs' 5 to 10 minutes more


def test_imds_that_does_not_answer_is_a_request_failed_alone_and_not_found_in_the_default_chain(imds):
    imds.delay = 1.5
    error = failure(Credentials.instanceMetadata())
    assert error.type == ERR.REQUEST_FAILED and "instance metadata" in error.details
    chain = failure(Credentials.default())
    assert chain.type == ERR.LIBRARY_ERROR and "instance metadata (no answer" in chain.details


# -- chain and default --------------------------------------------------------------------


def test_chain_takes_the_first_that_has_credentials_and_keeps_it(monkeypatch):
    chain = Credentials.chain(Credentials.environment(), Credentials.static("AKIDSTATIC2", "SECRET-2"))
    assert chain.keys().accessKeyId == "AKIDSTATIC2"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV9")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SECRET-9")
    assert chain.keys().accessKeyId == "AKIDSTATIC2"  # chosen once
    assert Credentials.chain(Credentials.environment(), Credentials.static("AKIDSTATIC2", "SECRET-2")).keys().accessKeyId == "AKIDENV9"


def test_default_order_environment_then_web_identity_then_profile(files, monkeypatch, tmp_path):
    files("[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = SECRET-F\n"
          "[named]\naws_access_key_id = AKIDNAMED\naws_secret_access_key = SECRET-N\n")
    assert Credentials.default().keys().accessKeyId == "AKIDFILE"
    with FakeEndpoint(lambda asked: sts_credentials("AssumeRoleWithWebIdentity", "ASIAWEB", "SECRET-W", "TOKEN-W", iso(3600))) as sts:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts.url)
        monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", write(tmp_path / "jwt", "t"))
        monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/r")
        assert Credentials.default().keys().accessKeyId == "ASIAWEB"
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SECRET-E")
        assert Credentials.default().keys().accessKeyId == "AKIDENV"
        assert Credentials.default("named").keys().accessKeyId == "ASIAWEB"  # a named profile skips the environment's keys only
        monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE")
        assert Credentials.default("named").keys().accessKeyId == "AKIDNAMED"


def test_default_with_nothing_says_where_it_looked(files):
    files()
    error = failure(Credentials.default())
    assert error.type == ERR.LIBRARY_ERROR
    for place in ("environment", "web identity", "profile 'default'", "container", "AWS_EC2_METADATA_DISABLED"):
        assert place in error.details, error.details


def test_botocore_credentials_are_asked_before_each_signing(moto_server):
    import boto3

    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    asked = []
    real = session.get_credentials()

    class Counting:
        def get_frozen_credentials(self):
            asked.append(threading.current_thread().name)
            return real.get_frozen_credentials()

    consumer = AWSKinesisStreams.Consumer("us-east-1", None, None, "any", endpoint=moto_server.endpoint, credentials=Counting())
    assert consumer.getShards(None).result(10)[0].awsErrorType == "ResourceNotFoundException"
    consumer.getShards(None).result(10)
    assert len(asked) == 2 and all(name != "awskinesisstreams-loop" for name in asked)
    wrong = AWSKinesisStreams.Consumer("us-east-1", None, None, "any", credentials="AKID:SECRET")
    error = wrong.getShards(None).result(10)[0]
    assert error.type == ERR.LIBRARY_ERROR and "get_frozen_credentials" in error.details and "SECRET" not in error.details
    both = AWSKinesisStreams.Producer("us-east-1", "AKID", "SECRET-B", "s", credentials=Credentials.static("a", "b"))
    error = both.putRecord(AWSKinesisStreams.Record(1, "k")).result(10)[0]
    assert error.type == ERR.LIBRARY_ERROR and "not both" in error.details and "SECRET" not in error.details
