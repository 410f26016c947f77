"""DynamoDB on moto's server, made atomic as AWS documents it.

moto checks a write's condition and then writes, in two steps, on a threaded server: two
concurrent conditional writes on one item can both pass, which DynamoDB never allows. This
loopback proxy passes one call at a time, so each conditional write is atomic again.
"""

import threading
import uuid

import pytest

from awskinesisstreams.leases.dynamodb import DynamoDBLeaseStore
from proxy import Proxy


class AtomicDynamoDB(Proxy):
    """A proxy to moto that forwards one call at a time."""

    def __init__(self, upstream):
        super().__init__(upstream)
        self._one_at_a_time = threading.Lock()

    def _forward(self, handler, raw):
        with self._one_at_a_time:
            return super()._forward(handler, raw)


@pytest.fixture(scope="session")
def dynamodb_endpoint(moto_server):
    """The endpoint of moto's DynamoDB behind the atomic proxy."""
    with AtomicDynamoDB(moto_server.endpoint) as proxy:
        yield proxy.endpoint


def dynamodb_store(endpoint, table=None):
    """A DynamoDB lease store on a fresh table."""
    return DynamoDBLeaseStore(table or "leases-" + uuid.uuid4().hex[:8], "us-east-1", "testing", "testing", endpoint=endpoint)
