"""The figures every client counts, read back the way a fleet reads them: the Prometheus endpoint parsed
with prometheus_client's own parser, and CloudWatch (moto's) read back with boto3."""

import gc
import time
import uuid

import pytest
import requests
from conftest import new_stream, wait_for
from prometheus_client.parser import text_string_to_metric_families
from proxy import Proxy, aws_error

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR as ERR, AWSKinesisStreams, imp

Record = AWSKinesisStreams.Record


@pytest.fixture
def endpoint():
    server = AWSKinesisStreams.serveMetrics()
    yield "http://127.0.0.1:%d/metrics" % server.port
    server.close()


def scrape(url):
    """{(name, labels as a sorted tuple): value} of every sample, parsed by prometheus_client."""
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def value(samples, name, **labels):
    matching = [v for (n, l), v in samples.items() if n == name and all(dict(l).get(k) == w for k, w in labels.items())]
    return sum(matching) if matching else None


def test_a_buffered_producers_ok_and_failed_counts_equal_its_callbacks(moto_server, endpoint):
    stream = new_stream(moto_server, 2)
    outcomes = []
    with AWSKinesisStreams.BufferedProducer(moto_server.region, "testing", "testing", stream, endpoint=moto_server.endpoint) as p:
        for n in range(500):
            p.putRecord(Record({"n": n}, "k%d" % (n % 40)), lambda e, r: outcomes.append(e))
        p.flush().result(20)
        during = scrape(endpoint)
    missing = "missing-" + uuid.uuid4().hex[:8]
    failures = []
    with AWSKinesisStreams.BufferedProducer(moto_server.region, "testing", "testing", missing, endpoint=moto_server.endpoint,
                                            recordTtl=0.5) as gone:
        for n in range(7):
            gone.putRecord(Record(n, "k"), lambda e, r: failures.append(e))
    samples = scrape(endpoint)
    assert len(outcomes) == 500 and all(e is None for e in outcomes) and len(failures) == 7 and all(failures)
    assert value(samples, "awskinesisstreams_producer_user_records_total", stream=stream, outcome="ok") == 500
    assert value(samples, "awskinesisstreams_producer_user_records_total", stream=stream, outcome="failed") == 0
    assert value(samples, "awskinesisstreams_producer_user_records_total", stream=missing, outcome="failed") == 7
    assert value(samples, "awskinesisstreams_producer_user_records_total", stream=missing, outcome="ok") == 0
    assert 1 <= value(samples, "awskinesisstreams_producer_kinesis_records_total", stream=stream) < 500  # aggregated
    assert value(samples, "awskinesisstreams_producer_user_record_seconds_count", stream=stream) == 500
    assert value(samples, "awskinesisstreams_producer_buffered_records", stream=stream) == 0
    assert value(during, "awskinesisstreams_producer_buffered_bytes", stream=stream) == 0
    assert value(samples, "awskinesisstreams_requests_total", service="kinesis", operation="ListShards",
                 outcome="ResourceNotFoundException") >= 1


def test_throttles_and_retries_are_counted(moto_server, endpoint):
    stream = new_stream(moto_server, 1)
    throttled = []

    def rule(call):
        if call.action == "PutRecords" and len(throttled) < 3:
            throttled.append(1)
            return aws_error(400, "ProvisionedThroughputExceededException", "slow down")
        return None

    before = scrape(endpoint)
    with Proxy(moto_server.endpoint, rule=rule) as proxy:
        with AWSKinesisStreams.BufferedProducer(moto_server.region, "testing", "testing", stream, endpoint=proxy.endpoint,
                                                aggregate=False) as p:
            futures = [p.putRecord(Record(n, "k")) for n in range(20)]
    samples = scrape(endpoint)
    throttles = ("awskinesisstreams_requests_total", dict(service="kinesis", operation="PutRecords",
                                                          outcome="ProvisionedThroughputExceededException"))
    assert all(f.result(10)[0] is None for f in futures)
    assert value(samples, throttles[0], **throttles[1]) - (value(before, throttles[0], **throttles[1]) or 0) == 3
    assert value(samples, "awskinesisstreams_producer_retries_total", stream=stream) >= 3
    assert value(samples, "awskinesisstreams_request_seconds_count", service="kinesis", operation="PutRecords") >= 4


