"""Who a web patient is: a random 128-bit id in a signed, http-only, SameSite=Lax cookie.

The chat key is `web:<id>`. The cookie is `<id>.<HMAC-SHA256(secret, id)>`; the secret is SECRET_KEY,
the same on every instance behind a load balancer; unset, one is made once into DATA_DIR (`web-secret`,
mode 0600) so a single-process operator configures nothing. A cookie that does not verify (tampered,
or signed by another server's secret) is a new visitor: nothing of the other case can be reached with it.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from aiohttp import web

from dialogs.i18n import DEFAULT, choose
from storage import ConfigurationError, Settings

COOKIE = "scanpass_visitor"
SECRET_FILE = "web-secret"
MAX_AGE = 365 * 24 * 60 * 60   # seconds; the case itself is purged after RETENTION_DAYS
SHORTEST_KEY = 32               # characters of SECRET_KEY


def signing_secret(settings: Settings) -> bytes:
    """SECRET_KEY when it is set (at least 32 characters, else the server refuses to start), else DATA_DIR's."""
    if settings.secret_key is None:
        return load_secret(settings.data_dir)
    if len(settings.secret_key) < SHORTEST_KEY:
        raise ConfigurationError(f"SECRET_KEY must be at least {SHORTEST_KEY} characters "
                                 "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return settings.secret_key.encode()


def load_secret(data_dir: Path) -> bytes:
    """The server's signing secret, created on first use (readable by its owner only)."""
    path = Path(data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_bytes()
        if len(secret) >= 32:
            return secret
        raise RuntimeError(f"{path} is shorter than 32 bytes: delete it and a new one is made") from None
    with os.fdopen(descriptor, "wb") as out:
        secret = secrets.token_bytes(32)
        out.write(secret)
    return secret


class Visitors:
    """Signs and reads the visitor cookie."""

    def __init__(self, secret: bytes, secure: bool = False):
        self.secret, self.secure = secret, secure

    def _signature(self, visitor: str) -> str:
        return hmac.new(self.secret, visitor.encode(), hashlib.sha256).hexdigest()

    def sign(self, visitor: str) -> str:
        return f"{visitor}.{self._signature(visitor)}"

    def verify(self, cookie: str | None) -> str | None:
        """The visitor id the cookie carries, or None if there is none or it does not verify."""
        visitor, _, signature = (cookie or "").partition(".")
        if len(visitor) != 32 or not all(c in "0123456789abcdef" for c in visitor):
            return None
        return visitor if hmac.compare_digest(signature, self._signature(visitor)) else None

    def chat(self, request: web.Request) -> str | None:
        """`web:<id>` of a returning visitor, or None."""
        visitor = self.verify(request.cookies.get(COOKIE))
        return f"web:{visitor}" if visitor else None

    def chat_or_new(self, request: web.Request) -> tuple[str, str | None]:
        """The visitor's chat key, and the cookie value to set when the visitor is new (else None)."""
        chat = self.chat(request)
        if chat:
            return chat, None
        visitor = secrets.token_hex(16)
        return f"web:{visitor}", self.sign(visitor)

    def remember(self, response: web.StreamResponse, cookie: str | None) -> None:
        if cookie:
            response.set_cookie(COOKIE, cookie, max_age=MAX_AGE, httponly=True, samesite="Lax", secure=self.secure,
                                path="/")


def accept_language(request: web.Request) -> str:
    """The shipped locale closest to the browser's preferences (Accept-Language, by q), else English."""
    ranked = []
    for position, part in enumerate(request.headers.get("Accept-Language", "").split(",")):
        tag, _, weight = part.strip().partition(";q=")
        try:
            ranked.append((-float(weight or 1), position, tag.strip()))
        except ValueError:
            continue
    for _weight, _position, tag in sorted(ranked):
        if tag and tag != "*":
            locale = choose(tag)
            if locale != DEFAULT or tag.lower().startswith(DEFAULT):
                return locale
    return DEFAULT
