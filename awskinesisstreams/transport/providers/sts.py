"""STS, for roles: AssumeRole (signed with a source's keys) and AssumeRoleWithWebIdentity (unsigned,
with the token file read anew at every fetch, as EKS rotates it). The Query protocol: a form
POST, an XML answer."""

import os
import time
from typing import Callable, Dict, Optional

import requests

from ..query import post_form, text_of
from ..signed_request import resolve_endpoint
from ..sigv4 import Keys
from .common import NotFound, failed, parse_time

VERSION = "2011-06-15"


def sts_region(region: Optional[str]) -> str:
    """The region STS is called in: the one given, AWS_REGION, AWS_DEFAULT_REGION, else us-east-1."""
    return region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def session_name(name: Optional[str]) -> str:
    """A role session's name: the one given, else one made of the time, as the SDKs make it."""
    return name or "awskinesisstreams-%d" % int(time.time() * 1000)


def assume_role(
    role_arn: str, source: Callable[[], Keys], name: Optional[str], external_id: Optional[str],
    duration: int, region: Optional[str], endpoint: Optional[str],
) -> Keys:
    """STS AssumeRole, signed with the keys `source` gives."""
    params = {"Action": "AssumeRole", "Version": VERSION, "RoleArn": role_arn,
              "RoleSessionName": session_name(name), "DurationSeconds": str(duration)}
    if external_id:
        params["ExternalId"] = external_id
    where = sts_region(region)
    return _call("AssumeRole", role_arn, params, where, endpoint, source)


def web_identity_token_file(token_file: Optional[str]) -> str:
    """The token file of a web identity (EKS IRSA): the one given, else AWS_WEB_IDENTITY_TOKEN_FILE."""
    path = token_file or os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")
    if not path:
        raise NotFound("web identity (AWS_WEB_IDENTITY_TOKEN_FILE not set)")
    return path


def assume_role_with_web_identity(
    role_arn: Optional[str], token_file: Optional[str], name: Optional[str], region: Optional[str], endpoint: Optional[str],
) -> Keys:
    """STS AssumeRoleWithWebIdentity with the token the file holds now (unsigned: the token is the proof)."""
    path = web_identity_token_file(token_file)
    role_arn = role_arn or os.environ.get("AWS_ROLE_ARN")
    if not role_arn:
        raise NotFound("web identity (AWS_ROLE_ARN not set)")
    source = "web identity (%s)" % role_arn
    try:
        with open(path, encoding="utf-8") as f:
            token = f.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise failed(source, "cannot read the token file %s (%s)" % (path, type(exc).__name__)) from None
    params = {"Action": "AssumeRoleWithWebIdentity", "Version": VERSION, "RoleArn": role_arn,
              "RoleSessionName": session_name(name or os.environ.get("AWS_ROLE_SESSION_NAME")), "WebIdentityToken": token}
    return _call("AssumeRoleWithWebIdentity", role_arn, params, sts_region(region), endpoint, None)


def _call(action: str, role_arn: str, params: Dict[str, str], region: str, endpoint: Optional[str],
          source: Optional[Callable[[], Keys]]) -> Keys:
    """POST the action to STS (signed with `source`'s keys if given) and read the credentials in its answer."""
    name = "%s (%s)" % ("assumed role" if source is not None else "web identity", role_arn)
    url = resolve_endpoint("sts", region, endpoint)
    try:
        status, root = post_form(url, region, "sts", params, None if source is None else source())
    except requests.RequestException as exc:
        raise failed(name, "STS %s got no answer from %s (%s)" % (action, url, type(exc).__name__)) from None
    if status != 200:
        code, message = text_of(root, "Code"), text_of(root, "Message")
        raise failed(name, "STS %s failed with HTTP %d: %s %s" % (action, status, code, message), status,
                     {"__type": code, "message": message})
    found = {tag: text_of(root, tag) for tag in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")}
    if not all(found.values()):
        raise failed(name, "STS %s answer lacks credentials" % action, status)
    return Keys(found["AccessKeyId"], found["SecretAccessKey"], found["SessionToken"], parse_time(found["Expiration"], name))

