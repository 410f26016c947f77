"""Small loopback HTTP servers that answer as AWS's credential endpoints do where no real server
will: the EC2 instance metadata service, the ECS/EKS container endpoint, an STS that fails, the
SSO portal. Each listens on 127.0.0.1 only, logs what it was asked, and answers through `route`.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple

Answer = Tuple[int, Dict[str, str], bytes]


def iso(seconds_from_now: float) -> str:
    """An ISO 8601 UTC time this many seconds from now, as AWS writes expirations."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds_from_now))


def json_answer(value: Any, status: int = 200) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(value).encode()


class Asked:
    """One request the fake got."""

    def __init__(self, method: str, path: str, headers: Dict[str, str], body: bytes) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body


class FakeEndpoint:
    """An HTTP server on 127.0.0.1; `route(asked) -> (status, headers, body)`, or None to hang up.

    `delay` seconds are slept before answering (a service that does not answer in time).
    """

    def __init__(self, route: Optional[Callable[[Asked], Optional[Answer]]] = None) -> None:
        self.route = route or (lambda asked: (404, {}, b"not found"))
        self.asked: List[Asked] = []
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                asked = Asked(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                fake.asked.append(asked)
                if fake.delay:
                    time.sleep(fake.delay)
                answer = fake.route(asked)
                if answer is None:
                    self.close_connection = True
                    return
                status, headers, body = answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeEndpoint":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def paths(self) -> List[str]:
        return ["%s %s" % (asked.method, asked.path) for asked in self.asked]


class InstanceMetadata:
    """A route for IMDS: the token PUT (or a refusal of it), the role's name, and its keys."""

    def __init__(self, keys: Callable[[], Dict[str, Any]], role: str = "fleet-role", token_status: int = 200,
                 token: str = "imds-token") -> None:
        self.keys, self.role, self.token_status, self.token = keys, role, token_status, token

    def __call__(self, asked: Asked) -> Optional[Answer]:
        if asked.method == "PUT" and asked.path == "/latest/api/token":
            if self.token_status != 200:
                return self.token_status, {}, b""
            return 200, {}, self.token.encode()
        if self.token_status == 200 and asked.headers.get("x-aws-ec2-metadata-token") != self.token:
            return 401, {}, b""
        if asked.path == "/latest/meta-data/iam/security-credentials/":
            return 200, {}, self.role.encode()
        if asked.path == "/latest/meta-data/iam/security-credentials/" + self.role:
            return json_answer(dict(self.keys(), Code="Success", Type="AWS-HMAC"))
        return 404, {}, b""


def sts_credentials(action: str, key: str, secret: str, token: str, expiration: str) -> Answer:
    """STS's XML answer to AssumeRole or AssumeRoleWithWebIdentity."""
    xml = ("<{a}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><{a}Result><Credentials>"
           "<AccessKeyId>{k}</AccessKeyId><SecretAccessKey>{s}</SecretAccessKey><SessionToken>{t}</SessionToken>"
           "<Expiration>{e}</Expiration></Credentials></{a}Result></{a}Response>").format(a=action, k=key, s=secret, t=token, e=expiration)
    return 200, {"Content-Type": "text/xml"}, xml.encode()


def sts_error(status: int, code: str, message: str) -> Answer:
    xml = ("<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error></ErrorResponse>"
           % (code, message))
    return status, {"Content-Type": "text/xml"}, xml.encode()
