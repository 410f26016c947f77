"""The AWS Query protocol: a form POST signed for a service, and its XML answer (STS, CloudWatch)."""

import time
import xml.etree.ElementTree as ElementTree
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlencode, urlsplit

import requests

from ..metrics.figures import REQUESTS
from .signed_request import canonical_host
from .sigv4 import Keys, SigV4Signer

FORM = "application/x-www-form-urlencoded; charset=utf-8"
TIMEOUT = (5.0, 30.0)


def post_form(url: str, region: str, service: str, params: Dict[str, str], keys: Optional[Keys]) -> Tuple[int, Any]:
    """POST `params` (Action and Version among them) to `url`, signed with `keys` unless None.

    Returns the status and the answer's XML root (None if not XML); no answer raises requests' exception.
    Each request is counted as every request of the library is, by its error code where it failed.
    """
    body = urlencode(params).encode("utf-8")
    headers = {"Content-Type": FORM}
    if keys is not None:
        headers = SigV4Signer(region, service).sign(keys, canonical_host(url), headers, body, path=urlsplit(url + "/").path)
    started = time.perf_counter()
    action = params.get("Action", "")
    try:
        response = requests.post(url + "/", data=body, headers=headers, timeout=TIMEOUT)
    except requests.RequestException:
        REQUESTS.record(service, action, "network", time.perf_counter() - started)
        raise
    root = xml_root(response.content)
    outcome = "ok" if response.status_code == 200 else (text_of(root, "Code") or "HTTP %d" % response.status_code)
    REQUESTS.record(service, action, outcome, time.perf_counter() - started)
    return response.status_code, root


def xml_root(content: bytes) -> Any:
    try:
        return ElementTree.fromstring(content)
    except ElementTree.ParseError:
        return None


def text_of(root: Any, tag: str) -> str:
    """The text of the first element named `tag`, whatever its namespace ("" if none)."""
    if root is None:
        return ""
    for element in root.iter():
        if element.tag.rpartition("}")[2] == tag:
            return (element.text or "").strip()
    return ""
