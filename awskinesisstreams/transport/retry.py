"""Retry: when and how long to wait before trying a failed call again (as urllib3's Retry is for HTTP).

A `Retry` is an immutable policy: how many retries, the exponential backoff with full jitter
and its cap, and the total time budget of one call. `start()` gives the mutable `Attempts`
of one call, which the signed client (and PutRecords, for the records that failed inside a
200) consult before each new attempt.

Retried: throttling (ProvisionedThroughputExceededException, LimitExceededException,
KMSThrottlingException and the like), HTTP 500/502/503/504, and no answer at all
(connection refused or reset, a read timeout, a body cut short). Never retried: any other
4xx (validation, missing stream, access denied, expired iterator), a 2xx the library cannot
read, a TLS failure (an unverifiable certificate fails the same way every time), and
LIBRARY_ERROR.

A retried PutRecord/PutRecords whose first attempt timed out or lost its answer may have been
written already, so the record can be in the stream twice: Kinesis is at-least-once, and the
Kinesis Producer Library does the same. The callback still gets exactly one outcome per
record, the last attempt's.
"""

import logging
import time
from random import random as unit_random
from dataclasses import dataclass, field
from typing import Callable

from ..enums import AWS_KINESIS_STREAMS_ERROR
from ..error import Error, library_error
from ..record import _describe

logger = logging.getLogger("awskinesisstreams")

THROTTLING = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "KMSThrottlingException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
    }
)
RETRIED_STATUSES = frozenset({500, 502, 503, 504})
RETRIED_RECORD_ERRORS = THROTTLING | {"InternalFailure", "ServiceUnavailable"}
DEFAULT_RETRIES = 3


def is_retryable(error: Error) -> bool:
    """Whether a failed call may succeed if sent again: throttled, 5xx, or no answer at all."""
    if error.type is not AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED:
        return False
    if error.httpStatus is None or error.httpStatus in RETRIED_STATUSES:
        return True
    return error.awsErrorType in THROTTLING


@dataclass(frozen=True)
class Retry:
    """At most `total` retries of a call, each after a sleep of `uniform(0, min(cap, backoff * 2**n))`.

    No retry starts once `budget` seconds have passed since the call began. `Retry(0)` turns
    retries off. `random`, `sleep` and `clock` may be replaced to make the policy deterministic
    in tests.
    """

    total: int = DEFAULT_RETRIES
    backoff: float = 0.05
    cap: float = 2.0
    budget: float = 30.0
    random: Callable[[], float] = field(default=unit_random, repr=False, compare=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.total, bool) or not isinstance(self.total, int) or self.total < 0:
            raise ValueError("Retry total must be an integer >= 0, got %r" % (self.total,))
        for name in ("backoff", "cap", "budget"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError("Retry %s must be a number >= 0, got %r" % (name, value))

    def delay(self, retry: int) -> float:
        """The sleep before retry number `retry` (1 for the first): full jitter under the capped exponential."""
        return self.random() * min(self.cap, self.backoff * 2.0 ** min(retry - 1, 64))  # 2**64: far past any cap

    def start(self) -> "Attempts":
        """The retry state of one new call."""
        return Attempts(self)

    @classmethod
    def of(cls, value: object) -> "Retry":
        """A policy from a constructor's `retries=`: None (the default), a count, or a Retry.

        Raises a LIBRARY_ERROR Error for anything else.
        """
        if value is None:
            return cls()
        if isinstance(value, Retry):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return cls(value)
        raise library_error("retries must be an integer >= 0 or an AWSKinesisStreams.Retry, got %s" % _describe(value))


class Attempts:
    """How far one call has got with its policy: retries used and time spent."""

    def __init__(self, policy: Retry) -> None:
        self.policy = policy
        self.retries = 0
        self._started = policy.clock()

    def wait(self, action: str, reason: object) -> bool:
        """Sleep before the next attempt and return True, or return False if no retry is left.

        `reason` (an Error, or words) is what failed; it is logged at debug level.
        """
        policy = self.policy
        if self.retries >= policy.total:
            return False
        delay = policy.delay(self.retries + 1)
        if policy.clock() - self._started + delay > policy.budget:
            logger.debug("%s: no retry, the %.1f s budget would run out (%s)", action, policy.budget, reason)
            return False
        self.retries += 1
        logger.debug("%s: retry %d of %d in %.3f s after %s", action, self.retries, policy.total, delay, reason)
        policy.sleep(delay)
        return True

    def again(self, action: str, error: Error) -> bool:
        """Whether to send a call that failed with `error` again (after sleeping)."""
        return is_retryable(error) and self.wait(action, error)

