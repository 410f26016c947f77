"""awskinesisstreams: Electric Imp's AWSKinesisStreams agent library, for Python.

    from awskinesisstreams import AWSKinesisStreams, imp, server

    producer = AWSKinesisStreams.Producer(region, keyId, secret, "my-stream")
    producer.putRecord(AWSKinesisStreams.Record({"t": 21}, "sensor-1"),
                       lambda err, res: server.log(err or res.sequenceNumber))
    imp.run()
"""

from .buffering.buffered_producer import BufferedProducer
from .consumer import Consumer
from .leases.dynamodb import DynamoDBLeaseStore
from .enums import (
    AWS_KINESIS_STREAMS_ENCRYPTION_TYPE,
    AWS_KINESIS_STREAMS_ERROR,
    AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE,
)
from .error import Error
from .leases.store import SQLiteLeaseStore
from .loop import imp, server
from .metrics.cloudwatch import CloudWatchMetrics
from .metrics.prometheus import serve_metrics
from .producer import Producer
from .put_record_result import PutRecordResult
from .record import Record
from .transport.credentials import Credentials
from .transport.signed_request import Timeout
from .transport.retry import Retry
from .streams import AWSKinesisStreams
from .worker.worker import LeaseLost, Worker

__version__ = "0.1.0"

AWSKinesisStreams.VERSION = __version__
AWSKinesisStreams.Producer = Producer  # type: ignore[attr-defined]
AWSKinesisStreams.BufferedProducer = BufferedProducer  # type: ignore[attr-defined]
AWSKinesisStreams.Consumer = Consumer  # type: ignore[attr-defined]
AWSKinesisStreams.Record = Record  # type: ignore[attr-defined]
AWSKinesisStreams.Error = Error  # type: ignore[attr-defined]
AWSKinesisStreams.PutRecordResult = PutRecordResult  # type: ignore[attr-defined]
AWSKinesisStreams.Timeout = Timeout  # type: ignore[attr-defined]
AWSKinesisStreams.Credentials = Credentials  # type: ignore[attr-defined]
AWSKinesisStreams.CloudWatchMetrics = CloudWatchMetrics  # type: ignore[attr-defined]
AWSKinesisStreams.serveMetrics = staticmethod(serve_metrics)  # type: ignore[attr-defined]
AWSKinesisStreams.Retry = Retry  # type: ignore[attr-defined]
AWSKinesisStreams.Worker = Worker  # type: ignore[attr-defined]
AWSKinesisStreams.LeaseLost = LeaseLost  # type: ignore[attr-defined]
AWSKinesisStreams.SQLiteLeaseStore = SQLiteLeaseStore  # type: ignore[attr-defined]
AWSKinesisStreams.DynamoDBLeaseStore = DynamoDBLeaseStore  # type: ignore[attr-defined]

__all__ = [
    "AWSKinesisStreams",
    "AWS_KINESIS_STREAMS_ERROR",
    "AWS_KINESIS_STREAMS_ENCRYPTION_TYPE",
    "AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE",
    "imp",
    "server",
]
