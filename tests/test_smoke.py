from conftest import consumer, new_stream, producer

from awskinesisstreams import AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as IT, AWSKinesisStreams


def test_put_and_read_back_on_every_server(moto_server, kinesalite, kinesis_mock):
    for server in (moto_server, kinesalite, kinesis_mock):
        name = new_stream(server, 1)
        err, result = producer(server, name).putRecord(AWSKinesisStreams.Record({"a": 1}, "k")).result(10)
        assert err is None and result.sequenceNumber
        c = consumer(server, name)
        err, shards = c.getShards(None).result(10)
        err, it = c.getShardIterator(shards[0], IT.TRIM_HORIZON, None, None).result(10)
        err, records, millis, nxt = c.getRecords({"shardIterator": it}, None).result(10)
        assert err is None
        assert [r.data for r in records] == [{"a": 1}]
        assert nxt["shardIterator"]
