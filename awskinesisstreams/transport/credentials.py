"""Credentials and region found the way the AWS CLI finds them, for the command line and examples.

The faithful constructors never read the environment (see the contract); only tools call this.
Order, as in the AWS CLI: an explicit profile reads the shared files only; otherwise the
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) variables win, then the
profile named by AWS_PROFILE (or "default") in ~/.aws/credentials, then in ~/.aws/config.
Region: the explicit one, AWS_REGION, AWS_DEFAULT_REGION, then the profile's `region` in ~/.aws/config.
"""

import configparser
import os
from typing import Mapping, Optional, Tuple

from .signed_request import Credentials


class SettingsError(Exception):
    """No usable credentials or region, or an unreadable shared file: a user error, said in one line."""


def _read(path: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise SettingsError("cannot read %s: %s" % (path, str(exc).splitlines()[0])) from None
    return parser


def _shared_files(environ: Mapping[str, str]) -> Tuple[str, str]:
    """The paths of the shared credentials and config files (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE)."""
    home = os.path.join(os.path.expanduser("~"), ".aws")
    return (
        os.path.expanduser(environ.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, "credentials")),
        os.path.expanduser(environ.get("AWS_CONFIG_FILE") or os.path.join(home, "config")),
    )


def _profile_sections(profile: str, environ: Mapping[str, str]) -> Tuple[Mapping[str, str], Mapping[str, str]]:
    """The profile's section in the credentials file (`[x]`) and in the config file (`[profile x]`; `[default]` too)."""
    credentials_path, config_path = _shared_files(environ)
    credentials = _read(credentials_path)
    config = _read(config_path)
    config_names = ("default", "profile default") if profile == "default" else ("profile " + profile,)
    empty: Mapping[str, str] = {}
    return (
        credentials[profile] if credentials.has_section(profile) else empty,
        next((config[name] for name in config_names if config.has_section(name)), empty),
    )


def _keys(section: Mapping[str, str]) -> Optional[Credentials]:
    key_id = section.get("aws_access_key_id")
    secret = section.get("aws_secret_access_key")
    if key_id and secret:
        return Credentials(key_id, secret, section.get("aws_session_token") or None)
    return None


def find_settings(
    profile: Optional[str] = None,
    region: Optional[str] = None,
    environ: Mapping[str, str] = os.environ,
) -> Tuple[Credentials, str]:
    """The credentials and region to use; raises SettingsError saying what is missing and where it looked."""
    explicit = bool(profile)
    name = profile or environ.get("AWS_PROFILE") or "default"
    from_files, config = _profile_sections(name, environ)
    found = None
    if not explicit and environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"):
        found = Credentials(
            environ["AWS_ACCESS_KEY_ID"], environ["AWS_SECRET_ACCESS_KEY"], environ.get("AWS_SESSION_TOKEN") or None
        )
    found = found or _keys(from_files) or _keys(config)
    if found is None:
        if explicit and not from_files and not config:
            raise SettingsError("profile %r is not in %s nor %s" % ((name,) + _shared_files(environ)))
        raise SettingsError(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or give profile %r keys in %s" % (name, _shared_files(environ)[0])
        )
    region = region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or config.get("region")
    if not region:
        raise SettingsError(
            "no AWS region found: give --region, set AWS_REGION, or set region for profile %r in %s"
            % (name, _shared_files(environ)[1])
        )
    return found, region
