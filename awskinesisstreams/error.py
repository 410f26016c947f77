"""AWSKinesisStreams.Error: what every error-first callback receives when a call fails."""

import logging
from typing import Any, Dict, List, Optional

from .enums import AWS_KINESIS_STREAMS_ERROR

logger = logging.getLogger("awskinesisstreams")


class Error(Exception):
    """A failed call: its `type`, human-readable `details`, and the HTTP status and body if any.

    `httpResponse` is the decoded JSON body as a dict, the raw text where the body was not
    JSON, and None for a LIBRARY_ERROR or when no response arrived. Beyond Squirrel: when
    getRecords reads a record a JSON consumer cannot decode, `records` holds that call's
    records with their raw bytes and `nextOptions` the options to read on from.
    """

    def __init__(
        self,
        type: AWS_KINESIS_STREAMS_ERROR,
        details: str,
        httpStatus: Optional[int] = None,
        httpResponse: Any = None,
    ) -> None:
        super().__init__(details)
        self.type = AWS_KINESIS_STREAMS_ERROR(type)
        self.details = details
        self.httpStatus = httpStatus
        self.httpResponse = httpResponse
        self.records: Optional[List[Any]] = None
        self.nextOptions: Optional[Dict[str, Any]] = None

    @property
    def awsErrorType(self) -> Optional[str]:
        """The AWS error name (for example "ResourceNotFoundException"), if the body gave one."""
        body = self.httpResponse
        if not isinstance(body, dict):
            return None
        name = body.get("__type") or body.get("code") or body.get("Code")
        return name.rpartition("#")[2] if isinstance(name, str) else None

    def __repr__(self) -> str:
        return "AWSKinesisStreams.Error(%s, %r, httpStatus=%r)" % (
            self.type.name,
            self.details,
            self.httpStatus,
        )

    def __str__(self) -> str:
        if self.httpStatus is None:
            return "%s: %s" % (self.type.name, self.details)
        return "%s (HTTP %d): %s" % (self.type.name, self.httpStatus, self.details)


def library_error(details: str) -> Error:
    """A LIBRARY_ERROR: wrong initialisation or arguments, found before anything is sent."""
    return Error(AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR, details)


def unexpected_answer(action: str, what: str, answer: Any) -> Error:
    """An UNEXPECTED_RESPONSE: a 2xx answer to `action` that is not what was asked for (carried as httpResponse)."""
    return Error(AWS_KINESIS_STREAMS_ERROR.UNEXPECTED_RESPONSE, "%s answer %s" % (action, what), 200, answer)


def internal_error(name: str, exc: Exception) -> Error:
    """An argument no check foresaw made the library fail (a bug): logged with its traceback, and a LIBRARY_ERROR."""
    logger.error("%s: internal error", name, exc_info=exc)
    return library_error("%s: internal error: %s" % (name, type(exc).__name__))


def as_error(exc: Exception) -> Error:
    """Any failure of a store or a call as the library's Error (an sqlite3 error, say): REQUEST_FAILED."""
    if isinstance(exc, Error):
        return exc
    return Error(AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED, "%s: %s" % (type(exc).__name__, exc))
