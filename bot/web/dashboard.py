"""The coordinator dashboard at /coordinator: sign-in, handed-off cases by status with search, a case's
page (answers, verdicts with reasons, files, JSON report, handoff summary), claim, reply, downloads.

Every route but the sign-in page needs a live session: a page asked for without one redirects to the
sign-in, a form sent without one (or without the session's CSRF token) gets a 403 page. Pages are shown
in the language picked with the switch (a cookie), else the account's, else COORDINATOR_LOCALE.
"""
from __future__ import annotations

import asyncio
import functools
import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

from aiohttp import web
from babel.dates import format_datetime, format_time
from babel.units import format_unit
from yarl import URL

from bot.web import auth
from bot.web.keys import CORE, LOCALE, REPOSITORY, SETTINGS
from cases.casework import LONGEST_REPLY, TABS, CaseGone, ClaimedByAnother, answer, claim, delivery_state, \
    handed_off, handed_off_case, search
from bot.web.originals import send_zip
from bot.web.pages import language_name, page
from dialogs.handoff import summary
from dialogs.i18n import choose, shipped
from storage.coordinators import CoordinatorSession

LANGUAGE_COOKIE = "scanpass_coordinator_lang"
LANGUAGE_KEPT = 365 * 24 * 60 * 60   # seconds the language choice is remembered
HOME = "/coordinator"
LOGIN = "/coordinator/login"
PROTECTIVE_HEADERS = {   # no caching of patient data, no framing, nothing loaded or posted elsewhere
    "Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
}


def setup_dashboard(app: web.Application) -> None:
    app.router.add_get(LOGIN, login_page)
    app.router.add_post(LOGIN, login)
    app.router.add_post("/coordinator/logout", logout)
    app.router.add_get(HOME, cases_page)
    app.router.add_get("/coordinator/case/{id:\\d+}", case_page)
    app.router.add_post("/coordinator/case/{id:\\d+}/claim", claim_case)
    app.router.add_post("/coordinator/case/{id:\\d+}/reply", reply_to_patient)
    app.router.add_get("/coordinator/case/{id:\\d+}/report.json", report_download)
    app.router.add_get("/coordinator/case/{id:\\d+}/originals.zip", originals_download)


# ---- language and pages ---------------------------------------------------------------------------

