"""AWSKinesisStreams.Credentials: where the keys that sign come from, refreshed before they expire.

A Credentials is a fetch (one of `providers/`) and the keys it last gave. The signer asks it
for keys right before each request is signed, on the library's HTTP threads, never on the
loop: keys that expire are fetched anew from 5 minutes before they do (a third of their
lifetime when that is shorter), by one thread at a time while the others sign with the old
ones. A fetch that fails while the old keys still hold keeps them and is tried again after a
pause; keys known to have expired are never used. An ExpiredToken answer invalidates them.
"""

import logging
import threading
import time
from typing import Any, List, Optional, Sequence, Tuple, Union

from ..enums import AWS_KINESIS_STREAMS_ERROR
from ..error import Error, library_error
from .providers.common import Fetch, NotFound
from .providers.environment import fetch_environment
from .providers.metadata import fetch_container, fetch_instance_metadata
from .providers.process import fetch_process
from .providers.profiles import profile_fetch
from .providers.sts import assume_role, assume_role_with_web_identity
from .sigv4 import Keys, wrong_keys

logger = logging.getLogger("awskinesisstreams")

EARLY = 300.0  # refresh this many seconds before expiry at most ...
EARLY_SHARE = 1 / 3  # ... and at most this share of the keys' lifetime before it
MARGIN = 1.0  # keys this close to their expiry count as expired: a request takes time to arrive
PAUSE_MAX = 30.0  # after a failed refresh, wait at most this long before the next try


