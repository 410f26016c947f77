"""Credentials from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
(or the older AWS_SECURITY_TOKEN) and AWS_CREDENTIAL_EXPIRATION, read anew at every fetch (Lambda
sets them so, and they expire)."""

import os

from ..sigv4 import Keys
from .common import NotFound, parse_time

SOURCE = "the environment"


def fetch_environment() -> Keys:
    """The keys the environment holds now."""
    env = os.environ
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        raise NotFound("environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set)")
    token = env.get("AWS_SESSION_TOKEN") or env.get("AWS_SECURITY_TOKEN") or None
    expiration = env.get("AWS_CREDENTIAL_EXPIRATION")
    return Keys(key, secret, token, parse_time(expiration, SOURCE + " (AWS_CREDENTIAL_EXPIRATION)") if expiration else None)
