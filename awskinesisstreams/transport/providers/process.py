"""Credentials from a `credential_process`: a command run without a shell, whose standard output is
JSON Version 1 (AccessKeyId, SecretAccessKey, SessionToken, Expiration)."""

import json
import shlex
import subprocess
from typing import List, Sequence, Union

from ..sigv4 import Keys
from .common import failed, keys_from

NAMES = {"key": "AccessKeyId", "secret": "SecretAccessKey", "token": "SessionToken", "expiration": "Expiration"}
TIMEOUT = 60.0


def command_line(command: Union[str, Sequence[str]]) -> List[str]:
    """The command's words: a string is split as a POSIX shell would split it, a list is taken as it is."""
    return shlex.split(command) if isinstance(command, str) else [str(word) for word in command]


def fetch_process(command: Union[str, Sequence[str]]) -> Keys:
    """Run the command and read its keys; a failure names the program, never what it printed on standard output."""
    words = command_line(command)
    source = "credential_process %s" % (words[0] if words else "(empty)")
    if not words:
        raise failed(source, "the command is empty")
    try:
        done = subprocess.run(words, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        raise failed(source, "could not run it (%s)" % type(exc).__name__) from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise failed(source, "exited with status %d%s" % (done.returncode, ": " + said[-1][:200] if said else ""))
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        raise failed(source, "its output is not JSON") from None
    if not isinstance(answer, dict) or answer.get("Version") != 1:
        raise failed(source, "its output is not Version 1 (the only version there is)")
    return keys_from(answer, source, NAMES, expiring=False)