def test_a_workers_processed_counts_equal_the_records_written(kinesalite, endpoint):
    stream = new_stream(kinesalite, 2)
    writer = AWSKinesisStreams.Producer(kinesalite.region, "testing", "testing", stream, endpoint=kinesalite.endpoint)
    records = [Record({"n": n}, "key-%d" % n) for n in range(60)]
    assert writer.putRecords(records).result(20)[:2] == (None, 0)
    seen = []

    def process(batch, cb):
        seen.extend(batch)
        cb(None, True)

    worker = AWSKinesisStreams.Worker(kinesalite.region, "testing", "testing", stream, {"processRecords": process},
                                      endpoint=kinesalite.endpoint, applicationName="metrics-" + stream,
                                      leaseStore=AWSKinesisStreams.SQLiteLeaseStore(":memory:"))
    worker.start()
    try:
        assert wait_for(lambda: len(seen) >= 60, 30)
        assert wait_for(lambda: value(scrape(endpoint), "awskinesisstreams_worker_checkpoints_total", stream=stream) >= 2)
        samples = scrape(endpoint)
        stats = worker.getStats()
    finally:
        stopped = []
        worker.stop(lambda e: stopped.append(e))
        assert wait_for(lambda: stopped, 20)
    labels = dict(stream=stream, application="metrics-" + stream, worker=worker.workerId)
    assert value(samples, "awskinesisstreams_worker_records_processed_total", **labels) == len(seen) == 60
    size = sum(len(b'{"n":%d}' % n) for n in range(60))
    assert value(samples, "awskinesisstreams_worker_bytes_processed_total", **labels) == size
    assert value(samples, "awskinesisstreams_worker_leases_held", **labels) == 2
    assert value(samples, "awskinesisstreams_worker_leases_taken_total", **labels) == 2
    assert value(samples, "awskinesisstreams_worker_leases_lost_total", **labels) == 0
    assert value(samples, "awskinesisstreams_worker_millis_behind_latest", **labels) is not None
    assert value(samples, "awskinesisstreams_worker_process_records_seconds_count", **labels) >= 2
    assert set(stats) == {"shardId-000000000000", "shardId-000000000001"}  # the shape getStats always had
    assert stats.applicationMillisBehindLatest == max(s["millisBehindLatest"] for s in stats.values())


def test_instances_gone_leave_the_output(moto_server, endpoint):
    stream = new_stream(moto_server, 1)

    def write_one():  # in a function of its own: no local of the test keeps the producer
        p = AWSKinesisStreams.BufferedProducer(moto_server.region, "testing", "testing", stream, endpoint=moto_server.endpoint)
        error = p.putRecord(Record(1, "k")).result(10)[0]
        return error, p.close(10)

    assert write_one() == (None, True)
    gone = lambda: gc.collect() is not None and value(scrape(endpoint), "awskinesisstreams_producer_user_records_total", stream=stream) is None  # noqa: E731
    assert wait_for(gone, 5)  # once the loop has run what was queued for it
    kept = AWSKinesisStreams.BufferedProducer(moto_server.region, "testing", "testing", stream, endpoint=moto_server.endpoint)
    assert kept.putRecord(Record(1, "k")).result(10)[0] is None
    gc.collect()
    assert value(scrape(endpoint), "awskinesisstreams_producer_user_records_total", stream=stream) == 1
    kept.close(10)


def test_the_endpoint_serves_only_metrics_and_closes():
    server = AWSKinesisStreams.serveMetrics(0, "127.0.0.1")
    url = "http://127.0.0.1:%d" % server.port
    assert requests.get(url + "/other", timeout=5).status_code == 404
    assert "# TYPE awskinesisstreams_requests_total counter" in requests.get(url + "/metrics", timeout=5).text
    server.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/metrics", timeout=5)


# -- CloudWatch -------------------------------------------------------------------------