def viewer_locale(request: web.Request, session: CoordinatorSession | None = None) -> str:
    for asked in (request.query.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if asked in shipped():
            return asked
    if session is not None:
        return choose(session.coordinator.locale)
    return choose(request.config_dict[SETTINGS].coordinator_locale)


class Formats:
    """Moments, clock times and file sizes as the viewer's locale writes them (times in UTC)."""

    def __init__(self, locale: str) -> None:
        self.locale = locale

    def moment(self, value: str | datetime | None) -> str:
        if not value:
            return ""
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return format_datetime(value, "medium", tzinfo=UTC, locale=self.locale)

    def clock(self, value: datetime) -> str:
        return format_time(value, "short", tzinfo=UTC, locale=self.locale)

    def size(self, size: int) -> str:
        for unit, scale in (("digital-gigabyte", 1e9), ("digital-megabyte", 1e6), ("digital-kilobyte", 1e3)):
            if size >= scale:
                return format_unit(round(size / scale, 1), unit, length="short", locale=self.locale)
        return format_unit(size, "digital-byte", length="short", locale=self.locale)


def show(request: web.Request, template: str, session: CoordinatorSession | None = None, status: int = 200,
         **params) -> web.Response:
    locale = viewer_locale(request, session)
    switch = [(code, name, str(request.rel_url.update_query(lang=code))) for code, name in _languages()]
    response = page(template, locale, status=status, session=session, switch=switch, formats=Formats(locale),
                    csrf_field=auth.CSRF_FIELD, **params)
    if request.query.get("lang") in shipped():
        response.set_cookie(LANGUAGE_COOKIE, locale, max_age=LANGUAGE_KEPT, path=HOME, httponly=True,
                            samesite="Strict", secure=auth.secure(request))
    response.headers.update(PROTECTIVE_HEADERS)
    return response


@functools.cache
def _languages() -> list[tuple[str, str]]:
    return [(code, language_name(code)) for code in shipped()]


def refused(request: web.Request, session: CoordinatorSession | None, why: str) -> web.Response:
    return show(request, "dashboard/refused.html.j2", session, status=403, why=why)


def missing(request: web.Request, session: CoordinatorSession, case_id: int) -> web.Response:
    return show(request, "dashboard/missing.html.j2", session, status=404, case_id=case_id)


# ---- who may see what -----------------------------------------------------------------------------

def coordinators_page(handler):
    """GET: the handler gets the session; without one the visitor is sent to the sign-in page."""
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        session = await auth.current_session(request)
        if session is None:
            return _redirect(str(URL(LOGIN).with_query(next=str(request.rel_url))))
        request[LOCALE] = viewer_locale(request, session)   # an error page, if any, in the dashboard's language
        return await handler(request, session)
    return guarded


def coordinators_form(handler):
    """POST: the handler gets the session and the form; without a session or its CSRF token: 403."""
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        session = await auth.current_session(request)
        if session is None:
            return refused(request, None, "signed_out")
        request[LOCALE] = viewer_locale(request, session)
        form = await request.post()
        if not auth.same(session.csrf, form.get(auth.CSRF_FIELD)):
            return refused(request, session, "forged")
        return await handler(request, session, form)
    return guarded


def _redirect(location: str) -> web.Response:
    """303 See Other: after a form, the browser GETs `location`."""
    return web.Response(status=303, headers={"Location": location})


def _next_page(target: str | None) -> str:
    """Where to go after signing in: only a dashboard address on this site."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not (parts.path == HOME or parts.path.startswith(HOME + "/")):
        return HOME
    return target


# ---- signing in and out ---------------------------------------------------------------------------

async def login_page(request: web.Request) -> web.StreamResponse:
    if await auth.current_session(request) is not None:
        raise web.HTTPSeeOther(_next_page(request.query.get("next")))
    return _login_form(request)


def _login_form(request: web.Request, status: int = 200, username: str = "", problem: str | None = None,
                locked_until: datetime | None = None, next_page: str | None = None) -> web.Response:
    token = auth.login_form_token(request)
    response = show(request, "dashboard/login.html.j2", status=status, token=token, username=username,
                    problem=problem, locked_until=locked_until, next_page=_next_page(next_page or request.query.get("next")),
                    lock_minutes=int(auth.LOCKED_FOR.total_seconds() // 60))
    auth.remember_login_form(response, request, token)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    if not auth.login_form_ok(request, form):
        return refused(request, None, "forged")
    username, next_page = str(form.get("username", "")), str(form.get("next", ""))
    outcome = await auth.sign_in(request, username, str(form.get("password", "")))
    if outcome.locked_until is not None:
        return _login_form(request, 429, username, "locked", outcome.locked_until, next_page)
    if outcome.token is None:
        return _login_form(request, 401, username, "wrong", next_page=next_page)
    response = _redirect(_next_page(next_page))
    auth.remember(response, request, outcome.token)
    response.del_cookie(auth.LOGIN_COOKIE, path=LOGIN)
    return response


@coordinators_form
async def logout(request: web.Request, session: CoordinatorSession, form) -> web.StreamResponse:
    await auth.sign_out(request)
    response = _redirect(LOGIN)
    auth.forget(response)
    return response


# ---- cases ----------------------------------------------------------------------------------------

@coordinators_page
async def cases_page(request: web.Request, session: CoordinatorSession) -> web.StreamResponse:
    tab = request.query.get("status", "new")
    if tab not in TABS:
        tab = "new"
    query = request.query.get("q", "").strip()
    repository = request.config_dict[REPOSITORY]
    lists = {name: await asyncio.to_thread(handed_off, repository, name) for name in TABS}
    shown = search(lists[tab], query, viewer_locale(request, session)) if query else lists[tab]
    return show(request, "dashboard/cases.html.j2", session, tab=tab, query=query, cases=shown,
                counts={name: len(found) for name, found in lists.items()})


async def _case_or_none(request: web.Request):
    try:
        return await asyncio.to_thread(handed_off_case, request.config_dict[REPOSITORY], int(request.match_info["id"]))
    except CaseGone:
        return None


@coordinators_page
async def case_page(request: web.Request, session: CoordinatorSession) -> web.StreamResponse:
    return await _case_view(request, session)


async def _case_view(request: web.Request, session: CoordinatorSession, status: int = 200,
                     problem: str | None = None, draft: str = "") -> web.StreamResponse:
    case = await _case_or_none(request)
    if case is None:
        return missing(request, session, int(request.match_info["id"]))
    locale = viewer_locale(request, session)
    core = request.config_dict[CORE]
    deliveries = await asyncio.to_thread(
        lambda: [delivery_state(core, entry) for entry in (case.handoff or {}).get("replies", [])])
    return show(request, "dashboard/case.html.j2", session, status=status, case=case, deliveries=deliveries,
                report=case.report or {"overall": "no_dicom", "studies": [], "notes": [],
                                       "files": {"dicom": 0, "not_dicom": [], "unreadable": []}},
                report_json=json.dumps(case.report, ensure_ascii=False, indent=2) if case.report else "",
                summary=summary(case, locale), done=request.query.get("done"), problem=problem, draft=draft,
                longest_reply=LONGEST_REPLY)


@coordinators_form
async def claim_case(request: web.Request, session: CoordinatorSession, form) -> web.StreamResponse:
    case_id = int(request.match_info["id"])
    try:
        await asyncio.to_thread(claim, request.config_dict[REPOSITORY], case_id, session.coordinator.username)
    except CaseGone:
        return missing(request, session, case_id)
    except ClaimedByAnother:
        raise web.HTTPSeeOther(f"/coordinator/case/{case_id}?done=taken") from None
    raise web.HTTPSeeOther(f"/coordinator/case/{case_id}?done=claimed")


@coordinators_form
async def reply_to_patient(request: web.Request, session: CoordinatorSession, form) -> web.StreamResponse:
    case_id = int(request.match_info["id"])
    text = str(form.get("text", "")).strip()
    if not text or len(text) > LONGEST_REPLY:
        return await _case_view(request, session, status=400, problem="long" if text else "empty", draft=text)
    try:
        delivery = await asyncio.to_thread(answer, request.config_dict[CORE], case_id,
                                           session.coordinator.username, text, auth.now(request))
    except CaseGone:
        return missing(request, session, case_id)
    raise web.HTTPSeeOther(f"/coordinator/case/{case_id}?done={'replied' if delivery.delivered else 'kept'}")


@coordinators_page
async def report_download(request: web.Request, session: CoordinatorSession) -> web.StreamResponse:
    case = await _case_or_none(request)
    if case is None or case.report is None:
        return missing(request, session, int(request.match_info["id"]))
    return web.Response(body=json.dumps(case.report, ensure_ascii=False, indent=2).encode(),
                        content_type="application/json", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="scanpass-case-{case.id}.json"',
                                 "Cache-Control": "no-store"})


@coordinators_page
async def originals_download(request: web.Request, session: CoordinatorSession) -> web.StreamResponse:
    case = await _case_or_none(request)
    if case is None or not case.uploads:
        return missing(request, session, int(request.match_info["id"]))
    return await send_zip(request, case.uploads, f"scanpass-case-{case.id}-originals.zip")
