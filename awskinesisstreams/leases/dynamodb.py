"""Leases in a DynamoDB table, for workers on many machines.

It speaks the DynamoDB JSON API (DynamoDB_20120810, JSON 1.0) through the library's own
signed client. The table (partition key `scope` = application and stream, sort key
`shardId`) is created on first use. Every change is a conditional write on the owner and
the lease counter, so two workers can never both own a shard or move a checkpoint back.
"""

import json
import re
import time
from typing import Any, Dict, List, Optional

from ..error import Error, library_error
from .store import KEEP, Lease, LeaseStore, scope_of
from ..transport.credentials import signing_source
from ..transport.signed_request import AwsJsonClient, Timeout

TARGET_PREFIX = "DynamoDB_20120810"
JSON_VERSION = "1.0"
CONDITION_FAILED = "ConditionalCheckFailedException"
# Every attribute goes by a placeholder in expressions: OWNER and others are DynamoDB reserved words.
NAMES = {
    "#scope": "scope",
    "#shard": "shardId",
    "#owner": "owner",
    "#counter": "leaseCounter",
    "#checkpoint": "checkpoint",
    "#sub": "checkpointSubSequenceNumber",  # the KCL's name for it
    "#wanted": "wanted",
    "#millis": "millisBehindLatest",
}


def _item(lease: Lease) -> Dict[str, Any]:
    item: Dict[str, Any] = {
        "scope": {"S": lease.scope},
        "shardId": {"S": lease.shardId},
        "leaseCounter": {"N": str(lease.counter)},
        "checkpoint": {"S": lease.checkpoint},
        "parents": {"L": [{"S": parent} for parent in lease.parents]},
    }
    if lease.owner is not None:
        item["owner"] = {"S": lease.owner}
    if lease.subSequence is not None:
        item["checkpointSubSequenceNumber"] = {"N": str(lease.subSequence)}
    return item


def _lease(item: Dict[str, Any]) -> Lease:
    application, stream = json.loads(item["scope"]["S"])
    return Lease(
        application,
        stream,
        item["shardId"]["S"],
        item.get("owner", {}).get("S"),
        int(item["leaseCounter"]["N"]),
        item["checkpoint"]["S"],
        tuple(parent["S"] for parent in item.get("parents", {}).get("L", [])),
        item.get("wanted", {}).get("S"),
        # both absent from items written before they existed
        subSequence=_number(item.get("checkpointSubSequenceNumber")),
        millisBehindLatest=_number(item.get("millisBehindLatest")),
    )


def _number(value: Optional[Dict[str, str]]) -> Optional[int]:
    return int(value["N"]) if value else None


def _owner_condition(lease: Lease, values: Dict[str, Any]) -> str:
    """The condition that the stored owner is still `lease.owner` (no owner at all for a free lease)."""
    if lease.owner is None:
        return "attribute_not_exists(#owner)"
    values[":owner"] = {"S": lease.owner}
    return "#owner = :owner"


def _expressions(body: Dict[str, Any], values: Dict[str, Any]) -> Dict[str, Any]:
    """`body` with the values and the placeholders its expressions use (DynamoDB refuses unused ones)."""
    expressions = ("KeyConditionExpression", "UpdateExpression", "ConditionExpression")
    used = set(re.findall(r"#\w+", " ".join(body.get(name, "") for name in expressions)))
    body["ExpressionAttributeNames"] = {name: NAMES[name] for name in used}
    if values:
        body["ExpressionAttributeValues"] = values
    return body


