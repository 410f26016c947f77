"""A small loopback proxy in front of a real Kinesis-compatible server, for what emulators don't do.

Neither moto nor kinesalite throttles, expires iterators or enforces every AWS request rule.
A `rule` sees each call (its action and JSON body) and may answer in the server's place
(a throttle, an expired iterator, a 400 for a request AWS refuses); otherwise the call is
forwarded (as `call.raw`, which a rule may replace) and the server's answer passed back,
through `on_answer` if given.

`faults` makes it a fault injector: at set rates, from a seeded random source, it drops the
connection, answers too late, cuts the body short, answers 5xx or a throttle, and fails
records inside a 200 PutRecords answer (without writing them, as AWS does). `tls` (an
ssl.SSLContext) serves HTTPS instead of HTTP.

Writes are forwarded one at a time: moto's shard write is not safe for concurrency (two
PutRecord at once can get the same sequence number, and one record is lost), AWS's is.
"""

import http.client
import http.server
import json
import random
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple
from urllib.parse import urlsplit


@dataclass
class Call:
    """One request through the proxy."""

    action: str
    body: Any
    raw: bytes
    headers: Dict[str, str]


@dataclass
class Reply:
    """An answer the proxy gives in the server's place."""

    status: int
    body: Any = field(default_factory=dict)  # a dict is sent as JSON, bytes as they are

    def payload(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


def aws_error(status: int, kind: str, message: str) -> Reply:
    """An AWS JSON-protocol error answer."""
    return Reply(status, {"__type": kind, "message": message})


CALL_FAULTS = ("drop", "delay", "truncate", "garble", "server_error", "throttle")


@dataclass(frozen=True)
class Faults:
    """What the proxy breaks, as rates from 0 to 1, drawn from `random.Random(seed)`.

    Per call (at most one): `drop` forwards, then closes without answering; `delay` forwards,
    then answers after `delay_seconds`; `truncate` forwards, then sends half the body and
    closes; `garble` forwards, then answers with a body that is not JSON; `server_error`
    answers 500/502/503/504 and `throttle` a 400 ProvisionedThroughputExceededException,
    both without forwarding. Per record of a
    forwarded PutRecords: `fail_records` answers it as throttled inside the 200, unwritten.
    Only `actions` are touched (all if empty).
    """

    drop: float = 0.0
    delay: float = 0.0
    truncate: float = 0.0
    garble: float = 0.0
    server_error: float = 0.0
    throttle: float = 0.0
    fail_records: float = 0.0
    delay_seconds: float = 1.0
    seed: int = 1
    actions: FrozenSet[str] = frozenset()


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, logging nothing."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 and a free port, serving in the background inside a `with` block."""

    def _serve(self, handler: type, tls: Optional[ssl.SSLContext] = None) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.endpoint = "%s://127.0.0.1:%d" % ("https" if tls else "http", self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> "LoopbackServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


class Proxy(LoopbackServer):
    """Forwards POSTs from 127.0.0.1:<port> to `upstream`, recording every call in `calls`."""

    def __init__(
        self,
        upstream: str,
        rule: Optional[Callable[[Call], Optional[Reply]]] = None,
        on_answer: Optional[Callable[[Call, int, bytes], bytes]] = None,
        faults: Optional[Faults] = None,
        tls: Optional[ssl.SSLContext] = None,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.rule = rule
        self.on_answer = on_answer
        self.faults = faults
        self.injected: "Counter[str]" = Counter()
        self.calls: List[Call] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._random = random.Random(faults.seed if faults else 0)
        self._serve(self._handler(), tls)

    def _handler(self) -> type:
        proxy = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target = self.headers.get("X-Amz-Target", "")
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                call = Call(target.rpartition(".")[2], body, raw, dict(self.headers))
                with proxy._lock:
                    proxy.calls.append(call)
                reply = proxy.rule(call) if proxy.rule else None
                fault = proxy._pick(call) if reply is None else None
                if fault == "server_error":
                    reply = aws_error(proxy._choice((500, 502, 503, 504)), "InternalFailure", "injected")
                elif fault == "throttle":
                    reply = aws_error(400, "ProvisionedThroughputExceededException", "injected: rate exceeded")
                if reply is not None:
                    status, payload = reply.status, reply.payload()
                else:
                    status, payload = proxy._forward_with_failures(self, call)
                    if proxy.on_answer:
                        payload = proxy.on_answer(call, status, payload)
                try:
                    self._answer(status, payload, fault)
                except OSError:  # the client gave up first (a delay past its read timeout)
                    self.close_connection = True

            def _answer(self, status: int, payload: bytes, fault: Optional[str]) -> None:
                if fault == "drop":
                    self.close_connection = True
                    return
                if fault == "delay":
                    time.sleep(proxy.faults.delay_seconds)  # type: ignore[union-attr]
                if fault == "garble":
                    payload = b"<html>\x00garbled" + payload[:10]
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if fault == "truncate":
                    self.wfile.write(payload[: len(payload) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        return Handler

    def _pick(self, call: Call) -> Optional[str]:
        """The call-level fault to inject into `call`, if any (and count it)."""
        faults = self.faults
        if faults is None or (faults.actions and call.action not in faults.actions):
            return None
        with self._lock:
            draw = self._random.random()
        for name in CALL_FAULTS:
            rate = getattr(faults, name)
            if draw < rate:
                with self._lock:
                    self.injected[name] += 1
                return name
            draw -= rate
        return None

    def _choice(self, options: Tuple[int, ...]) -> int:
        with self._lock:
            return self._random.choice(options)

    def _forward_with_failures(self, handler: http.server.BaseHTTPRequestHandler, call: Call) -> Tuple[int, bytes]:
        """Forward `call`, less the PutRecords records picked to fail; put their failures back in the answer."""
        rate = self.faults.fail_records if self.faults else 0.0
        records = call.body.get("Records") if call.action == "PutRecords" and isinstance(call.body, dict) else None
        if not rate or not isinstance(records, list) or (self.faults.actions and call.action not in self.faults.actions):
            return self._forward(handler, call.raw)
        with self._lock:
            failing = [self._random.random() < rate for _ in records]
            self.injected["fail_records"] += sum(failing)
        kept = [record for record, fail in zip(records, failing) if not fail]
        answer: Dict[str, Any] = {"FailedRecordCount": 0, "Records": []}
        if kept:
            status, payload = self._forward(handler, json.dumps(dict(call.body, Records=kept)).encode())
            if status != 200:
                return status, payload
            answer = json.loads(payload)
        written = iter(answer["Records"])
        throttled = {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "injected: rate exceeded"}
        answer["Records"] = [dict(throttled) if fail else next(written) for fail in failing]
        answer["FailedRecordCount"] = answer.get("FailedRecordCount", 0) + sum(failing)
        return 200, json.dumps(answer).encode()

    def _forward(self, handler: http.server.BaseHTTPRequestHandler, raw: bytes) -> "tuple[int, bytes]":
        if handler.headers.get("X-Amz-Target", "").endswith((".PutRecord", ".PutRecords")):
            with self._write_lock:
                return self._send(handler, raw)
        return self._send(handler, raw)

    def _send(self, handler: http.server.BaseHTTPRequestHandler, raw: bytes) -> "tuple[int, bytes]":
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("connection", "content-length")}
            connection.request("POST", "/", body=raw, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def actions(self) -> List[str]:
        """The actions called so far, in order."""
        with self._lock:
            return [call.action for call in self.calls]
