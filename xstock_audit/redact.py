"""Secret redaction for RPC URLs and anything that may carry them.

An RPC URL is shown as ``scheme://host[:port]`` followed by ``/…`` when anything else
(userinfo, path, query, fragment) was present: API keys live in all of those places.
Every URL and expanded environment value that reaches the program is registered here, and
`scrub` removes them from any text before it is printed, logged or written.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit

_lock = threading.Lock()
_secrets: dict[str, str] = {}

_URL_RE = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")


def redact_url(url: str) -> str:
    """Return the URL with everything after the host replaced by an ellipsis."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme or not host:
        return "<unparseable URL>"
    shown = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    rest = (parts.path not in ("", "/")) or parts.query or parts.fragment or parts.username
    return shown + ("/…" if rest else "")


def register_secret(value: str, replacement: str | None = None) -> None:
    """Remember a string that must never be shown (a URL, a token from the environment)."""
    if len(value) < 4:
        return
    with _lock:
        _secrets[value] = replacement if replacement is not None else "…"


def register_url(url: str) -> str:
    """Register a URL as secret and return its redacted form."""
    shown = redact_url(url)
    register_secret(url, shown)
    return shown


def scrub(text: str) -> str:
    """Remove every registered secret and redact every URL found in ``text``."""
    with _lock:
        items = sorted(_secrets.items(), key=lambda kv: -len(kv[0]))
    for secret, replacement in items:
        if secret in text:
            text = text.replace(secret, replacement)
    return _URL_RE.sub(lambda m: redact_url(m.group(0)), text)
