"""getShards pages through ListShards the way AWS requires, against moto behind an AWS-strict proxy."""

import json

from conftest import new_stream

from awskinesisstreams import AWSKinesisStreams
from proxy import Call, Proxy, aws_error


def aws_list_shards_rules(page_size, stream_name):
    """AWS refuses StreamName beside NextToken; the proxy also caps pages so that paging really happens.

    moto wants the StreamName on every page (AWS refuses it), so an AWS-correct later page
    is forwarded to moto with the name added back.
    """

    def rule(call: Call):
        if call.action != "ListShards":
            return None
        if "NextToken" in call.body and "StreamName" in call.body:
            return aws_error(400, "InvalidArgumentException", "NextToken and StreamName cannot be provided together.")
        forwarded = dict(call.body, MaxResults=min(call.body.get("MaxResults", 1000), page_size), StreamName=stream_name)
        call.raw = json.dumps(forwarded).encode()
        return None

    return rule


def test_get_shards_pages_with_next_token_alone(moto_server):
    name = new_stream(moto_server, 7)
    with Proxy(moto_server.endpoint, rule=aws_list_shards_rules(3, name)) as proxy:
        c = AWSKinesisStreams.Consumer("us-east-1", "k", "s", name, endpoint=proxy.endpoint)
        err, shards = c.getShards(None).result(10)
        pages = [call.body for call in proxy.calls if call.action == "ListShards"]
    assert err is None
    assert shards == ["shardId-%012d" % i for i in range(7)]
    assert len(pages) == 3
    assert "StreamName" in pages[0] and all(set(p) == {"NextToken", "MaxResults"} for p in pages[1:])


def test_get_shards_of_a_stream_with_more_than_100_shards(moto_server):
    """Over 100 shards, in pages of 100 (DescribeStream's old limit), every shard once and in order."""
    name = new_stream(moto_server, 230)
    with Proxy(moto_server.endpoint, rule=aws_list_shards_rules(100, name)) as proxy:
        c = AWSKinesisStreams.Consumer("us-east-1", "k", "s", name, endpoint=proxy.endpoint)
        err, shards = c.getShards(None).result(20)
        pages = [call.body for call in proxy.calls if call.action == "ListShards"]
    assert err is None
    assert shards == ["shardId-%012d" % i for i in range(230)]
    assert len(pages) == 3 and all(set(p) == {"NextToken", "MaxResults"} for p in pages[1:])
