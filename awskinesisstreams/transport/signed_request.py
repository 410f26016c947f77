"""The signed request: the HTTP POST of an AWS JSON-protocol call, signed by sigv4.py.

With sigv4.py, the port of the Squirrel AWSRequestV4 library. It knows nothing of Kinesis: it
signs a JSON body for a service and target, sends it on a pooled connection, and turns the
answer into a dict or an Error (REQUEST_FAILED, UNEXPECTED_RESPONSE); or, for an action that
answers an event stream, hands the answer over open.
"""

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Protocol, Tuple, TypeVar
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import ReadTimeoutError

from ..enums import AWS_KINESIS_STREAMS_ERROR
from ..error import Error, library_error
from ..metrics.figures import REQUESTS
from .retry import Attempts, Retry
from .sigv4 import Keys, SigV4Signer, check_settings

logger = logging.getLogger("awskinesisstreams")
T = TypeVar("T")

# Answers that mean the keys signed with have expired: refresh them and send once more, besides retries.
EXPIRED_TOKEN = frozenset({"ExpiredTokenException", "ExpiredToken", "RequestExpired"})


class KeySource(Protocol):
    """What a client signs with: fixed Keys, or a Credentials that refreshes them."""

    def keys(self) -> Keys: ...

    def invalidate(self, keys: Keys) -> bool: ...


# `Response.content` reads 10 KiB at a time; a GetRecords answer runs to megabytes, so read it in
# larger pieces (through the same iter_content, with the same errors).
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Timeout:
    """How long to wait for a connection and then for each read of the answer, in seconds."""

    connect: float = 5.0
    read: float = 30.0

    def usable(self) -> bool:
        """True if both are positive numbers of seconds a socket can wait, or None (no limit), as `requests` takes them."""
        return all(value is None or is_seconds(value) for value in (self.connect, self.read))


