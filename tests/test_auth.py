"""Coordinator accounts and sign-in: the CLI, argon2id hashes, same answer for a wrong username or password,
lockout and unlock, sessions that expire, are bound to their browser and end at sign-out, CSRF tokens,
and no coordinator route for a visitor without a session."""
from __future__ import annotations

import io

import pytest

from bot import cli
from bot.web import auth
from storage import Repository, Settings
from storage.coordinators import Coordinators
from tests.dashboard_app import BROWSER, FAST, PASSWORD, add_account, csrf_of, dashboard_app, form_token, sign_in


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch):
    monkeypatch.setattr(auth, "PASSWORDS", FAST)


@pytest.fixture
async def dashboard(database_url, aiohttp_client, tmp_path):
    app, repository, clock = dashboard_app(database_url, tmp_path / "data")
    add_account(repository)
    client = await aiohttp_client(app)
    client.repository, client.clock = repository, clock
    return client


# ---- the command line ---------------------------------------------------------------------------------

@pytest.fixture
def environment(monkeypatch, tmp_path, database_url):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("COORDINATOR_LOCALE", "zh_Hans")
    monkeypatch.chdir(tmp_path)
    return Settings.from_env(env_file=None)


def typed(monkeypatch, *answers):
    answers = iter(answers)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))


