"""Credentials of an IAM Identity Center (SSO) role, with the access token that `aws sso login` cached.

The token cache is ~/.aws/sso/cache/<sha1>.json, named after the sso-session (or, for the older
profiles, the start URL); its token is exchanged for the role's keys by the SSO portal's
GetRoleCredentials. An expired token means a new `aws sso login`: the library cannot do that.
"""

import hashlib
import json
import os
import time
from typing import Optional
from urllib.parse import urlencode

from ..sigv4 import Keys
from .common import failed, get_json, keys_from, parse_time

TIMEOUT = 10.0
NAMES = {"key": "accessKeyId", "secret": "secretAccessKey", "token": "sessionToken", "expiration": "expiration"}


def cache_path(session_name: Optional[str], start_url: str) -> str:
    """Where `aws sso login` cached the access token for this session (or start URL)."""
    name = hashlib.sha1((session_name or start_url).encode("utf-8")).hexdigest()
    return os.path.join(os.path.expanduser("~"), ".aws", "sso", "cache", name + ".json")


def portal(region: str) -> str:
    """The SSO portal: AWS_ENDPOINT_URL_SSO, else AWS_ENDPOINT_URL, else AWS's in `region`."""
    chosen = os.environ.get("AWS_ENDPOINT_URL_SSO") or os.environ.get("AWS_ENDPOINT_URL")
    return (chosen or "https://portal.sso.%s.amazonaws.com" % region).rstrip("/")


def fetch_sso(session_name: Optional[str], start_url: str, region: str, account_id: str, role_name: str) -> Keys:
    """The role's keys for the cached access token; REQUEST_FAILED saying to log in again if it is missing or expired."""
    source = "SSO (%s, account %s, role %s)" % (session_name or start_url, account_id, role_name)
    path = cache_path(session_name, start_url)
    try:
        with open(path, encoding="utf-8") as f:
            cached = json.load(f)
        token, expires = cached["accessToken"], parse_time(cached["expiresAt"], source)
    except (OSError, ValueError, KeyError, TypeError):
        raise failed(source, "no usable token in %s: run aws sso login" % path) from None
    if expires <= time.time():
        raise failed(source, "the token cached in %s has expired: run aws sso login" % path)
    url = "%s/federation/credentials?%s" % (portal(region), urlencode({"role_name": role_name, "account_id": account_id}))
    answer = get_json(url, source, headers={"x-amz-sso_bearer_token": token}, timeout=TIMEOUT)
    role = answer.get("roleCredentials") if isinstance(answer, dict) else None
    if isinstance(role, dict) and isinstance(role.get("expiration"), (int, float)):
        role = dict(role, expiration=_iso(role["expiration"] / 1000.0))  # milliseconds since the epoch
    return keys_from(role, source, NAMES)


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