def is_seconds(value: object) -> bool:
    """True for a positive number of seconds that a thread or socket can wait (threading.TIMEOUT_MAX at most)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 < value <= threading.TIMEOUT_MAX


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


def canonical_host(url: str) -> str:
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
        credentials: KeySource,
        timeout: Timeout = Timeout(),
        retry: Retry = Retry(),
    ) -> None:
        check_settings(endpoint, region)
        self._credentials = credentials
        self.endpoint = endpoint
        self.retry = retry
        self._url = endpoint + "/"
        try:
            self._host = canonical_host(endpoint)
            self._path = urlsplit(self._url).path  # "/", or a proxy's path prefix plus "/"
            self._prepared_url = requests.Request("POST", self._url).prepare().url
            self._proxies = requests.utils.get_environ_proxies(self._url)
        except ValueError as exc:  # requests' InvalidURL, a port out of range, a host IDNA refuses
            raise library_error("endpoint %r is not a usable URL: %s" % (endpoint, exc)) from None
        self._target_prefix = target_prefix
        self._content_type = "application/x-amz-json-" + json_version
        self._signer = SigV4Signer(region, service)
        self._service = service
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
        credentials: KeySource,
        endpoint: Optional[str] = None,
        timeout: Optional[Timeout] = None,
        retry: Retry = Retry(),
    ) -> "AwsJsonClient":
        """A client of `service` at `endpoint`, else where resolve_endpoint says; a LIBRARY_ERROR Error if it cannot be one."""
        if endpoint is not None and (not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://"))):
            raise library_error("endpoint must be an http:// or https:// URL")
        if timeout is not None and (not isinstance(timeout, Timeout) or not timeout.usable()):
            raise library_error(
                "timeout must be an AWSKinesisStreams.Timeout of positive seconds, at most %d (or None)"
                % threading.TIMEOUT_MAX
            )
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
        return self._retrying(action, lambda: self._answer(action, *self._post(action, body), required), attempts)

    def open_stream(self, action: str, body: bytes) -> "OpenStream":
        """POST `body` as `action` and hand back the 2xx answer still open, to be read as it arrives.

        For actions that answer an event stream (SubscribeToShard). A non-2xx answer (its body
        is JSON as usual) or none at all raises REQUEST_FAILED, after the same retries as `call`.
        """
        return self._retrying(action, lambda: self._open(action, body), None)

    def _retrying(self, action: str, attempt: Callable[[], T], attempts: Optional[Attempts]) -> T:
        """`attempt()` until it succeeds or the retry policy gives up; requests' exceptions become REQUEST_FAILED."""
        attempts = attempts or self.retry.start()
        renewed = False
        while True:
            started = time.perf_counter()
            try:
                answer = attempt()
                REQUESTS.record(self._service, action, "ok", time.perf_counter() - started)
                return answer
            except requests.RequestException as exc:
                REQUESTS.record(self._service, action, "network", time.perf_counter() - started)
                error = Error(
                    AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED,
                    "%s got no response from %s: %s" % (action, self.endpoint, _reason(exc)),
                )
                # a certificate that cannot be verified fails the same way every time
                if isinstance(exc, requests.exceptions.SSLError) or not attempts.wait(action, error):
                    raise error from None
            except Error as error:
                REQUESTS.record(self._service, action, _outcome(error), time.perf_counter() - started)
                if not renewed and error.awsErrorType in EXPIRED_TOKEN and self._credentials.invalidate(self._local.keys):
                    renewed = True  # new keys, and this request once more, besides the retries
                    logger.debug("%s: %s, sending again with new credentials", action, error.awsErrorType)
                    continue
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

    def _send(self, action: str, body: bytes, stream: bool = False) -> requests.Response:
        """Sign and POST `body`; with `stream`, the answer's body is left to be read (requests' exceptions pass through).

        Signed right before it is sent, with the keys the source holds now: a retry is signed anew.
        """
        keys = self._local.keys = self._credentials.keys()
        headers = self._signer.sign(
            keys,
            self._host,
            {"Content-Type": self._content_type, "X-Amz-Target": self._target_prefix + "." + action},
            body,
            path=self._path,
        )
        return self._adapter().send(
            self._prepare(headers, body), stream=stream, timeout=self._timeout, verify=self._verify, proxies=self._proxies
        )

    def _post(self, action: str, body: bytes) -> Tuple[int, bytes]:
        """Sign and POST `body`: the status and body of the answer (requests' exceptions pass through)."""
        debug = logger.isEnabledFor(logging.DEBUG)
        if debug:
            logger.debug("-> %s %s (%d bytes)", action, self.endpoint, len(body))
            started = time.perf_counter()
        response = self._send(action, body)
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

    def _open(self, action: str, body: bytes) -> "OpenStream":
        logger.debug("-> %s %s (%d bytes, streamed answer)", action, self.endpoint, len(body))
        response = self._send(action, body, stream=True)
        if not 200 <= response.status_code < 300:
            try:
                content = b"".join(response.iter_content(READ_CHUNK))
            finally:
                response.close()
            self._answer(action, response.status_code, content, ())  # raises the status's Error
        logger.debug("<- %s HTTP %d, stream open", action, response.status_code)
        return OpenStream(action, self.endpoint, response)


class OpenStream:
    """A 2xx answer being received: its body's chunks as they arrive, until it ends or `close()` is called."""

    def __init__(self, action: str, endpoint: str, response: requests.Response) -> None:
        self.action = action
        self.status = response.status_code
        self.content_type = response.headers.get("Content-Type", "")
        self._endpoint = endpoint
        self._response = response

    def chunks(self) -> Iterator[bytes]:
        """Each piece of the body as it comes off the wire; a lost connection or a read timeout raises REQUEST_FAILED."""
        try:
            yield from self._response.iter_content(None)
        except requests.RequestException as exc:
            raise Error(
                AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED,
                "%s stream from %s ended: %s" % (self.action, self._endpoint, _reason(exc)),
            ) from None

    def close(self) -> None:
        """End the answer now, from any thread: a read blocked on the socket returns at once."""
        connection = getattr(self._response.raw, "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the other side
        self._response.close()


def _outcome(error: Error) -> str:
    """How a failed request is counted: the AWS error type, else its status, else "network"."""
    if error.httpStatus is None:
        return "network"
    return error.awsErrorType or "HTTP %d" % error.httpStatus


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
    if isinstance(exc, requests.exceptions.ReadTimeout) or (exc.args and isinstance(exc.args[0], ReadTimeoutError)):
        return "read timed out"  # the second kind: a timeout while a streamed body was read
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failure (%s)" % exc
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection closed before the whole body arrived (%s)" % exc
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection failed (%s)" % exc
    return "%s (%s)" % (type(exc).__name__, exc)
