"""Cloud links: a patient's share link turned into one file on disk, safely.

`LinkFetcher.fetch(url, folder)` resolves a share link of a cloud drive (Dropbox, Google
Drive, OneDrive and SharePoint, WeTransfer, Box, iCloud Drive; any other link is taken as a
direct file link) and streams the file into `folder` in chunks, under the size limit.

Every hop is checked before it is asked: http(s) only, never a loopback, private, link-local,
CGNAT, multicast, reserved or unspecified address. An address written in the URL is checked
there (aiohttp does not resolve those); a name is checked inside the resolver, on the very
addresses the connection is then made to, so a DNS answer cannot change in between. The one
exception is `allowed`: explicit (ip, port) pairs of a test's own loopback server.

Whatever goes wrong is a `LinkError` whose `reason` says what the patient should do; its
message never carries the link (links are patient data).
"""
from __future__ import annotations

import base64
import ipaddress
import json
import re
import secrets
import socket
import ssl as ssl_module
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import aiohttp
from aiohttp import hdrs
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from rules.errors import ScanPassError

CONNECT_TIMEOUT = 15.0      # seconds to resolve, connect and finish TLS
READ_TIMEOUT = 60.0         # seconds a server may stay silent while we read
MAX_REDIRECTS = 5           # per request; each hop is checked
MAX_PAGES = 2               # pages a link may lead on through (Google's virus-scan form, a short link's share page)
CHUNK = 256 * 1024          # bytes read and written at a time
SNIFF = 512                 # bytes looked at to tell a web page from a file
PAGE_LIMIT = 2 * 1024 * 1024  # most of a page or an API answer ever read
NAME_LIMIT = 120            # characters of a file name kept
USER_AGENT = "ScanPass link download"

_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")
REASONS = frozenset({"not_a_file", "not_shared", "refused", "too_large", "failed"})


