"""The signed request: AWS Signature Version 4 and the HTTP POST of an AWS JSON-protocol call.

This is the port of the Squirrel AWSRequestV4 library. It knows nothing of Kinesis: it signs
a JSON body for a service and target, sends it on a pooled connection, and turns the answer
into a dict or an Error (REQUEST_FAILED, UNEXPECTED_RESPONSE).
"""

import hashlib
import hmac
import json
import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Optional, Tuple
from urllib.parse import quote, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from .enums import AWS_KINESIS_STREAMS_ERROR
from .error import Error, library_error
from .retry import Attempts, Retry

logger = logging.getLogger("awskinesisstreams")

ALGORITHM = "AWS4-HMAC-SHA256"
# What an HTTP header can carry as it is: the access key id and session token each go in one.
HEADER_SAFE = re.compile(r"[!-~]+")
# A region is one field of the signature's slash-separated scope, and part of AWS's host names.
REGION = re.compile(r"[A-Za-z0-9._-]+")
CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
# `Response.content` reads 10 KiB at a time; a GetRecords answer runs to megabytes, so read it in
# larger pieces (through the same iter_content, with the same errors).
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Credentials:
    """An access key pair, with the session token of temporary credentials. Never shown in a repr."""

    accessKeyId: str
    secretAccessKey: str = field(repr=False)
    sessionToken: Optional[str] = field(default=None, repr=False)


@dataclass(frozen=True)
class Timeout:
    """How long to wait for a connection and then for each read of the answer, in seconds."""

    connect: float = 5.0
    read: float = 30.0

    def usable(self) -> bool:
        """True if both are positive numbers of seconds, or None (no limit), as `requests` takes them."""
        return all(
            value is None or (not isinstance(value, bool) and isinstance(value, (int, float)) and 0 < value < math.inf)
            for value in (self.connect, self.read)
        )


def default_endpoint(service: str, region: str) -> str:
    """The public endpoint of `service` in `region` (China regions use amazonaws.com.cn)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return "https://%s.%s.%s" % (service, region, suffix)


def resolve_endpoint(service: str, region: str, endpoint: Optional[str]) -> str:
    """The endpoint to use: the argument, then AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, then AWS's."""
    chosen = (
        endpoint
        or os.environ.get("AWS_ENDPOINT_URL_" + service.upper())
        or os.environ.get("AWS_ENDPOINT_URL")
        or default_endpoint(service, region)
    )
    return chosen.rstrip("/")


class SigV4Signer:
    """Signs POST requests to `/` for one service, region and key pair.

    The signing key is derived once per UTC day; the date strings once per second.
    """

    def __init__(self, credentials: Credentials, region: str, service: str) -> None:
        self._credentials = credentials
        self._region = region
        self._service = service
        self._key_day = ""
        self._key = b""
        self._second = -1
        self._amz_date = ""

    def _signing_key(self, day: str) -> bytes:
        if day != self._key_day:
            key = ("AWS4" + self._credentials.secretAccessKey).encode("utf-8")
            for part in (day, self._region, self._service, "aws4_request"):
                key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
            self._key, self._key_day = key, day
        return self._key

    def _now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            self._second = second
        return self._amz_date

    def sign(
        self, host: str, headers: Dict[str, str], body: bytes, amz_date: Optional[str] = None, path: str = "/"
    ) -> Dict[str, str]:
        """`headers` plus X-Amz-Date, the session token if any, and Authorization, for a POST to `path`.

        Every header given is signed, with `host`; `amz_date` (YYYYMMDDTHHMMSSZ) fixes the
        time for tests.
        """
        amz_date = amz_date or self._now()
        day = amz_date[:8]
        signed = dict(headers)
        signed["X-Amz-Date"] = amz_date
        if self._credentials.sessionToken:
            signed["X-Amz-Security-Token"] = self._credentials.sessionToken
        canonical = {"host": host}
        for name, value in signed.items():
            canonical[name.lower()] = " ".join(value.split())
        names = sorted(canonical)
        signed_headers = ";".join(names)
        canonical_request = "POST\n%s\n\n%s\n%s\n%s" % (
            quote(path, safe="/~"),
            "".join("%s:%s\n" % (name, canonical[name]) for name in names),
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        )
        scope = "%s/%s/%s/aws4_request" % (day, self._region, self._service)
        string_to_sign = "%s\n%s\n%s\n%s" % (
            ALGORITHM,
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        )
        signature = hmac.new(self._signing_key(day), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        signed["Authorization"] = "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
            ALGORITHM,
            self._credentials.accessKeyId,
            scope,
            signed_headers,
            signature,
        )
        return signed