def cloudwatch(server):
    import boto3

    return boto3.client("cloudwatch", region_name=server.region, endpoint_url=server.endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_cloudwatch_gets_the_kcl_and_kpl_names_as_statistic_sets(moto_server):
    stream = new_stream(moto_server, 2)
    namespace = "app-" + uuid.uuid4().hex[:8]
    publisher = AWSKinesisStreams.CloudWatchMetrics(moto_server.region, None, None, namespace, endpoint=moto_server.endpoint,
                                                    credentials=AWSKinesisStreams.Credentials.static("testing", "testing"),
                                                    interval=3600)
    with AWSKinesisStreams.BufferedProducer(moto_server.region, "testing", "testing", stream, endpoint=moto_server.endpoint) as p:
        for n in range(300):
            p.putRecord(Record(n, "k%d" % n))
    assert publisher.close(10) and publisher.published >= 2
    client = cloudwatch(moto_server)
    names = {metric["MetricName"] for metric in client.list_metrics(Namespace=namespace)["Metrics"]}
    assert {"UserRecordsPut", "KinesisRecordsPut"} <= names
    stats = client.get_metric_statistics(
        Namespace=namespace, MetricName="UserRecordsPut", Dimensions=[{"Name": "StreamName", "Value": stream}],
        StartTime=time.time() - 600, EndTime=time.time() + 600, Period=60, Statistics=["Sum", "SampleCount"])
    assert sum(point["Sum"] for point in stats["Datapoints"]) == 300
    assert sum(point["SampleCount"] for point in stats["Datapoints"]) < 300  # statistic sets, not a point per record


def test_cloudwatch_that_fails_is_logged_and_tried_again_without_touching_kinesis(moto_server, caplog):
    stream = new_stream(moto_server, 1)
    namespace = "retry-" + uuid.uuid4().hex[:8]
    refusing = [True]

    def rule(call):
        return aws_error(503, "ServiceUnavailable", "down") if refusing[0] else None

    with Proxy(moto_server.endpoint, rule=rule) as proxy:
        publisher = AWSKinesisStreams.CloudWatchMetrics(moto_server.region, "testing", "testing", namespace,
                                                        endpoint=proxy.endpoint, interval=3600)
        with AWSKinesisStreams.BufferedProducer(moto_server.region, "testing", "testing", stream, endpoint=moto_server.endpoint) as p:
            assert p.putRecord(Record(1, "k")).result(10)[0] is None  # Kinesis is not slowed by CloudWatch
            assert not publisher.publish() and publisher.failures == 1
            refusing[0] = False
            assert publisher.publish()
        publisher.close(10)
    assert "PutMetricData answered HTTP 503" in caplog.text
    points = cloudwatch(moto_server).get_metric_statistics(
        Namespace=namespace, MetricName="UserRecordsPut", Dimensions=[{"Name": "StreamName", "Value": stream}],
        StartTime=time.time() - 600, EndTime=time.time() + 600, Period=60, Statistics=["Sum"])["Datapoints"]
    assert sum(point["Sum"] for point in points) == 1  # kept through the failure, published once


def test_cloudwatch_batches_stay_within_its_limits():
    from urllib.parse import urlencode

    from awskinesisstreams.metrics.cloudwatch import MAX_BYTES, MAX_DATUMS, batches, request_params

    datums = [{"MetricName": "RecordsProcessed", "Unit": "Count", "Dimensions.member.1.Name": "ShardId",
               "Dimensions.member.1.Value": "shardId-%012d" % n, "StatisticValues.Sum": "1.0"} for n in range(2500)]
    groups = batches(datums)
    assert [len(group) for group in groups] == [MAX_DATUMS, MAX_DATUMS, 500] and sum(groups, []) == datums
    assert all(len(urlencode(request_params(group, "ns"))) < MAX_BYTES for group in groups)
    wide = [dict(datum, **{"Dimensions.member.2.Name": "Big", "Dimensions.member.2.Value": "v" * 255}) for datum in datums]
    assert all(len(urlencode(request_params(group, "ns"))) < MAX_BYTES for group in batches(wide))
    assert request_params(datums[:2], "ns")["MetricData.member.2.Dimensions.member.1.Value"] == "shardId-000000000001"


def test_a_wrong_cloudwatch_setting_is_a_library_error_never_raised():
    publisher = AWSKinesisStreams.CloudWatchMetrics("us-east-1", "AKID", "s", "", interval=0)
    assert publisher.error.type == ERR.LIBRARY_ERROR and "namespace" in publisher.error.details and "interval" in publisher.error.details
    assert publisher.publish() is False and publisher.close() is False
    imp.run(1)
