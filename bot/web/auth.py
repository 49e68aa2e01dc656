"""Coordinators' sign-in: argon2id passwords, lockout, sessions bound to a browser, CSRF tokens.

Decisions (security settings, not clinical numbers):
- A password is stored only as an argon2id hash; it has at least MIN_PASSWORD_LENGTH characters.
- FAILED_LOGINS_BEFORE_LOCK wrong passwords in a row lock the account for LOCKED_FOR; a good login
  resets the count. A wrong username and a wrong password get the same answer (and take as long).
- A session lasts SESSION_LIFETIME from sign-in, whatever happens meanwhile (an absolute limit, one
  work shift; using the dashboard does not extend it). Its cookie holds a random token; the database
  keeps only its sha256. The session is bound to the browser that signed in (a hash of its User-Agent
  and Accept-Language): the same cookie from another browser is refused.
- Every form of a session carries the session's CSRF token; the sign-in form carries one of its own,
  also set in a short-lived cookie (double submit). Both are compared in constant time.

No HTML here: `bot.web.dashboard` turns these answers into pages.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.web.keys import REPOSITORY, SETTINGS
from storage.coordinators import Coordinator, Coordinators, CoordinatorSession

MIN_PASSWORD_LENGTH = 12
FAILED_LOGINS_BEFORE_LOCK = 5
LOCKED_FOR = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=8)
LOGIN_FORM_LIFETIME = timedelta(hours=1)
SESSION_COOKIE = "scanpass_coordinator"
LOGIN_COOKIE = "scanpass_login"
CSRF_FIELD = "csrf"

PASSWORDS = PasswordHasher()   # argon2id with argon2-cffi's recommended parameters
CLOCK = web.AppKey("clock", Callable[[], datetime])   # now, aware UTC; tests put a clock of their own here


class PasswordRefused(ValueError):
    """A new password that may not be used; the message says why, in one line."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRefused(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")
    return PASSWORDS.hash(password)


@functools.cache
def _nobody() -> str:
    """A hash verified against for unknown usernames, so they take as long as a wrong password."""
    return PASSWORDS.hash(secrets.token_urlsafe(16))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return PASSWORDS.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def browser_of(request: web.Request) -> str:
    """What identifies the browser a session began in (not secret: it makes a stolen cookie useless elsewhere)."""
    return digest(f"{request.headers.get('User-Agent', '')}\n{request.headers.get('Accept-Language', '')}")


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two tokens; a missing one never matches."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


def now(request: web.Request) -> datetime:
    clock = request.config_dict.get(CLOCK)
    return clock() if clock else datetime.now(UTC)


def accounts(request: web.Request) -> Coordinators:
    return Coordinators(request.config_dict[REPOSITORY])


def secure(request: web.Request) -> bool:
    """Cookies are Secure when the dashboard is reached over https (PUBLIC_URL says so, or the request is)."""
    public_url = request.config_dict[SETTINGS].public_url or ""
    return request.secure or public_url.lower().startswith("https://")


# ---- signing in ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignIn:
    """What a sign-in attempt came to: `token` set on success; `locked_until` when the account is locked."""
    coordinator: Coordinator | None = None
    token: str | None = None
    locked_until: datetime | None = None


async def sign_in(request: web.Request, username: str, password: str) -> SignIn:
    store = accounts(request)
    moment = now(request)
    account = await asyncio.to_thread(store.find, username.strip())
    if account is not None and account.locked(moment):
        return SignIn(locked_until=account.locked_until)
    good = await asyncio.to_thread(_verify, account.password_hash if account else _nobody(), password)
    if account is None:
        return SignIn()
    if not good:
        account = await asyncio.to_thread(store.failed_login, account.id, moment,
                                          FAILED_LOGINS_BEFORE_LOCK, LOCKED_FOR)
        return SignIn(locked_until=account.locked_until if account.locked(moment) else None)
    renewed = PASSWORDS.hash(password) if PASSWORDS.check_needs_rehash(account.password_hash) else None
    await asyncio.to_thread(store.good_login, account.id, renewed)
    token = secrets.token_urlsafe(32)
    await asyncio.to_thread(store.begin_session, account.id, digest(token), secrets.token_urlsafe(32),
                            browser_of(request), moment, moment + SESSION_LIFETIME)
    return SignIn(coordinator=account, token=token)


def remember(response: web.StreamResponse, request: web.Request, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=int(SESSION_LIFETIME.total_seconds()), path="/coordinator",
                        httponly=True, samesite="Strict", secure=secure(request))


def forget(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/coordinator")


async def current_session(request: web.Request) -> CoordinatorSession | None:
    """The request's live session: known, not expired, and from the browser that signed in."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = await asyncio.to_thread(accounts(request).session, digest(token))
    if found is None or found.expires_at <= now(request) or not same(found.browser, browser_of(request)):
        return None
    return found


async def sign_out(request: web.Request) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await asyncio.to_thread(accounts(request).end_session, digest(token))


# ---- the sign-in form's own CSRF token (there is no session yet) ------------------------------

def login_form_token(request: web.Request) -> str:
    """The token the sign-in form carries: the one already in the browser's cookie, or a new one."""
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)


def remember_login_form(response: web.StreamResponse, request: web.Request, token: str) -> None:
    response.set_cookie(LOGIN_COOKIE, token, max_age=int(LOGIN_FORM_LIFETIME.total_seconds()),
                        path="/coordinator/login", httponly=True, samesite="Strict", secure=secure(request))


def login_form_ok(request: web.Request, form) -> bool:
    return same(request.cookies.get(LOGIN_COOKIE), form.get(CSRF_FIELD))