def _check_settings(endpoint: str, region: str, credentials: Credentials) -> None:
    """Refuse, as a LIBRARY_ERROR, settings that could never be signed or sent (checked once, not per call)."""
    wrong = []
    if not isinstance(region, str) or not REGION.fullmatch(region):
        wrong.append("region must be letters, digits, '-', '_' or '.'")
    in_headers = [("accessKeyId", credentials.accessKeyId)]
    if credentials.sessionToken:  # an empty one is not sent
        in_headers.append(("sessionToken", credentials.sessionToken))
    wrong += [
        "%s must be printable ASCII with no spaces" % name
        for name, value in in_headers
        if not isinstance(value, str) or not HEADER_SAFE.fullmatch(value)
    ]
    secret = credentials.secretAccessKey
    if not isinstance(secret, str) or not secret or not is_unicode(secret):
        wrong.append("secretAccessKey must be a non-empty, valid Unicode string")
    if not isinstance(endpoint, str) or not is_unicode(endpoint) or CONTROL_OR_SPACE.search(endpoint):
        wrong.append("endpoint must be a URL with no spaces or control characters")
    if wrong:
        raise library_error("; ".join(wrong))


def is_unicode(text: str) -> bool:
    """False for a string UTF-8 (and so a signature, a body or a lease store) cannot hold: one with a lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _canonical_host(url: str) -> str:
    """The Host header value: the URL's host, with the port unless it is the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = "[%s]" % host
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None and parts.port != default_port:
        host = "%s:%d" % (host, parts.port)
    return host


