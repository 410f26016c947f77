"""What every credential source shares: the keys it returns, NotFound, its errors, times and HTTP."""

import datetime
import ipaddress
from typing import Any, Callable, Dict, Optional
from urllib.parse import urlsplit

import requests

from ...enums import AWS_KINESIS_STREAMS_ERROR
from ...error import Error
from ..sigv4 import Keys

Fetch = Callable[[], Keys]


class NotFound(Exception):
    """A source that does not apply here; `where` says where it looked, for the error that lists them all."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


def failed(source: str, what: str, status: Optional[int] = None, body: Any = None) -> Error:
    """The REQUEST_FAILED of a source that applies but failed: it names the source, never a secret."""
    return Error(AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED, "credentials from %s: %s" % (source, what), status, body)


def parse_time(text: Any, source: str) -> float:
    """An ISO 8601 time (`2026-12-08T10:00:00Z`, with or without fractions or an offset) as epoch seconds."""
    if not isinstance(text, str):
        raise failed(source, "no usable Expiration in the answer")
    value = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise failed(source, "Expiration %r is not an ISO 8601 time" % text[:40]) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def keys_from(answer: Any, source: str, names: Dict[str, str], expiring: bool = True) -> Keys:
    """Keys out of a JSON answer whose fields are named as `names` says (key, secret, token, expiration)."""
    if not isinstance(answer, dict):
        raise failed(source, "the answer is not a JSON object")
    key, secret = answer.get(names["key"]), answer.get(names["secret"])
    token = answer.get(names["token"]) or None
    if not isinstance(key, str) or not key or not isinstance(secret, str) or not secret:
        raise failed(source, "the answer lacks %s or %s" % (names["key"], names["secret"]))
    if token is not None and not isinstance(token, str):
        raise failed(source, "%s is not a string" % names["token"])
    raw = answer.get(names["expiration"])
    expiration = parse_time(raw, source) if (raw is not None or expiring) else None
    return Keys(key, secret, token, expiration)


JSON_NAMES = {"key": "AccessKeyId", "secret": "SecretAccessKey", "token": "Token", "expiration": "Expiration"}


def get_json(url: str, source: str, **kwargs: Any) -> Any:
    """GET `url` and decode its JSON answer; no answer or a non-2xx is a REQUEST_FAILED naming `source`."""
    try:
        response = requests.get(url, **kwargs)
    except requests.RequestException as exc:
        raise failed(source, "no answer from %s (%s)" % (_origin(url), type(exc).__name__)) from None
    if not 200 <= response.status_code < 300:
        raise failed(source, "%s answered HTTP %d" % (_origin(url), response.status_code), response.status_code, _body(response))
    try:
        return response.json()
    except ValueError:
        raise failed(source, "%s answered with a body that is not JSON" % _origin(url), response.status_code) from None


def _body(response: requests.Response) -> Any:
    """An error answer's body, decoded if JSON (an error body holds no credentials)."""
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return "%s://%s" % (parts.scheme, parts.netloc)


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) is this machine: localhost or 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