class Credentials:
    """A source of credentials that refreshes them (see the module's docstring); make one with a
    class method: static, environment, profile, assumeRole, webIdentity, process, container,
    instanceMetadata, chain or default. None does any I/O until its keys are first asked for."""

    def __init__(self, name: str, fetch: Fetch, cache: bool = True, fixed: bool = False) -> None:
        self.name = name
        self._fetch = fetch
        self._cache = cache  # False: ask the source before every request (a botocore object refreshes itself)
        self._fixed = fixed  # keys that never change: nothing to invalidate
        self._lock = threading.Lock()  # one refresh at a time
        self._keys: Optional[Keys] = None
        self._refresh_at = 0.0  # when the keys held should be replaced
        self._retry_at = 0.0  # after a failed refresh, not before then
        self.fetches = 0  # how many times the source was asked (for tests and monitoring)

    def __repr__(self) -> str:
        return "AWSKinesisStreams.Credentials(%s)" % self.name

    # -- what a signer asks -------------------------------------------------------------

    def keys(self) -> Keys:
        """Keys to sign with now: LIBRARY_ERROR where the source has none, REQUEST_FAILED where it failed."""
        try:
            return self.keys_or_not_found()
        except NotFound as missing:
            raise library_error("no AWS credentials found: looked in %s" % missing.where) from None

    def keys_or_not_found(self) -> Keys:
        """As `keys`, but NotFound where the source does not apply here (for a chain to go on)."""
        keys = self._keys
        if keys is not None and (keys.expiration is None or time.time() < self._refresh_at):
            return keys
        if not self._cache:
            return self._checked(self._fetch())
        return self._refresh()

    def invalidate(self, keys: Keys) -> bool:
        """The service answered that `keys` expired: the next request waits for new ones. False for fixed keys."""
        if self._fixed:
            return False
        with self._lock:
            if self._keys is keys:
                self._keys = None
                self._retry_at = 0.0
        return True

    def get_frozen_credentials(self) -> Keys:
        """botocore's name for `keys`, so that a Credentials serves where a botocore one would."""
        return self.keys()

    # -- refreshing -----------------------------------------------------------------------

    def _refresh(self) -> Keys:
        held = self._keys
        now = time.time()
        holds = held is not None and (held.expiration is None or now < held.expiration - MARGIN)
        if holds and (now < self._retry_at or not self._lock.acquire(blocking=False)):
            return held  # type: ignore[return-value]  # paused after a failure, or another thread refreshes
        if not holds:
            self._lock.acquire()
        try:
            held, now = self._keys, time.time()
            if held is not None and (held.expiration is None or now < self._refresh_at):
                return held  # another thread refreshed while this one waited
            self.fetches += 1
            try:
                keys = self._fetch()
            except (Error, NotFound) as exc:
                if held is not None and held.expiration is not None and now < held.expiration - MARGIN:
                    pause = min(PAUSE_MAX, max(0.5, (held.expiration - now) / 5))
                    self._retry_at = now + pause
                    logger.warning("%s: refresh failed, the keys held are kept for now (%s); next try in %.1f s",
                                   self.name, exc, pause)
                    return held
                raise
            self._checked(keys)
            self._keys = keys
            self._retry_at = 0.0
            if keys.expiration is not None:
                lifetime = keys.expiration - now
                self._refresh_at = keys.expiration - min(EARLY, lifetime * EARLY_SHARE)
            return keys
        finally:
            self._lock.release()

    def _checked(self, keys: Keys) -> Keys:
        """`keys`, if they can sign and have not expired: a LIBRARY_ERROR for fixed keys of the user's, else REQUEST_FAILED."""
        wrong = wrong_keys(keys)
        if wrong:
            if self._fixed:
                raise library_error("; ".join(wrong))
            raise Error(AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED, "credentials from %s unusable: %s" % (self.name, "; ".join(wrong)))
        if keys.expiration is not None and keys.expiration - MARGIN <= time.time():
            raise Error(AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED, "credentials from %s have expired already" % self.name)
        return keys

    # -- the providers --------------------------------------------------------------------

    @classmethod
    def static(cls, accessKeyId: str, secretAccessKey: str, sessionToken: Optional[str] = None) -> "Credentials":
        """Keys that never change (checked when first asked for)."""
        keys = Keys(accessKeyId, secretAccessKey, sessionToken)
        return cls("static keys %s" % _shown(accessKeyId), keys.keys, fixed=True)

    @classmethod
    def environment(cls) -> "Credentials":
        """AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (or AWS_SECURITY_TOKEN), AWS_CREDENTIAL_EXPIRATION."""
        return cls("the environment", fetch_environment)

    @classmethod
    def profile(cls, name: Optional[str] = None) -> "Credentials":
        """A profile of the shared files (AWS_PROFILE's, else default's): keys, a role, web identity, a process or SSO."""
        return cls("profile %s" % (name or "(AWS_PROFILE or default)"), profile_fetch(name))

    @classmethod
    def assumeRole(
        cls, roleArn: str, source: Any, *, sessionName: Optional[str] = None, externalId: Optional[str] = None,
        duration: int = 3600, region: Optional[str] = None, endpoint: Optional[str] = None,
    ) -> "Credentials":
        """STS AssumeRole, signed with the keys of `source` (another Credentials, or a botocore one)."""
        signer = as_credentials(source)
        if isinstance(signer, Error):
            raise signer
        return cls("assumed role %s" % roleArn,
                   lambda: assume_role(roleArn, signer.keys, sessionName, externalId, duration, region, endpoint))

    @classmethod
    def webIdentity(
        cls, roleArn: Optional[str] = None, tokenFile: Optional[str] = None, sessionName: Optional[str] = None, *,
        region: Optional[str] = None, endpoint: Optional[str] = None,
    ) -> "Credentials":
        """STS AssumeRoleWithWebIdentity (EKS IRSA): AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_SESSION_NAME by default."""
        return cls("web identity %s" % (roleArn or "(AWS_ROLE_ARN)"),
                   lambda: assume_role_with_web_identity(roleArn, tokenFile, sessionName, region, endpoint))

    @classmethod
    def process(cls, command: Union[str, Sequence[str]]) -> "Credentials":
        """A `credential_process` command (split as a shell would, run without one), its JSON Version 1 output."""
        return cls("credential_process", lambda: fetch_process(command))

    @classmethod
    def container(cls) -> "Credentials":
        """ECS and EKS Pod Identity: the container credentials endpoint."""
        return cls("the container endpoint", fetch_container)

    @classmethod
    def instanceMetadata(cls) -> "Credentials":
        """EC2: the instance role, through the instance metadata service (IMDSv2, else v1)."""
        return cls("instance metadata", fetch_instance_metadata)

    @classmethod
    def chain(cls, *providers: "Credentials") -> "Credentials":
        """The first of `providers` that has credentials, kept from then on."""
        return cls("chain of %s" % ", ".join(p.name for p in providers), _first_of(list(providers)))

    @classmethod
    def default(cls, profile: Optional[str] = None) -> "Credentials":
        """The AWS SDKs' chain: environment, web identity, profile, container, instance metadata.

        A profile named here skips the environment, as the AWS CLI's --profile does.
        """
        providers = [] if profile else [cls.environment()]
        providers += [
            cls("web identity", lambda: assume_role_with_web_identity(None, None, None, None, None)),
            cls.profile(profile),
            cls.container(),
            cls("instance metadata", lambda: fetch_instance_metadata(quiet=True)),
        ]
        chain = cls.chain(*providers)
        chain.name = "the default chain" + (" (profile %s)" % profile if profile else "")
        return chain