class DynamoDBLeaseStore(LeaseStore):
    """Leases in DynamoDB table `table`; one table serves any number of applications and streams.

    `DynamoDBLeaseStore(table, region, accessKeyId, secretAccessKey, *, endpoint=None, sessionToken=None)`
    """

    def __init__(
        self,
        table: str,
        region: str,
        accessKeyId: str,
        secretAccessKey: str,
        *,
        endpoint: Optional[str] = None,
        sessionToken: Optional[str] = None,
        timeout: Optional[Timeout] = None,
        ready_timeout: float = 120.0,
        credentials: Any = None,
    ) -> None:
        given = {"table": table, "region": region}
        wrong = [name for name, value in given.items() if not isinstance(value, str) or not value]
        source, wrong_source = signing_source(accessKeyId, secretAccessKey, sessionToken, credentials)
        # as everywhere in the library, a wrong argument fails each later call, not the constructor
        self._init_error: Optional[Error] = None
        self._client: Optional[AwsJsonClient] = None
        self.table = table
        self._ready_timeout = ready_timeout
        try:
            if wrong or wrong_source:
                said = ["%s must be non-empty strings" % ", ".join(wrong)] if wrong else []
                raise library_error("; ".join(said + wrong_source))
            self._client = AwsJsonClient.for_service(
                "dynamodb", TARGET_PREFIX, JSON_VERSION, region, source, endpoint, timeout
            )
        except Error as error:
            self._init_error = library_error("DynamoDBLeaseStore wrongly initialized: %s" % error.details)

    def _call(self, action: str, body: Dict[str, Any], required: tuple = ()) -> Dict[str, Any]:
        if self._init_error is not None:
            raise self._init_error
        assert self._client is not None
        body["TableName"] = self.table
        return self._client.call(action, json.dumps(body).encode("utf-8"), required)

    def _conditional(self, action: str, body: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """A conditional write; None if its condition failed."""
        try:
            return self._call(action, body)
        except Error as error:
            if error.awsErrorType == CONDITION_FAILED:
                return None
            raise

    def prepare(self) -> None:
        """Create the table (on-demand capacity) if it does not exist, and wait until it is ACTIVE."""
        try:
            self._call(
                "CreateTable",
                {
                    "AttributeDefinitions": [
                        {"AttributeName": "scope", "AttributeType": "S"},
                        {"AttributeName": "shardId", "AttributeType": "S"},
                    ],
                    "KeySchema": [
                        {"AttributeName": "scope", "KeyType": "HASH"},
                        {"AttributeName": "shardId", "KeyType": "RANGE"},
                    ],
                    "BillingMode": "PAY_PER_REQUEST",
                },
            )
        except Error as error:
            if error.awsErrorType != "ResourceInUseException":
                raise
        deadline = time.monotonic() + self._ready_timeout
        while self._call("DescribeTable", {}, ("Table",))["Table"].get("TableStatus") != "ACTIVE":
            if time.monotonic() > deadline:
                raise library_error("DynamoDB table %s is not ACTIVE after %.0f s" % (self.table, self._ready_timeout))
            time.sleep(0.5)

    def list(self, application: str, stream: str) -> List[Lease]:
        body = _expressions(
            {"KeyConditionExpression": "#scope = :scope", "ConsistentRead": True},
            {":scope": {"S": scope_of(application, stream)}},
        )
        leases: List[Lease] = []
        while True:
            answer = self._call("Query", dict(body), ("Items",))
            leases.extend(_lease(item) for item in answer["Items"])
            if not answer.get("LastEvaluatedKey"):
                return leases
            body["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def get(self, application: str, stream: str, shardId: str) -> Optional[Lease]:
        answer = self._call(
            "GetItem",
            {"Key": {"scope": {"S": scope_of(application, stream)}, "shardId": {"S": shardId}}, "ConsistentRead": True},
        )
        return _lease(answer["Item"]) if answer.get("Item") else None

    def create(self, lease: Lease) -> bool:
        body = _expressions({"Item": _item(lease), "ConditionExpression": "attribute_not_exists(#shard)"}, {})
        return self._conditional("PutItem", body) is not None

    def delete(self, lease: Lease) -> bool:
        body = {"Key": self._key(lease), "ConditionExpression": "#counter = :counter"}
        return self._conditional("DeleteItem", _expressions(body, {":counter": {"N": str(lease.counter)}})) is not None

    def ask(self, lease: Lease, worker: str) -> bool:
        values: Dict[str, Any] = {":wanted": {"S": worker}}
        body = {
            "Key": self._key(lease),
            "UpdateExpression": "SET #wanted = :wanted",
            "ConditionExpression": "attribute_exists(#shard) AND " + _owner_condition(lease, values),
        }
        return self._conditional("UpdateItem", _expressions(body, values)) is not None

    def _change(
        self, lease: Lease, owner: Any, checkpoint: Optional[str], clear_wanted: bool,
        *, sub: Optional[int] = None, millis: Optional[int] = None,
    ) -> Optional[Lease]:
        values: Dict[str, Any] = {":counter": {"N": str(lease.counter)}, ":next": {"N": str(lease.counter + 1)}}
        sets = ["#counter = :next"]
        removes = ["#wanted"] if clear_wanted else []
        if owner is not KEEP:
            if owner is None:
                removes.append("#owner")
            else:
                sets.append("#owner = :new_owner")
                values[":new_owner"] = {"S": owner}
        if checkpoint is not None:
            sets.append("#checkpoint = :checkpoint")
            values[":checkpoint"] = {"S": checkpoint}
            if sub is None:
                removes.append("#sub")
            else:
                sets.append("#sub = :sub")
                values[":sub"] = {"N": str(sub)}
        if millis is not None:
            sets.append("#millis = :millis")
            values[":millis"] = {"N": str(millis)}
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        body = {
            "Key": self._key(lease),
            "UpdateExpression": update,
            "ConditionExpression": "#counter = :counter AND " + _owner_condition(lease, values),
            "ReturnValues": "ALL_NEW",
        }
        answer = self._conditional("UpdateItem", _expressions(body, values))
        return _lease(answer["Attributes"]) if answer is not None else None

    @staticmethod
    def _key(lease: Lease) -> Dict[str, Any]:
        return {"scope": {"S": lease.scope}, "shardId": {"S": lease.shardId}}

    def __repr__(self) -> str:
        return "DynamoDBLeaseStore(%r, endpoint=%r)" % (self.table, self._client and self._client.endpoint)
