"""Credentials and region from the shared files, as the AWS CLI reads them: ~/.aws/credentials
(`[name]`) and ~/.aws/config (`[profile name]`, `[default]`, `[sso-session name]`), moved by
AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE; the profile is AWS_PROFILE's, else `default`.

A profile may hold keys, a role to assume (from `source_profile`, recursing, or a
`credential_source`), a web identity token file, a `credential_process`, or an SSO role. The
files are read at every fetch, so a new `aws sso login` or rotated keys are seen at the next refresh.
"""

import configparser
import os
from typing import Dict, List, Mapping, Optional, Tuple

from ...error import library_error
from ..sigv4 import Keys
from .common import Fetch, NotFound
from .environment import fetch_environment
from .metadata import fetch_container, fetch_instance_metadata
from .process import fetch_process
from .sso import fetch_sso
from .sts import assume_role, assume_role_with_web_identity

Section = Mapping[str, str]
CREDENTIAL_SOURCES = {"Environment": fetch_environment, "EcsContainer": fetch_container,
                      "Ec2InstanceMetadata": fetch_instance_metadata}


def shared_files() -> Tuple[str, str]:
    """The paths of the shared credentials and config files."""
    home = os.path.join(os.path.expanduser("~"), ".aws")
    return (
        os.path.expanduser(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, "credentials")),
        os.path.expanduser(os.environ.get("AWS_CONFIG_FILE") or os.path.join(home, "config")),
    )


def _read(path: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise library_error("cannot read %s: %s" % (path, str(exc).splitlines()[0])) from None
    return parser


class Files:
    """The two shared files as read now: a profile's sections in each, and the sso-session sections."""

    def __init__(self) -> None:
        self.paths = shared_files()
        self.credentials = _read(self.paths[0])
        self.config = _read(self.paths[1])

    def sections(self, name: str) -> Tuple[Section, Section]:
        """The profile's section in the credentials file and in the config file (empty where missing)."""
        names = ("default", "profile default") if name == "default" else ("profile " + name,)
        empty: Section = {}
        return (
            self.credentials[name] if self.credentials.has_section(name) else empty,
            next((self.config[n] for n in names if self.config.has_section(n)), empty),
        )

    def sso_session(self, name: str) -> Section:
        section = "sso-session " + name
        if not self.config.has_section(section):
            raise library_error("sso_session %r has no [%s] section in %s" % (name, section, self.paths[1]))
        return self.config[section]


def profile_name(name: Optional[str]) -> str:
    return name or os.environ.get("AWS_PROFILE") or "default"


def profile_fetch(name: Optional[str]) -> Fetch:
    """A fetch of the named profile's credentials (AWS_PROFILE's, else default's), reading the files each time.

    A profile named here that is in neither file is a LIBRARY_ERROR; the default one missing is NotFound.
    """
    chosen = profile_name(name)

    def fetch() -> Keys:
        files = Files()
        from_credentials, from_config = files.sections(chosen)
        if not from_credentials and not from_config:
            where = "profile %r is not in %s nor %s" % ((chosen,) + files.paths)
            if name:
                raise library_error(where)
            raise NotFound(where)
        return _resolve(files, chosen, [])()

    return fetch


def _keys(section: Section) -> Optional[Keys]:
    key_id, secret = section.get("aws_access_key_id"), section.get("aws_secret_access_key")
    if key_id and secret:
        return Keys(key_id, secret, section.get("aws_session_token") or None)
    return None


def _resolve(files: Files, name: str, visited: List[str]) -> Fetch:
    """How profile `name` gets its keys, in the AWS CLI's order: role, web identity, SSO, keys, process."""
    if name in visited:
        raise library_error("profiles loop: %s" % " -> ".join(visited + [name]))
    from_credentials, from_config = files.sections(name)
    section: Dict[str, str] = dict(from_config)
    section.update(from_credentials)
    region = section.get("region")
    role_arn = section.get("role_arn")
    if role_arn:
        if section.get("web_identity_token_file"):
            token_file = section["web_identity_token_file"]
            return lambda: assume_role_with_web_identity(role_arn, token_file, section.get("role_session_name"), region, None)
        source = _role_source(files, name, section, visited)
        duration = _duration(name, section)
        return lambda: assume_role(role_arn, source, section.get("role_session_name"), section.get("external_id"),
                                   duration, region, None)
    if section.get("sso_session") or section.get("sso_start_url"):
        return _sso(files, name, section)
    keys = _keys(from_credentials)
    if keys is not None:
        return keys.keys
    process = section.get("credential_process")
    if process:
        return lambda: fetch_process(process)
    keys = _keys(from_config)
    if keys is not None:
        return keys.keys
    if not from_credentials and not from_config:
        raise library_error("profile %r (named by another) is not in %s nor %s" % ((name,) + files.paths))
    raise NotFound("profile %r (no keys, role, SSO or credential_process in it)" % name)


def _role_source(files: Files, name: str, section: Section, visited: List[str]) -> Fetch:
    """The keys a profile's role is assumed with: its source_profile's, or its credential_source's."""
    source_profile, credential_source = section.get("source_profile"), section.get("credential_source")
    if source_profile and credential_source:
        raise library_error("profile %r has both source_profile and credential_source" % name)
    if source_profile == name:  # a profile whose own keys assume its role
        keys = _keys(section)
        if keys is None:
            raise library_error("profiles loop: %s -> %s" % (name, name))
        return keys.keys
    if source_profile:
        return _resolve(files, source_profile, visited + [name])
    if credential_source:
        if credential_source not in CREDENTIAL_SOURCES:
            raise library_error("profile %r: credential_source %r is not one of %s"
                                % (name, credential_source, ", ".join(CREDENTIAL_SOURCES)))
        return CREDENTIAL_SOURCES[credential_source]
    raise library_error("profile %r has role_arn but neither source_profile nor credential_source" % name)


def _duration(name: str, section: Section) -> int:
    text = section.get("duration_seconds", "3600")
    try:
        return int(text)
    except ValueError:
        raise library_error("profile %r: duration_seconds %r is not a whole number" % (name, text)) from None


def _sso(files: Files, name: str, section: Section) -> Fetch:
    """An SSO role: from the profile's sso_session section, or its own older sso_* keys."""
    session = section.get("sso_session")
    settings: Dict[str, str] = dict(files.sso_session(session)) if session else {}
    settings.update(section)
    wanted = ("sso_start_url", "sso_region", "sso_account_id", "sso_role_name")
    missing = [key for key in wanted if not settings.get(key)]
    if missing:
        raise library_error("profile %r: SSO needs %s" % (name, ", ".join(missing)))
    start, region, account, role = (settings[key] for key in wanted)
    return lambda: fetch_sso(session, start, region, account, role)


def profile_region(name: Optional[str]) -> Optional[str]:
    """The `region` the named profile (AWS_PROFILE's, else default's) sets in the config file, if any."""
    return Files().sections(profile_name(name))[1].get("region")
