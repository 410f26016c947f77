"""Credentials from the platform's metadata endpoints: the ECS / EKS Pod Identity container endpoint,
and the EC2 instance metadata service (IMDSv2, with the v1 fallback), as the AWS SDKs read them."""

import logging
import os
import random
import time
from typing import Dict, Optional
from urllib.parse import urlsplit

import requests

from ...error import Error
from ..sigv4 import Keys
from .common import JSON_NAMES, NotFound, failed, get_json, is_loopback, keys_from

logger = logging.getLogger("awskinesisstreams")

# -- the container endpoint (ECS, EKS Pod Identity) -------------------------------------

RELATIVE_BASE = "http://169.254.170.2"  # where AWS_CONTAINER_CREDENTIALS_RELATIVE_URI points (ECS)
CONTAINER_HOSTS = ("169.254.170.2", "169.254.170.23", "fd00:ec2::23")  # ECS and EKS Pod Identity
CONTAINER_TIMEOUT = 2.0
CONTAINER_ATTEMPTS = 3
CONTAINER = "the container endpoint"


def container_url() -> str:
    """Where the container's credentials are served: RELATIVE_URI first, then FULL_URI (checked)."""
    relative = os.environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    if relative:
        return RELATIVE_BASE + relative
    full = os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if not full:
        raise NotFound("container (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set)")
    parts = urlsplit(full)
    host = (parts.hostname or "").strip("[]")
    if parts.scheme == "https" or (parts.scheme == "http" and (is_loopback(host) or host in CONTAINER_HOSTS)):
        return full
    raise failed(CONTAINER, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to a loopback or the ECS/EKS address")


def _container_token() -> Optional[str]:
    """The Authorization header: the token file read now (EKS rotates it), else the token variable."""
    path = os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                token = f.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise failed(CONTAINER, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (%s)" % type(exc).__name__) from None
    else:
        token = os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") or ""
    if "\r" in token or "\n" in token:
        raise failed(CONTAINER, "the authorization token holds a line break (refused: it would split the header)")
    return token or None


def fetch_container() -> Keys:
    """The container's credentials, tried up to three times with short timeouts."""
    url = container_url()
    headers = {"Accept": "application/json"}
    token = _container_token()
    if token:
        headers["Authorization"] = token
    last = None
    for _ in range(CONTAINER_ATTEMPTS):
        try:
            answer = get_json(url, CONTAINER, headers=headers, timeout=CONTAINER_TIMEOUT)
            return keys_from(answer, CONTAINER, JSON_NAMES)
        except Error as exc:  # it names the container endpoint
            last = exc
            status = getattr(exc, "httpStatus", None)
            if status is not None and status < 500:
                break  # refused: asking again will not help
    raise last  # type: ignore[misc]


# -- the EC2 instance metadata service --------------------------------------------------

IMDS_V4 = "http://169.254.169.254"
IMDS_V6 = "http://[fd00:ec2::254]"
IMDS_TIMEOUT = 1.0
TOKEN_TTL = "21600"
ROLES = "/latest/meta-data/iam/security-credentials/"
INSTANCE = "instance metadata"
STALE_MIN, STALE_MAX = 300, 600  # already expired keys are used this many seconds more (the SDKs' static stability)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() == "true"


def imds_endpoint() -> str:
    """The metadata service's address: AWS_EC2_METADATA_SERVICE_ENDPOINT, else by the endpoint mode."""
    if _flag("AWS_EC2_METADATA_DISABLED"):
        raise NotFound("instance metadata (AWS_EC2_METADATA_DISABLED=true)")
    configured = os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
    if configured:
        return configured.rstrip("/")
    mode = os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "").strip().lower()
    return IMDS_V6 if mode == "ipv6" else IMDS_V4


def _imds_token(base: str, quiet: bool) -> Optional[str]:
    """An IMDSv2 session token; None where the service refuses tokens or does not answer the PUT (IMDSv1)."""
    try:
        response = requests.put(base + "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": TOKEN_TTL},
                                timeout=IMDS_TIMEOUT)
    except requests.Timeout:
        response = None
    except requests.RequestException as exc:
        if quiet:
            raise NotFound("instance metadata (no answer at %s)" % base) from None
        raise failed(INSTANCE, "no answer from %s (%s)" % (base, type(exc).__name__)) from None
    if response is not None and response.status_code == 200:
        return response.text.strip()
    if response is not None and response.status_code not in (403, 404, 405):
        raise failed(INSTANCE, "the token PUT answered HTTP %d" % response.status_code, response.status_code)
    if _flag("AWS_EC2_METADATA_V1_DISABLED"):
        raise failed(INSTANCE, "no IMDSv2 token (%s) and IMDSv1 is disabled" % (
            "timed out" if response is None else "HTTP %d" % response.status_code))
    return None


def fetch_instance_metadata(quiet: bool = False) -> Keys:
    """The instance role's credentials: a token, then the role's name, then its keys.

    With `quiet` (the default chain), a service that does not answer at all means "not on EC2":
    NotFound, so the chain's error lists every place it looked.
    """
    base = imds_endpoint()
    token = _imds_token(base, quiet)
    headers: Dict[str, str] = {"X-aws-ec2-metadata-token": token} if token else {}
    roles = _imds_get(base, ROLES, headers, quiet)
    role = roles.text.strip().splitlines()[0].strip() if roles.text.strip() else ""
    if not role:
        raise NotFound("instance metadata (no instance role)")
    answer = _imds_get(base, ROLES + role, headers, quiet)
    try:
        decoded = answer.json()
    except ValueError:
        raise failed(INSTANCE, "the role's credentials are not JSON") from None
    if isinstance(decoded, dict) and decoded.get("Code", "Success") != "Success":
        raise failed(INSTANCE, "the role's credentials answer Code %s" % str(decoded.get("Code"))[:40])
    keys = keys_from(decoded, INSTANCE, JSON_NAMES)
    now = time.time()
    if keys.expiration is not None and keys.expiration <= now:
        extra = random.uniform(STALE_MIN, STALE_MAX)
        logger.warning("instance metadata gave credentials that expired already: used for %.0f s more, then asked again", extra)
        keys = Keys(keys.accessKeyId, keys.secretAccessKey, keys.sessionToken, now + extra)
    return keys


def _imds_get(base: str, path: str, headers: Dict[str, str], quiet: bool) -> requests.Response:
    """GET a metadata path: the answer, NotFound for 404 (no role), REQUEST_FAILED otherwise."""
    try:
        response = requests.get(base + path, headers=headers, timeout=IMDS_TIMEOUT)
    except requests.RequestException as exc:
        if quiet:
            raise NotFound("instance metadata (no answer at %s)" % base) from None
        raise failed(INSTANCE, "no answer from %s (%s)" % (base, type(exc).__name__)) from None
    if response.status_code == 404:
        raise NotFound("instance metadata (no instance role)")
    if response.status_code != 200:
        raise failed(INSTANCE, "%s answered HTTP %d" % (path, response.status_code), response.status_code)
    return response