class LinkError(ScanPassError):
    """A link that gave no file. `reason`:

    - "not_a_file": the link ends at a web page (a portal, a viewer, a folder) instead of a file;
    - "not_shared": the file needs a sign-in or permission, or is gone (401/403/404/410, expired);
    - "refused": not http(s), or it leads to a local or private network address;
    - "too_large": the file is over the size limit (nothing of it is kept);
    - "failed": network error, timeout, server error, too many redirects.
    """

    def __init__(self, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown link error reason {reason!r}")
        super().__init__(f"the link gave no file: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Downloaded:
    """A file fetched from a link: where it is on disk, and the name the patient knows it by."""

    path: Path
    name: str
    size: int


# ---- where a link may go ------------------------------------------------------------------

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _public(address: str) -> bool:
    """Whether an IP address is one on the public internet. An IPv6 address that carries an IPv4
    one (IPv4-mapped, 6to4, NAT64) is judged by the IPv4 address it leads to."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        nat64 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None
        ip = ip.ipv4_mapped or ip.sixtofour or nat64 or ip
    return ip.is_global and not (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified
                                 or ip.is_multicast or ip.is_reserved or ip in _CGNAT)


def _reachable(address: str, port: int, allowed: frozenset[tuple[str, int]]) -> bool:
    return _public(address) or (_normal(address), port) in allowed


def _normal(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def _numeric_host(host: str) -> bool:
    """A host the C resolver reads as an IPv4 address though it is no dotted quad: 2130706433, 0x7f.1, 127.1."""
    if not re.fullmatch(r"[0-9a-fA-FxX.]+", host):
        return False
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def _checked(url: URL, allowed: frozenset[tuple[str, int]]) -> URL:
    """The URL itself if a link may ask it: http(s), and an IP written in it is a public one."""
    host = (url.raw_host or "").rstrip(".")
    if url.scheme not in ("http", "https") or not host:
        raise LinkError("refused")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if _numeric_host(host):
            raise LinkError("refused") from None
        return url  # a name: its addresses are checked by _CheckedResolver
    if not _reachable(host, url.port or 0, allowed):
        raise LinkError("refused")
    return url


class _CheckedResolver(AbstractResolver):
    """A resolver that refuses a name if any address in its answer is one a link may not reach."""

    def __init__(self, inner: AbstractResolver, allowed: frozenset[tuple[str, int]]) -> None:
        self.inner, self.allowed = inner, allowed

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        answers = await self.inner.resolve(host, port, family)
        if not answers:
            raise OSError(f"no address for {host}")  # aiohttp makes it a DNS error: "failed"
        if not all(_reachable(a["host"], a["port"], self.allowed) for a in answers):
            raise LinkError("refused")
        return answers

    async def close(self) -> None:
        pass  # the inner resolver belongs to whoever made it


# ---- one fetch's requests -------------------------------------------------------------------

@dataclass(frozen=True)
class _Request:
    """One HTTP request on the way to the file."""

    url: URL
    method: str = "GET"
    json: object = None


@dataclass(frozen=True)
class _Page:
    """A web page (or an API answer) that came back instead of a file."""

    url: URL
    text: str


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NOT_SHARED = frozenset({401, 403, 404, 410})


class _Client:
    """One fetch's HTTP client: redirects followed by hand, every hop checked before it is asked."""

    def __init__(self, session: aiohttp.ClientSession, allowed: frozenset[tuple[str, int]]) -> None:
        self.session, self.allowed = session, allowed

    async def open(self, request: _Request) -> aiohttp.ClientResponse:
        """The response at the end of the redirects, a 2xx one (the caller releases it)."""
        method, url, body = request.method, request.url, request.json
        for _ in range(MAX_REDIRECTS + 1):
            response = await self.session.request(method, _checked(url, self.allowed), json=body,
                                                  allow_redirects=False)
            location = response.headers.get(hdrs.LOCATION)
            if response.status not in _REDIRECTS or not location:
                break
            response.release()
            try:
                url = url.join(URL(location))
            except ValueError:
                raise LinkError("failed") from None
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, body = "GET", None
        else:
            raise LinkError("failed")  # too many redirects
        if not 200 <= response.status < 300:
            response.release()
            raise LinkError("not_shared" if response.status in _NOT_SHARED else "failed")
        return response

    async def page(self, request: _Request) -> _Page:
        async with await self.open(request) as response:
            return _Page(response.url, await _text(response))

    async def landing(self, request: _Request) -> URL:
        """Where the request's redirects end (its body is not read)."""
        async with await self.open(request) as response:
            return response.url

    async def json(self, request: _Request) -> object:
        page = await self.page(request)
        try:
            return json.loads(page.text)
        except ValueError:
            raise LinkError("failed") from None


async def _read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes:
    body = bytearray()
    while len(body) < limit and (chunk := await response.content.read(limit - len(body))):
        body += chunk
    return bytes(body)


async def _text(response: aiohttp.ClientResponse, head: bytes = b"") -> str:
    body = head + await _read_at_most(response, PAGE_LIMIT - len(head))
    return body.decode(response.charset or "utf-8", errors="replace")


# ---- the providers: a share link becomes a download request ------------------------------------

Resolve = Callable[[_Client, URL], Awaitable[_Request]]


def _no_follow(page: _Page) -> _Request | None:
    return None


@dataclass(frozen=True)
class _Provider:
    """A cloud service known by its host: how its share link becomes a download request, and
    which page it may answer with that still leads on to the file."""

    hosts: frozenset[str]
    resolve: Resolve
    domains: tuple[str, ...] = ()         # also any host under these
    follow_page: Callable[[_Page], _Request | None] = field(default=_no_follow)

    def serves(self, host: str) -> bool:
        return host in self.hosts or any(host.endswith("." + domain) for domain in self.domains)


def _segments(url: URL) -> list[str]:
    return [part for part in url.path.split("/") if part]


async def _plain(client: _Client, url: URL) -> _Request:
    """Any other link: asked as it is."""
    return _Request(url)


async def _dropbox(client: _Client, url: URL) -> _Request:
    """Dropbox: the same link with dl=1 (a folder link then gives a zip of the folder)."""
    return _Request(url.update_query(dl="1"))


_DRIVE_DOWNLOAD = URL("https://drive.usercontent.google.com/download")


async def _google_drive(client: _Client, url: URL) -> _Request:
    """Google Drive: the file's id asked of Google's download host; a folder is not one file."""
    if url.host == "drive.usercontent.google.com":
        return _Request(url)
    parts = _segments(url)
    if "folders" in parts or (parts and parts[-1].endswith("folderview")):
        raise LinkError("not_a_file")
    match = re.search(r"/file/d/([\w-]+)", url.path)
    file_id = match[1] if match else url.query.get("id")
    if not file_id:
        return _Request(url)  # a Docs editor or other page: it answers with a page
    query = {"id": file_id, "export": "download"}
    if "resourcekey" in url.query:
        query["resourcekey"] = url.query["resourcekey"]
    return _Request(_DRIVE_DOWNLOAD.with_query(query))


class _DownloadForm(HTMLParser):
    """Google's virus-scan warning page: the action and hidden fields of its download form."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form" and attributes.get("id") == "download-form":
            self._inside, self.action = True, attributes.get("action")
        elif tag == "input" and self._inside and attributes.get("type") == "hidden" and attributes.get("name"):
            self.fields[attributes["name"]] = attributes.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def _google_virus_scan_form(page: _Page) -> _Request | None:
    """A large Drive file first answers with a warning page; its form, submitted, gives the file."""
    form = _DownloadForm()
    form.feed(page.text)
    if not form.action:
        return None
    try:
        return _Request(page.url.join(URL(form.action)).with_query(form.fields))
    except ValueError:
        return None


async def _onedrive(client: _Client, url: URL) -> _Request:
    """OneDrive: the shares API, given the link itself; it redirects to the file."""
    token = base64.urlsafe_b64encode(str(url).encode()).decode().rstrip("=")
    return _Request(URL(f"https://api.onedrive.com/v1.0/shares/u!{token}/root/content"))


async def _sharepoint(client: _Client, url: URL) -> _Request:
    """SharePoint (OneDrive for work): the same link with download=1."""
    return _Request(url.update_query(download="1"))


_WETRANSFER_DOWNLOADS = re.compile(r"/downloads/(?P<transfer>[\w-]+)/(?:(?P<recipient>[\w-]+)/)?(?P<hash>[\w-]+)/?$")


async def _wetransfer(client: _Client, url: URL) -> _Request:
    """WeTransfer: the transfer's page address gives its ids; the API answers with a link to its zip."""
    if url.host == "we.tl":
        url = await client.landing(_Request(url))
    match = _WETRANSFER_DOWNLOADS.search(url.path)
    if not match:
        raise LinkError("not_a_file")
    body = {"security_hash": match["hash"], "intent": "entire_transfer"}
    if match["recipient"]:
        body["recipient_id"] = match["recipient"]
    api = URL(f"https://wetransfer.com/api/v4/transfers/{match['transfer']}/download")
    answer = await client.json(_Request(api, "POST", body))
    link = answer.get("direct_link") if isinstance(answer, dict) else None
    if not isinstance(link, str):
        raise LinkError("not_shared")  # expired or deleted
    return _Request(URL(link))


_BOX_FILE = re.compile(r'"typedID"\s*:\s*"(f_\d+)"')
_BOX_ITEM = re.compile(r'"itemID"\s*:\s*"?(\d+)"?')
_BOX_ITEM_IS_FILE = re.compile(r'"itemType"\s*:\s*"file"')


async def _box(client: _Client, url: URL) -> _Request:
    """Box: the shared page names the file's id; Box's shared-download endpoint gives the file."""
    parts = _segments(url)
    if len(parts) < 2 or parts[0] != "s":
        return _Request(url)
    page = await client.page(_Request(url))
    file = _BOX_FILE.search(page.text)
    item = _BOX_ITEM.search(page.text) if _BOX_ITEM_IS_FILE.search(page.text) else None
    file_id = file[1] if file else f"f_{item[1]}" if item else None
    if file_id is None:
        raise LinkError("not_a_file")  # a folder share ("d_...") or no share at all
    query = {"rm": "box_download_shared_file", "shared_name": parts[1], "file_id": file_id}
    return _Request(url.origin().with_path("/index.php").with_query(query))


_ICLOUD_RESOLVE = URL("https://ckdatabasews.icloud.com/database/1/com.apple.cloudkit/production/public/records/resolve")


async def _icloud(client: _Client, url: URL) -> _Request:
    """iCloud Drive: CloudKit resolves the share's short GUID to the file's download URL."""
    parts = _segments(url)
    if len(parts) < 2 or parts[0] != "iclouddrive":
        return _Request(url)
    answer = await client.json(_Request(_ICLOUD_RESOLVE, "POST", {"shortGUIDs": [{"value": parts[1]}]}))
    try:
        result = answer["results"][0]
        fields = result["rootRecord"]["fields"]
    except (KeyError, IndexError, TypeError):
        raise LinkError("not_shared") from None  # unknown or withdrawn share
    try:
        download = fields["fileContent"]["value"]["downloadURL"]
    except (KeyError, TypeError):
        raise LinkError("not_a_file") from None  # a shared folder
    name = quote(_icloud_name(result) or _patient_name(url.fragment) or "file", safe="")
    try:
        return _Request(URL(str(download).replace("${f}", name), encoded=True))
    except ValueError:
        raise LinkError("failed") from None


def _icloud_name(result: dict) -> str | None:
    """The shared file's name: the share's title, else the record's base name, with its extension."""
    def value(record: object, key: str) -> object:
        try:
            return record["fields"][key]["value"]  # type: ignore[index]
        except (KeyError, TypeError):
            return None

    name = value(result.get("share"), "cloudkit.title")
    if not isinstance(name, str):
        encoded = value(result.get("rootRecord"), "encryptedBasename")
        try:
            name = base64.b64decode(str(encoded), validate=True).decode() if encoded else None
        except ValueError:
            name = None
    extension = value(result.get("rootRecord"), "extension")
    if name and isinstance(extension, str) and extension and not name.endswith("." + extension):
        name = f"{name}.{extension}"
    return _patient_name(name)


PROVIDERS: tuple[_Provider, ...] = (
    _Provider(frozenset({"dropbox.com", "www.dropbox.com"}), _dropbox),
    _Provider(frozenset({"drive.google.com", "docs.google.com", "drive.usercontent.google.com"}), _google_drive,
              follow_page=_google_virus_scan_form),
    _Provider(frozenset({"1drv.ms", "onedrive.live.com"}), _onedrive),
    _Provider(frozenset(), _sharepoint, domains=("sharepoint.com",)),
    _Provider(frozenset({"we.tl", "wetransfer.com", "www.wetransfer.com"}), _wetransfer),
    _Provider(frozenset({"app.box.com"}), _box, domains=("app.box.com",)),
    _Provider(frozenset({"www.icloud.com", "icloud.com"}), _icloud),
)
_PLAIN = _Provider(frozenset(), _plain)


def _provider(url: URL) -> _Provider:
    host = (url.host or "").lower().rstrip(".")
    return next((provider for provider in PROVIDERS if provider.serves(host)), _PLAIN)


# ---- what came back: a file, or a page ----------------------------------------------------------

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_HTML_START = re.compile(rb"(\xef\xbb\xbf)?\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|meta|title|script)\b",
                         re.IGNORECASE | re.DOTALL)
_SIGN_IN_HOSTS = frozenset({"accounts.google.com", "login.live.com", "login.microsoftonline.com",
                            "account.box.com", "idmsa.apple.com", "appleid.apple.com"})
_SIGN_IN_PATH = re.compile(r"/(login|signin|sign-in|servicelogin)\b", re.IGNORECASE)
_SIGN_IN_TITLE = re.compile(r"sign[ -]?in|log[ -]?in|access denied|need access|request access|permission"
                            r"|unauthori[sz]ed|forbidden", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _page_reason(page: _Page) -> str:
    """"not_shared" for a sign-in or no-permission page, else "not_a_file"."""
    title = _TITLE.search(page.text)
    if ((page.url.host or "") in _SIGN_IN_HOSTS or _SIGN_IN_PATH.search(page.url.path)
            or (title and _SIGN_IN_TITLE.search(unescape(title[1])))):
        return "not_shared"
    return "not_a_file"


def _patient_name(raw: str | None) -> str | None:
    """A file name fit to show: its last path part, no control characters, not hidden, not too long."""
    if not raw:
        return None
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".").strip()
    if len(name) > NAME_LIMIT:
        suffix = PurePosixPath(name).suffix
        suffix = suffix if len(suffix) <= 12 else ""
        name = name[:NAME_LIMIT - len(suffix)] + suffix
    return name or None


def _suffix(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,10}", suffix) else ""


def _served_name(response: aiohttp.ClientResponse) -> str:
    try:
        disposition = response.content_disposition
    except ValueError:
        disposition = None
    return (_patient_name(disposition.filename if disposition else None)
            or _patient_name(response.url.name) or "download")


async def _receive(response: aiohttp.ClientResponse, folder: Path, limit: int,
                   progress: Callable[[int, int | None], None] | None) -> Downloaded | _Page:
    """The response's body: a web page read into memory (bounded), or a file streamed into `folder`."""
    if response.content_type in _HTML_TYPES:
        return _Page(response.url, await _text(response))
    total = None if response.headers.get(hdrs.CONTENT_ENCODING) else response.content_length
    if total is not None and total > limit:
        raise LinkError("too_large")
    head = await _read_at_most(response, SNIFF)
    if _HTML_START.match(head):
        return _Page(response.url, await _text(response, head))
    name = _served_name(response)
    path = folder / (secrets.token_hex(12) + _suffix(name))
    size = 0
    try:
        with open(path, "xb") as out:
            chunk = head
            while chunk:
                size += len(chunk)
                if size > limit:
                    raise LinkError("too_large")
                out.write(chunk)
                if progress:
                    progress(size, total)
                chunk = await response.content.read(CHUNK)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Downloaded(path=path, name=name, size=size)


# ---- the fetcher ------------------------------------------------------------------------------

class LinkFetcher:
    """Downloads the file behind a patient's link, at most `limit_bytes` of it (MAX_UPLOAD_MB).

    `resolver` (the inner DNS resolver; aiohttp's default in production), `ssl` (a client TLS
    context; the system's trust store by default) and `allowed` ((ip, port) pairs let through
    although local: a test's own server) exist for tests; so do the timeouts.
    """

    def __init__(self, limit_bytes: int, *, resolver: AbstractResolver | None = None,
                 ssl: ssl_module.SSLContext | None = None, allowed: frozenset[tuple[str, int]] = frozenset(),
                 connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT) -> None:
        self.limit_bytes = limit_bytes
        self._resolver, self._ssl = resolver, ssl
        self._allowed = frozenset((_normal(host), int(port)) for host, port in allowed)
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=read_timeout)

    async def fetch(self, url: str, folder: Path,
                    progress: Callable[[int, int | None], None] | None = None) -> Downloaded:
        """The file behind `url`, saved in `folder`; `progress(done_bytes, total or None)` as it arrives."""
        text = url.strip()
        if not _SCHEME.match(text):
            text = "https://" + text  # "www.dropbox.com/s/..." as patients often paste it
        try:
            link = _checked(URL(text), self._allowed)
        except (ValueError, TypeError):
            raise LinkError("failed") from None
        folder.mkdir(parents=True, exist_ok=True)
        inner = self._resolver or aiohttp.DefaultResolver()
        connector = aiohttp.TCPConnector(resolver=_CheckedResolver(inner, self._allowed), use_dns_cache=False,
                                         ssl=self._ssl or True)
        try:
            async with aiohttp.ClientSession(connector=connector, timeout=self._timeout, trust_env=False,
                                             headers={hdrs.USER_AGENT: USER_AGENT,
                                                      hdrs.ACCEPT_ENCODING: "identity"}) as session:
                return await self._fetch(_Client(session, self._allowed), link, folder, progress)
        except LinkError:
            raise
        except (aiohttp.ClientError, OSError, UnicodeError):  # TimeoutError is an OSError
            raise LinkError("failed") from None
        finally:
            if self._resolver is None:
                await inner.close()

    async def _fetch(self, client: _Client, link: URL, folder: Path,
                     progress: Callable[[int, int | None], None] | None) -> Downloaded:
        provider = _provider(link)
        request = await provider.resolve(client, link)
        for _ in range(MAX_PAGES + 1):
            async with await client.open(request) as response:
                received = await _receive(response, folder, self.limit_bytes, progress)
            if isinstance(received, Downloaded):
                return received
            following = provider.follow_page(received)
            landed = _provider(received.url)
            if following is None and landed not in (provider, _PLAIN):  # a short link led to a share page
                provider, following = landed, await landed.resolve(client, received.url)
            if following is None:
                break
            request = following
        raise LinkError(_page_reason(received))
