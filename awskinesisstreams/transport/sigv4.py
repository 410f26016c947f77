"""AWS Signature Version 4: a key pair, the signer of a POST, and the check that settings can be signed.

The signing half of the Squirrel AWSRequestV4 library's port (request.py sends what it signs).
"""

import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional
from urllib.parse import quote

from ..error import library_error

ALGORITHM = "AWS4-HMAC-SHA256"
# What an HTTP header can carry as it is: the access key id and session token each go in one.
HEADER_SAFE = re.compile(r"[!-~]+")
# A region is one field of the signature's slash-separated scope, and part of AWS's host names.
REGION = re.compile(r"[A-Za-z0-9._-]+")
CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class Keys:
    """An access key pair, with the session token and expiry (epoch seconds) of temporary credentials.

    Never shown in a repr. A fixed pair is its own source of credentials: `keys()` is itself.
    """

    accessKeyId: str
    secretAccessKey: str = field(repr=False)
    sessionToken: Optional[str] = field(default=None, repr=False)
    expiration: Optional[float] = None

    def keys(self) -> "Keys":
        return self

    def invalidate(self, keys: "Keys") -> bool:
        """A fixed pair cannot be refreshed: False."""
        return False


class SigV4Signer:
    """Signs POST requests to `/` for one service and region, with the keys given at each signing.

    The signing key is derived once per UTC day and secret; the date strings once per second.
    """

    def __init__(self, region: str, service: str) -> None:
        self._region = region
        self._service = service
        self._key_for: tuple = ()
        self._key = b""
        self._second = -1
        self._amz_date = ""

    def _signing_key(self, day: str, secret: str) -> bytes:
        if self._key_for != (day, secret):
            key = ("AWS4" + secret).encode("utf-8")
            for part in (day, self._region, self._service, "aws4_request"):
                key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
            self._key, self._key_for = key, (day, secret)
        return self._key

    def _now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            self._second = second
        return self._amz_date

    def sign(
        self, keys: Keys, host: str, headers: Dict[str, str], body: bytes, amz_date: Optional[str] = None, path: str = "/"
    ) -> Dict[str, str]:
        """`headers` plus X-Amz-Date, the session token if any, and Authorization, for a POST to `path`.

        Every header given is signed, with `host`; `amz_date` (YYYYMMDDTHHMMSSZ) fixes the
        time for tests.
        """
        amz_date = amz_date or self._now()
        day = amz_date[:8]
        signed = dict(headers)
        signed["X-Amz-Date"] = amz_date
        if keys.sessionToken:
            signed["X-Amz-Security-Token"] = keys.sessionToken
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
        signature = hmac.new(self._signing_key(day, keys.secretAccessKey), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        signed["Authorization"] = "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
            ALGORITHM,
            keys.accessKeyId,
            scope,
            signed_headers,
            signature,
        )
        return signed


def check_settings(endpoint: str, region: str) -> None:
    """Refuse, as a LIBRARY_ERROR, a region or endpoint that could never be signed or sent (checked once)."""
    wrong = []
    if not isinstance(region, str) or not REGION.fullmatch(region):
        wrong.append("region must be letters, digits, '-', '_' or '.'")
    if not isinstance(endpoint, str) or not is_unicode(endpoint) or CONTROL_OR_SPACE.search(endpoint):
        wrong.append("endpoint must be a URL with no spaces or control characters")
    if wrong:
        raise library_error("; ".join(wrong))


def wrong_keys(keys: Keys) -> List[str]:
    """What makes `keys` unsignable: an id or token that is not printable ASCII, a secret that is empty or not Unicode."""
    in_headers = [("accessKeyId", keys.accessKeyId)]
    if keys.sessionToken:  # an empty one is not sent
        in_headers.append(("sessionToken", keys.sessionToken))
    wrong = [
        "%s must be printable ASCII with no spaces" % name
        for name, value in in_headers
        if not isinstance(value, str) or not HEADER_SAFE.fullmatch(value)
    ]
    secret = keys.secretAccessKey
    if not isinstance(secret, str) or not secret or not is_unicode(secret):
        wrong.append("secretAccessKey must be a non-empty, valid Unicode string")
    return wrong


def is_unicode(text: str) -> bool:
    """False for a string UTF-8 (and so a signature, a body or a lease store) cannot hold: one with a lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