class AwsJsonClient:
    """Calls one AWS JSON-protocol service (Kinesis, DynamoDB): `call(action, body)` returns the answer as a dict.

    Each worker thread keeps its own `requests` HTTPAdapter (a pool of keep-alive connections) and
    hands it the request a Session would build, without a Session's per-call merging of
    settings, cookies and redirects, which cost more than the rest of a call. A failure raises Error:
    REQUEST_FAILED for a non-2xx status or no answer at all, UNEXPECTED_RESPONSE for a 2xx
    that is not a JSON object or lacks a required field. Throttles, 5xx and lost answers are
    first retried as the `retry` policy says (see retry.py).
    """

    def __init__(
        self,
        endpoint: str,
        region: str,
        service: str,
        target_prefix: str,
        json_version: str,
        credentials: Credentials,
        timeout: Timeout = Timeout(),
        retry: Retry = Retry(),
    ) -> None:
        _check_settings(endpoint, region, credentials)
        self.endpoint = endpoint
        self.retry = retry
        self._url = endpoint + "/"
        try:
            self._host = _canonical_host(endpoint)
            self._path = urlsplit(self._url).path  # "/", or a proxy's path prefix plus "/"
            self._prepared_url = requests.Request("POST", self._url).prepare().url
            self._proxies = requests.utils.get_environ_proxies(self._url)
        except ValueError as exc:  # requests' InvalidURL, a port out of range, a host IDNA refuses
            raise library_error("endpoint %r is not a usable URL: %s" % (endpoint, exc)) from None
        self._target_prefix = target_prefix
        self._content_type = "application/x-amz-json-" + json_version
        self._signer = SigV4Signer(credentials, region, service)
        self._timeout = (timeout.connect, timeout.read)
        self._verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self._default_headers = list(requests.utils.default_headers().items())
        self._local = threading.local()

    @classmethod
    def for_service(
        cls,
        service: str,
        target_prefix: str,
        json_version: str,
        region: str,
        credentials: Credentials,
        endpoint: Optional[str] = None,
        timeout: Optional[Timeout] = None,
        retry: Retry = Retry(),
    ) -> "AwsJsonClient":
        """A client of `service` at `endpoint`, else where resolve_endpoint says; a LIBRARY_ERROR Error if it cannot be one."""
        if endpoint is not None and (not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://"))):
            raise library_error("endpoint must be an http:// or https:// URL")
        if timeout is not None and (not isinstance(timeout, Timeout) or not timeout.usable()):
            raise library_error("timeout must be an AWSKinesisStreams.Timeout of positive seconds (or None)")
        endpoint = resolve_endpoint(service, region, endpoint)
        return cls(endpoint, region, service, target_prefix, json_version, credentials, timeout or Timeout(), retry)

    def _adapter(self) -> requests.adapters.HTTPAdapter:
        """This worker thread's HTTP adapter: its own pool of keep-alive connections."""
        adapter = getattr(self._local, "adapter", None)
        if adapter is None:
            adapter = self._local.adapter = requests.adapters.HTTPAdapter()
        return adapter

    def _prepare(self, headers: Dict[str, str], body: bytes) -> requests.PreparedRequest:
        """The request a `requests.Session` would build, header for header, without its per-call merging.

        The URL was prepared once; the headers are requests' defaults, then ours, then the
        length, in the order a Session sends them.
        """
        prepared = requests.PreparedRequest()
        prepared.method = "POST"
        prepared.url = self._prepared_url
        prepared.headers = CaseInsensitiveDict(self._default_headers)
        prepared.headers.update(headers)
        prepared.headers["Content-Length"] = str(len(body))
        prepared.body = body
        return prepared

    def call(
        self, action: str, body: bytes, required: Iterable[str] = (), attempts: Optional[Attempts] = None
    ) -> Dict[str, Any]:
        """POST `body` (JSON bytes) as `action`, retrying what may pass next time, and return the decoded answer.

        `attempts` shares one call's retry count and time budget over several requests
        (PutRecords resending its failed records); by default each call starts afresh.
        """
        attempts = attempts or self.retry.start()
        while True:
            try:
                return self._answer(action, *self._post(action, body), required)
            except requests.RequestException as exc:
                error = Error(
                    AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED,
                    "%s got no response from %s: %s" % (action, self.endpoint, _reason(exc)),
                )
                # a certificate that cannot be verified fails the same way every time
                if isinstance(exc, requests.exceptions.SSLError) or not attempts.wait(action, error):
                    raise error from None
            except Error as error:
                if not attempts.again(action, error):
                    raise

    def _answer(self, action: str, status: int, content: bytes, required: Iterable[str]) -> Dict[str, Any]:
        """The decoded answer of a 2xx, or the Error its status or body means."""
        if not 200 <= status < 300:
            decoded = _decode(content)
            raise Error(
                AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED,
                "%s failed with HTTP %d: %s" % (action, status, _summary(decoded)),
                status,
                decoded,
            )
        answer = _decode(content) if content else {}  # actions with no output answer an empty body
        if not isinstance(answer, dict):
            raise Error(
                AWS_KINESIS_STREAMS_ERROR.UNEXPECTED_RESPONSE,
                "%s answered HTTP %d with a body that is not a JSON object" % (action, status),
                status,
                answer,
            )
        missing = [name for name in required if name not in answer]
        if missing:
            raise Error(
                AWS_KINESIS_STREAMS_ERROR.UNEXPECTED_RESPONSE,
                "%s answer lacks %s" % (action, ", ".join(missing)),
                status,
                answer,
            )
        return answer

    def _post(self, action: str, body: bytes) -> Tuple[int, bytes]:
        """Sign and POST `body`: the status and body of the answer (requests' exceptions pass through)."""
        headers = self._signer.sign(
            self._host,
            {"Content-Type": self._content_type, "X-Amz-Target": self._target_prefix + "." + action},
            body,
            path=self._path,
        )
        debug = logger.isEnabledFor(logging.DEBUG)
        if debug:
            logger.debug("-> %s %s (%d bytes)", action, self.endpoint, len(body))
            started = time.perf_counter()
        response = self._adapter().send(
            self._prepare(headers, body), timeout=self._timeout, verify=self._verify, proxies=self._proxies
        )
        content = b"".join(response.iter_content(READ_CHUNK))
        if debug:
            logger.debug(
                "<- %s HTTP %d (%d bytes, %.1f ms)",
                action,
                response.status_code,
                len(content),
                (time.perf_counter() - started) * 1000,
            )
        return response.status_code, content


def _decode(content: bytes) -> Any:
    """The JSON value of a body, or its text where it is not JSON (an XML auth error, a proxy page)."""
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


def _summary(decoded: Any) -> str:
    if isinstance(decoded, dict):
        kind = str(decoded.get("__type") or decoded.get("code") or "error").rpartition("#")[2]
        message = decoded.get("message") or decoded.get("Message") or ""
        return "%s %s" % (kind, message) if message else kind
    text = str(decoded).strip()
    return text[:200] if text else "(empty body)"


def _reason(exc: requests.RequestException) -> str:
    """What went wrong on the wire, in words: refused, timed out, TLS, cut short."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "read timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failure (%s)" % exc
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection closed before the whole body arrived (%s)" % exc
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection failed (%s)" % exc
    return "%s (%s)" % (type(exc).__name__, exc)
