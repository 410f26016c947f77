"""getShards pages through ListShards the way AWS requires: on moto behind an AWS-strict proxy, and on
kinesis-mock, which itself refuses StreamName beside NextToken as AWS does."""

import json

import pytest

from conftest import new_stream

from awskinesisstreams import AWSKinesisStreams
from proxy import Call, Proxy, aws_error


def aws_list_shards_rules(page_size, stream_name, name_for_moto):
    """AWS refuses StreamName beside NextToken; the proxy also caps pages so that paging really happens.

    moto wants the StreamName on every page (AWS refuses it), so there an AWS-correct later
    page is forwarded with the name added back.
    """

    def rule(call: Call):
        if call.action != "ListShards":
            return None
        if "NextToken" in call.body and "StreamName" in call.body:
            return aws_error(400, "InvalidArgumentException", "NextToken and StreamName cannot be provided together.")
        forwarded = dict(call.body, MaxResults=min(call.body.get("MaxResults", 1000), page_size))
        if name_for_moto:
            forwarded["StreamName"] = stream_name
        call.raw = json.dumps(forwarded).encode()
        return None

    return rule


@pytest.mark.parametrize(
    "server, shards, page, timeout",
    [
        ("moto_server", 7, 3, 10),  # a few small pages
        ("moto_server", 230, 100, 20),  # over 100 shards (DescribeStream's old page size)
        ("kinesis_mock", 7, 3, 10),
    ],
)
def test_get_shards_pages_with_next_token_alone(request, server, shards, page, timeout):
    """Every shard once and in order; only the first page names the stream, later ones send NextToken alone."""
    server_name, server = server, request.getfixturevalue(server)
    name = new_stream(server, shards)
    rule = aws_list_shards_rules(page, name, name_for_moto=server_name == "moto_server")
    with Proxy(server.endpoint, rule=rule) as proxy:
        c = AWSKinesisStreams.Consumer("us-east-1", "k", "s", name, endpoint=proxy.endpoint)
        err, found = c.getShards(None).result(timeout)
        pages = [call.body for call in proxy.calls if call.action == "ListShards"]
    assert err is None
    assert found == ["shardId-%012d" % i for i in range(shards)]
    assert len(pages) == -(-shards // page)
    assert "StreamName" in pages[0] and all(set(p) == {"NextToken", "MaxResults"} for p in pages[1:])