def test_coordinator_add_list_remove(environment, monkeypatch, capsys):
    typed(monkeypatch, PASSWORD, PASSWORD)
    assert cli.main(["coordinator", "add", "li.wei"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["coordinator", "add", "anna", "--locale", "ru", "--password-stdin"]) == 0
    capsys.readouterr()
    assert cli.main(["coordinator", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["anna\tru", "li.wei\tzh_Hans"]   # default: COORDINATOR_LOCALE
    stored = Coordinators(Repository.from_settings(environment).open()).find("li.wei")
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    assert cli.main(["coordinator", "remove", "anna"]) == 0
    capsys.readouterr()
    cli.main(["coordinator", "list"])
    assert capsys.readouterr().out.splitlines() == ["li.wei\tzh_Hans"]


@pytest.mark.parametrize("argv,typed_passwords,error", [
    (["coordinator", "add", "li.wei"], (PASSWORD, PASSWORD + "!"), "scanpass: the passwords do not match; nothing was saved"),
    (["coordinator", "add", "li.wei"], ("short", "short"), "scanpass: the password is too short: use at least 12 characters"),
    (["coordinator", "add", "two words"], (), "scanpass: a username is 1 to 200 characters, without spaces or slashes"),
    (["coordinator", "add", "li.wei", "--locale", "xx"], (), "scanpass: --locale: no catalog for 'xx' (shipped: en, zh_Hans, ru, ar, es, fr)"),
    (["coordinator", "remove", "nobody"], (), "scanpass: no coordinator 'nobody'"),
])
def test_coordinator_commands_refuse_with_one_line(environment, monkeypatch, capsys, argv, typed_passwords, error):
    typed(monkeypatch, *typed_passwords)
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == error + "\n"
    assert Coordinators(Repository.from_settings(environment).open()).all() == []


def test_adding_an_existing_coordinator_is_refused(environment, monkeypatch, capsys):
    typed(monkeypatch, PASSWORD, PASSWORD, PASSWORD, PASSWORD)
    cli.main(["coordinator", "add", "li.wei"])
    assert cli.main(["coordinator", "add", "li.wei"]) == 2
    assert capsys.readouterr().err == "scanpass: coordinator 'li.wei' already exists\n"


# ---- signing in ---------------------------------------------------------------------------------------

async def test_a_good_sign_in_opens_the_dashboard_with_a_strict_http_only_cookie(dashboard):
    response = await sign_in(dashboard)
    assert response.status == 303 and response.headers["Location"] == "/coordinator"
    cookie = response.cookies[auth.SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/coordinator"
    assert not cookie["secure"]                                       # plain http on 127.0.0.1
    page = await dashboard.get("/coordinator", headers=BROWSER)
    assert page.status == 200 and "Signed in as li.wei" in await page.text()


async def test_the_session_cookie_is_secure_when_the_public_address_is_https(database_url, aiohttp_client, tmp_path):
    app, repository, _ = dashboard_app(database_url, tmp_path / "data", public_url="https://scanpass.example")
    add_account(repository)
    client = await aiohttp_client(app)
    page = await client.get("/coordinator/login", headers=BROWSER)
    form_cookie = page.cookies[auth.LOGIN_COOKIE]
    assert form_cookie["secure"]                      # so this plain-http client must hand it back itself
    response = await client.post("/coordinator/login", headers=BROWSER, allow_redirects=False,
                                 cookies={auth.LOGIN_COOKIE: form_cookie.value},
                                 data={"csrf": form_token(await page.text()), "username": "li.wei", "password": PASSWORD})
    assert response.cookies[auth.SESSION_COOKIE]["secure"]


async def test_only_a_hash_of_the_session_token_is_stored(dashboard):
    response = await sign_in(dashboard)
    token = response.cookies[auth.SESSION_COOKIE].value
    store = Coordinators(dashboard.repository)
    assert store.session(token) is None and store.session(auth.digest(token)).coordinator.username == "li.wei"


@pytest.mark.parametrize("username,password", [("li.wei", "wrong horse battery"), ("nobody", PASSWORD)])
async def test_a_wrong_username_or_password_gets_the_same_answer(dashboard, username, password):
    response = await sign_in(dashboard, username, password)
    assert response.status == 401
    text = await response.text()
    assert "Wrong username or password." in text and auth.SESSION_COOKIE not in response.cookies
    assert (await dashboard.get("/coordinator", headers=BROWSER, allow_redirects=False)).status == 303


async def test_five_failures_in_a_row_lock_the_account_for_fifteen_minutes(dashboard):
    for attempt in range(1, 5):
        response = await sign_in(dashboard, password=f"wrong password {attempt}")
        assert "Wrong username or password." in await response.text()
    response = await sign_in(dashboard, password="wrong password 5")
    assert response.status == 429
    assert "this account is locked for 15 minutes. Try again after 9:15\u202fAM UTC." in await response.text()
    dashboard.clock.advance(minutes=14, seconds=59)
    response = await sign_in(dashboard)                               # the right password, still locked
    assert response.status == 429 and auth.SESSION_COOKIE not in response.cookies
    dashboard.clock.advance(seconds=1)
    response = await sign_in(dashboard)
    assert response.status == 303 and auth.SESSION_COOKIE in response.cookies


async def test_a_good_sign_in_starts_the_count_again(dashboard):
    for attempt in range(4):
        await sign_in(dashboard, password="wrong password")
    assert (await sign_in(dashboard)).status == 303
    dashboard.session.cookie_jar.clear()                              # the next tries come from a new browser
    for attempt in range(4):
        response = await sign_in(dashboard, password="wrong password")
    assert response.status == 401


async def test_a_session_expires_eight_hours_after_sign_in(dashboard):
    await sign_in(dashboard)
    dashboard.clock.advance(hours=7, minutes=59)
    assert (await dashboard.get("/coordinator", headers=BROWSER)).status == 200
    dashboard.clock.advance(minutes=1)
    response = await dashboard.get("/coordinator", headers=BROWSER, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/coordinator/login")


@pytest.mark.parametrize("other", [{"User-Agent": "curl/8.5.0"}, {"Accept-Language": "ru"}])
async def test_the_cookie_replayed_from_another_browser_is_refused(dashboard, other):
    await sign_in(dashboard)
    elsewhere = {**BROWSER, **other}
    response = await dashboard.get("/coordinator", headers=elsewhere, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/coordinator/login")
    assert (await dashboard.get("/coordinator", headers=BROWSER)).status == 200   # the browser that signed in


async def test_signing_out_ends_the_session_for_good(dashboard):
    response = await sign_in(dashboard)
    token = response.cookies[auth.SESSION_COOKIE].value
    csrf = await csrf_of(dashboard)
    response = await dashboard.post("/coordinator/logout", data={"csrf": csrf}, headers=BROWSER, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/coordinator/login"
    dashboard.session.cookie_jar.update_cookies({auth.SESSION_COOKIE: token})   # the old cookie, kept by someone
    response = await dashboard.get("/coordinator", headers=BROWSER, allow_redirects=False)
    assert response.status == 303


async def test_after_sign_in_the_coordinator_lands_where_they_were_going(dashboard):
    first = await dashboard.get("/coordinator/case/7", headers=BROWSER, allow_redirects=False)
    assert first.headers["Location"] == "/coordinator/login?next=/coordinator/case/7"
    assert (await sign_in(dashboard, next_page="/coordinator/case/7")).headers["Location"] == "/coordinator/case/7"


@pytest.mark.parametrize("target", ["https://evil.example/coordinator", "//evil.example/coordinator", "/", "/coordinatorx"])
async def test_sign_in_never_sends_the_browser_off_the_dashboard(dashboard, target):
    assert (await sign_in(dashboard, next_page=target)).headers["Location"] == "/coordinator"


# ---- CSRF ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "", "forged-token-0123456789"])
async def test_a_form_without_the_session_csrf_token_is_refused(dashboard, token):
    await sign_in(dashboard)
    data = {} if token is None else {"csrf": token}
    response = await dashboard.post("/coordinator/logout", data=data, headers=BROWSER)
    assert response.status == 403
    assert "This form did not come from your current dashboard session." in await response.text()
    assert (await dashboard.get("/coordinator", headers=BROWSER)).status == 200  # still signed in


async def test_another_sessions_csrf_token_is_refused(dashboard, aiohttp_client):
    await sign_in(dashboard)
    mine = await csrf_of(dashboard)
    other = await aiohttp_client(dashboard.server)
    await sign_in(other)
    response = await other.post("/coordinator/logout", data={"csrf": mine}, headers=BROWSER)
    assert response.status == 403


async def test_the_sign_in_form_needs_its_own_token(dashboard):
    response = await dashboard.post("/coordinator/login", headers=BROWSER, allow_redirects=False,
                                    data={"username": "li.wei", "password": PASSWORD})
    assert response.status == 403 and auth.SESSION_COOKIE not in response.cookies


# ---- no coordinator page for anyone else -----------------------------------------------------------

def coordinator_routes(app):
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter", "")
        if path.startswith("/coordinator") and path != "/coordinator/login" and route.method != "HEAD":
            yield route.method, path.replace("{id}", "1")


async def test_a_visitor_without_a_session_sees_no_coordinator_page(dashboard):
    routes = list(coordinator_routes(dashboard.server.app))
    assert {("GET", "/coordinator"), ("GET", "/coordinator/case/1"), ("POST", "/coordinator/case/1/claim"),
            ("POST", "/coordinator/case/1/reply"), ("GET", "/coordinator/case/1/originals.zip"),
            ("GET", "/coordinator/case/1/report.json"), ("POST", "/coordinator/logout")} <= set(routes)
    for method, path in routes:
        response = await dashboard.request(method, path, headers=BROWSER, allow_redirects=False,
                                           data={"csrf": "x", "text": "hello"} if method == "POST" else None)
        if method == "GET":
            assert response.status == 303, path
            assert response.headers["Location"].startswith("/coordinator/login?next="), path
        else:
            assert response.status == 403, path
            assert "Only signed-in coordinators can do this." in await response.text()