def _first_of(providers: List[Credentials]) -> Fetch:
    """A chain's fetch: ask each provider in turn until one applies, then only that one."""
    chosen: List[Credentials] = []

    def fetch() -> Keys:
        if chosen:
            return chosen[0].keys_or_not_found()
        looked = []
        for provider in providers:
            try:
                keys = provider.keys_or_not_found()
            except NotFound as missing:
                looked.append(missing.where)
                continue
            chosen.append(provider)
            return keys
        raise NotFound("; ".join(looked) or "no provider")

    return fetch


def _shown(key_id: Any) -> str:
    """An access key id as logs may show it: its last four characters."""
    return "..." + key_id[-4:] if isinstance(key_id, str) and len(key_id) > 8 else "(short)"


def as_credentials(given: Any) -> Union[Credentials, Error]:
    """A `credentials=` argument as a Credentials: itself, or a botocore-style object asked before every
    request (botocore refreshes its own); anything else is a LIBRARY_ERROR."""
    if isinstance(given, Credentials):
        return given
    frozen = getattr(given, "get_frozen_credentials", None)
    if callable(frozen):
        def fetch() -> Keys:
            keys = frozen()
            return Keys(keys.access_key, keys.secret_key, keys.token or None)

        return Credentials("%s.get_frozen_credentials()" % type(given).__name__, fetch, cache=False)
    return library_error("credentials must be an AWSKinesisStreams.Credentials or have get_frozen_credentials(), got %s"
                         % type(given).__name__)


def signing_source(accessKeyId: Any, secretAccessKey: Any, sessionToken: Any, credentials: Any) -> Tuple[Any, List[str]]:
    """What a client signs with, from its constructor's arguments: fixed keys or `credentials`, and
    what is wrong with them (each client turns that into the LIBRARY_ERROR of every call)."""
    if credentials is not None:
        if any(value is not None for value in (accessKeyId, secretAccessKey, sessionToken)):
            return None, ["give accessKeyId, secretAccessKey and sessionToken, or credentials, not both"]
        source = as_credentials(credentials)
        return (None, [source.details]) if isinstance(source, Error) else (source, [])
    wrong = ["%s must be a non-empty string" % name for name, value in (("accessKeyId", accessKeyId), ("secretAccessKey", secretAccessKey))
             if not isinstance(value, str) or not value]
    if sessionToken is not None and (not isinstance(sessionToken, str) or not sessionToken):
        wrong.append("sessionToken must be None or a non-empty string")
    if wrong:
        return None, wrong
    keys = Keys(accessKeyId, secretAccessKey, sessionToken)
    return keys, wrong_keys(keys)
