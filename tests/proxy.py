"""A small loopback proxy in front of a real Kinesis-compatible server, for what emulators don't do.

Neither moto nor kinesalite throttles, expires iterators or enforces every AWS request rule.
A `rule` sees each call (its action and JSON body) and may answer in the server's place
(a throttle, an expired iterator, a 400 for a request AWS refuses); otherwise the call is
forwarded (as `call.raw`, which a rule may replace) and the server's answer passed back,
through `on_answer` if given.
"""

import http.client
import http.server
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional
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


class Proxy:
    """Forwards POSTs from 127.0.0.1:<port> to `upstream`, recording every call in `calls`."""

    def __init__(
        self,
        upstream: str,
        rule: Optional[Callable[[Call], Optional[Reply]]] = None,
        on_answer: Optional[Callable[[Call, int, bytes], bytes]] = None,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.rule = rule
        self.on_answer = on_answer
        self.calls: List[Call] = []
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.endpoint = "http://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

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
                if reply is not None:
                    status, payload = reply.status, reply.payload()
                else:
                    status, payload = proxy._forward(self, call.raw)
                    if proxy.on_answer:
                        payload = proxy.on_answer(call, status, payload)
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def _forward(self, handler: http.server.BaseHTTPRequestHandler, raw: bytes) -> "tuple[int, bytes]":
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

    def __enter__(self) -> "Proxy":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
