"""Fake cloud providers for link tests: one aiohttp app, over HTTPS on 127.0.0.1, that answers as
Dropbox, Google Drive, OneDrive, SharePoint, WeTransfer, Box and iCloud do (chosen by the Host
header), plus a plain file host and a hospital portal. No test reaches an outside host.

Point a `LinkFetcher` at it with the real provider URLs::

    async with running_providers() as providers:
        fetcher = LinkFetcher(limit_bytes, **providers.options)     # resolver, ssl, allowed
        downloaded = await fetcher.fetch(providers.links["dropbox"], folder)
        assert downloaded.path.read_bytes() == FILES[downloaded.name]

`providers.options` holds the three test hooks of `LinkFetcher`:
  resolver  maps every name in HOSTS (and `*.` names under WILDCARDS) to 127.0.0.1 and the
            server's port, names in `extra` to whatever address a test gives; any other name
            fails to resolve, so nothing leaves the machine;
  ssl       a client context trusting only this module's test CA (trustme), whose one certificate
            names every host below;
  allowed   {("127.0.0.1", port)}: the server's own address, the one loopback pair let through.

`providers.links` names a link per behaviour (see LINKS); `providers.requests` lists
(method, host, path with query) as the server saw them; `providers.loopback` is a second,
plain-HTTP server on another loopback port that counts its `hits` (links must never reach it).
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import socket
import ssl
import zipfile
from collections.abc import AsyncIterator
from urllib.parse import quote

import trustme
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _dicom_like(seed: int) -> bytes:
    """Not a real DICOM file: 128 bytes of preamble, "DICM", then bytes that differ per seed."""
    return b"\0" * 128 + b"DICM" + bytes((seed * 7 + i) % 251 for i in range(4000))


# The files the providers serve, by the name the patient would see.
FILES: dict[str, bytes] = {
    "ct-chest.zip": _zip({"CT/IM0001.dcm": _dicom_like(1), "CT/IM0002.dcm": _dicom_like(2)}),
    "scan-folder.zip": _zip({"scan-folder/IM0001.dcm": _dicom_like(3)}),
    "mri-brain.zip": _zip({"MR/IM0001.dcm": _dicom_like(4)}),
    "big-study.zip": _zip({f"CT/IM{n:04}.dcm": _dicom_like(n) for n in range(5, 9)}),
    "onedrive-ct.zip": _zip({"IM0001.dcm": _dicom_like(9)}),
    "sharepoint-mri.zip": _zip({"IM0001.dcm": _dicom_like(10)}),
    "wetransfer_ct_2024-05-01_1200.zip": _zip({"CT/IM0001.dcm": _dicom_like(11)}),
    "box-pet-ct.zip": _zip({"PET/IM0001.dcm": _dicom_like(12)}),
    "CT scan.zip": _zip({"IM0001.dcm": _dicom_like(13)}),
    "brain-mri.zip": _zip({"IM0001.dcm": _dicom_like(14)}),
    "chunked-ct.zip": _zip({"IM0001.dcm": _dicom_like(15)}),
    "IM0001.dcm": _dicom_like(16),
}
BIG_SIZE = 300_000  # /scans/big.bin and /scans/big-chunked.bin: more than the small limits tests use

HOSTS = (
    "www.dropbox.com", "dropbox.com", "drive.google.com", "docs.google.com", "drive.usercontent.google.com",
    "accounts.google.com", "1drv.ms", "onedrive.live.com", "api.onedrive.com", "public.bn.files.1drv.com",
    "we.tl", "wetransfer.com", "download.wetransfer.com", "app.box.com", "public.boxcloud.com",
    "www.icloud.com", "ckdatabasews.icloud.com", "cvws.icloud-content.com",
    "files.example", "pacs.hospital.example", "t.example",
)
WILDCARDS = ("dl.dropboxusercontent.com", "sharepoint.com")  # any host directly under these

DROPBOX_CONTENT = "uc5e1f0a2b.dl.dropboxusercontent.com"
ONEDRIVE_SHARE = "https://1drv.ms/u/s!AkTnqvRzr0hDgQx-2eB9a_Sc1Ct?e=Wk7p1c"
SHAREPOINT_SHARE = "https://contoso.sharepoint.com/:u:/g/personal/ann_contoso_com/EaBcDeFg1hIjK?e=Zx9y8w"
WETRANSFER = {"t-CtChest01": ("7f3a9b2c4d5e6f70", None, "a1b2c3"),      # link -> transfer id, recipient, hash
              "t-Recipient2": ("8a4b0c3d5e6f7081", "r9f8e7", "d4e5f6"),
              "t-Expired03": ("9b5c1d4e6f708192", None, "0a0b0c"),
              "t-Deleted04": ("ac6d2e5f708192a3", None, "0d0e0f")}
BOX_FILE_ID, BOX_FOLDER_ID = "1234567890", "987654321"
ICLOUD_GUID = "0a1B2c3D4e5F6g7H8i9J0kLmN"
VIRUS_SCAN_UUID = "3c4d5e6f-0a1b-4c2d-8e9f-a0b1c2d3e4f5"

# One link per behaviour, as a patient would paste it.
LINKS = {
    "dropbox": "https://www.dropbox.com/scl/fi/q7w8e9r0t1y2/ct-chest.zip?rlkey=k3j4h5g6f7&dl=0",
    "dropbox_old": "https://www.dropbox.com/s/a1s2d3f4g5h6/mri-brain.zip?dl=0",
    "dropbox_folder": "https://www.dropbox.com/scl/fo/z9x8c7v6b5n4/scan-folder?rlkey=p0o9i8u7&dl=0",
    "dropbox_gone": "https://www.dropbox.com/s/deleted00000/old.zip?dl=0",
    "drive_view": "https://drive.google.com/file/d/1SmAlLfIlEiD_0123456789/view?usp=sharing",
    "drive_open": "https://drive.google.com/open?id=1SmAlLfIlEiD_0123456789",
    "drive_uc": "https://docs.google.com/uc?id=1SmAlLfIlEiD_0123456789&export=download",
    "drive_big": "https://drive.google.com/file/d/1BiGfIlEiD_9876543210/view?usp=drive_link",
    "drive_private": "https://drive.google.com/file/d/1PrIvAtEfIlEiD_000000/view",
    "drive_folder": "https://drive.google.com/drive/folders/1FoLdErIdAbCdEf?usp=sharing",
    "onedrive": ONEDRIVE_SHARE,
    "sharepoint": SHAREPOINT_SHARE,
    "wetransfer": "https://we.tl/t-CtChest01",
    "wetransfer_recipient": "https://we.tl/t-Recipient2",
    "wetransfer_expired": "https://we.tl/t-Expired03",
    "wetransfer_deleted": "https://we.tl/t-Deleted04",
    "box": "https://app.box.com/s/4m7n2k9p1q8r3s6t",
    "box_folder": "https://app.box.com/s/folder5w3e2r1t0y",
    "icloud": f"https://www.icloud.com/iclouddrive/{ICLOUD_GUID}#CT_scan",
    "icloud_gone": "https://www.icloud.com/iclouddrive/0zZzZzZzZzZzZzZzZzZzZzZzZ#old",
    "short_dropbox": "https://t.example/AbC12",       # a short link to a Dropbox share page
    "short_drive_big": "https://t.example/DeF34",     # ... to a large Drive file's viewer page
    "direct": "https://files.example/scans/brain-mri.zip",
    "direct_dicom": "https://files.example/dicom/IM0001.dcm",
    "chunked": "https://files.example/scans/chunked-ct.zip",
    "big": "https://files.example/scans/big.bin",
    "big_chunked": "https://files.example/scans/big-chunked.bin",
    "html_as_octets": "https://files.example/scans/viewer.bin",
    "portal": "https://pacs.hospital.example/viewer?study=1.2.840.113619.2.55",
    "missing": "https://files.example/scans/missing.zip",
    "server_error": "https://files.example/scans/broken.zip",
    "slow": "https://files.example/scans/slow.zip",
    "five_redirects": "https://files.example/hops/5",
    "six_redirects": "https://files.example/hops/6",
    "to_loopback": "https://files.example/to/loopback",
    "to_metadata": "https://files.example/to/metadata",
    "to_intranet": "https://files.example/to/intranet",
    "to_ftp": "https://files.example/to/ftp",
}
SERVER = web.AppKey("server")  # the ProviderServer, for handlers that need its ports
INTRANET = "intranet.example"  # the test resolver answers 10.0.0.5 for it (see ProviderServer.resolver)

_CA = trustme.CA()
_CERT = _CA.issue_cert(*HOSTS, *(f"*.{domain}" for domain in WILDCARDS))


def client_ssl() -> ssl.SSLContext:
    """A client TLS context that trusts the test CA and nothing else (host names checked)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # not the system's store: loading it is slow, and not wanted
    _CA.configure_trust(context)
    return context


class MappedResolver(AbstractResolver):
    """A test DNS: names to (address, port) pairs; any other name fails, as an unknown name would."""

    def __init__(self, names: dict[str, tuple[str, int]], domains: dict[str, tuple[str, int]]) -> None:
        self.names, self.domains = names, domains

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        host = host.rstrip(".").lower()
        answer = self.names.get(host) or next(
            (pair for domain, pair in self.domains.items() if host.endswith("." + domain)), None)
        if answer is None:
            raise OSError(f"{host} is not in the test DNS")
        address, answer_port = answer
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [{"hostname": host, "host": address, "port": answer_port, "family": family, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        pass


# ---- the providers' answers ------------------------------------------------------------------------

def _file(name: str, *, disposition: bool = True) -> web.Response:
    headers = {"Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"} \
        if disposition else {}
    return web.Response(body=FILES[name], content_type="application/zip" if name.endswith(".zip")
                        else "application/octet-stream", headers=headers)


def _page(title: str, body: str = "", status: int = 200) -> web.Response:
    return web.Response(text=f"<!DOCTYPE html><html><head><title>{title}</title></head><body>{body}</body></html>",
                        content_type="text/html", status=status)


def _redirect(location: str, status: int = 302) -> web.Response:
    return web.Response(status=status, headers={"Location": location})


async def _dropbox(request: web.Request) -> web.Response:
    parts = request.path.strip("/").split("/")
    if parts[:2] == ["s", "deleted00000"]:
        return _page("Dropbox - Error", "This item was deleted", status=404)
    if parts[0] == "scl" and "rlkey" not in request.query:
        return _page("Dropbox - Error", status=404)
    if request.query.get("dl") != "1":
        return _page(f"Dropbox - {parts[-1]} - Simplify your life", "<div id='preview'></div>")
    name = parts[-1] if parts[1] == "fi" or parts[0] == "s" else f"{parts[-1]}.zip"  # a folder comes as a zip
    return _redirect(f"https://{DROPBOX_CONTENT}/cd/0/get/{quote(name)}/file?dl=1")


async def _dropbox_content(request: web.Request) -> web.Response:
    parts = request.path.strip("/").split("/")  # cd/0/get/<name>/file
    return _file(parts[3]) if len(parts) == 5 and parts[3] in FILES else web.Response(status=404)


_DRIVE = {"1SmAlLfIlEiD_0123456789": "mri-brain.zip", "1BiGfIlEiD_9876543210": "big-study.zip"}


async def _google_drive(request: web.Request) -> web.Response:
    if "/folders/" in request.path:
        return _page("Scans - Google Drive", "<div class='folder'>IM0001.dcm</div>")
    if request.path == "/uc":
        return _redirect(str(request.url.with_host("drive.usercontent.google.com").with_path("/download")
                             .with_port(None)), status=303)
    return _page("scan.zip - Google Drive", "<div class='viewer'></div>")  # the viewer page


_VIRUS_SCAN_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<div class="uc-main"><div id="uc-text"><p class="uc-warning-caption">Google Drive can't scan this file for viruses.</p>
<p class="uc-warning-subcaption"><span class="uc-name-size"><a href="/open?id={id}">big-study.zip</a> (1.2G)</span>
is too large for Google to scan for viruses. Would you still like to download this file?</p>
<form id="download-form" action="https://drive.usercontent.google.com/download" method="get">
<input type="submit" id="uc-download-link" class="goog-inline-block jfk-button jfk-button-action" value="Download anyway"/>
<input type="hidden" name="id" value="{id}"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="{uuid}"></form>
</div></div></body></html>"""


async def _drive_download(request: web.Request) -> web.Response:
    file_id = request.query.get("id", "")
    if request.query.get("export") != "download":
        return web.Response(status=400)
    if file_id.startswith("1PrIvAtE"):
        return _redirect(f"https://accounts.google.com/ServiceLogin?continue={quote(str(request.url))}")
    if file_id not in _DRIVE:
        return _page("Google Drive - 404", status=404)
    if _DRIVE[file_id] == "big-study.zip" and (request.query.get("confirm") != "t"
                                               or request.query.get("uuid") != VIRUS_SCAN_UUID):
        return web.Response(text=_VIRUS_SCAN_PAGE.format(id=file_id, uuid=VIRUS_SCAN_UUID), content_type="text/html")
    return _file(_DRIVE[file_id])


async def _google_accounts(request: web.Request) -> web.Response:
    return _page("Sign in - Google Accounts", "<form action='/signin/v2'><input name='identifier'></form>")


async def _onedrive_api(request: web.Request) -> web.Response:
    prefix, suffix = "/v1.0/shares/u!", "/root/content"
    if not (request.path.startswith(prefix) and request.path.endswith(suffix)):
        return web.json_response({"error": {"code": "invalidRequest"}}, status=400)
    token = request.path[len(prefix):-len(suffix)]
    try:
        shared = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except ValueError:
        shared = ""
    if shared != ONEDRIVE_SHARE or "=" in token:
        return web.json_response({"error": {"code": "itemNotFound"}}, status=404)
    return _redirect("https://public.bn.files.1drv.com/y4mAbCdEf/onedrive-ct.zip?download&psid=1")


async def _onedrive_files(request: web.Request) -> web.Response:
    return _file("onedrive-ct.zip")


async def _sharepoint(request: web.Request) -> web.Response:
    if request.path.startswith("/personal/ann_contoso_com/_layouts/15/download.aspx"):
        return _file("sharepoint-mri.zip")
    if request.query.get("download") == "1" and request.query.get("e") == "Zx9y8w":
        return _redirect("/personal/ann_contoso_com/_layouts/15/download.aspx?UniqueId=5f6a7b8c&e=Zx9y8w")
    return _page("sharepoint-mri.zip - OneDrive", "<div id='viewer'></div>")


async def _we_tl(request: web.Request) -> web.Response:
    link = request.path.strip("/")
    if link not in WETRANSFER:
        return _page("WeTransfer", status=404)
    transfer, recipient, security_hash = WETRANSFER[link]
    middle = f"{recipient}/" if recipient else ""
    return _redirect(f"https://wetransfer.com/downloads/{transfer}/{middle}{security_hash}", status=301)


async def _wetransfer(request: web.Request) -> web.Response:
    if request.method == "GET" and request.path.startswith("/downloads/"):
        return _page("WeTransfer", "<div id='__next'></div>")
    parts = request.path.strip("/").split("/")
    if request.method != "POST" or parts[:3] != ["api", "v4", "transfers"] or parts[4:] != ["download"]:
        return web.json_response({"message": "Not Found"}, status=404)
    transfer, body = parts[3], await request.json()
    known = {t: (r, h) for t, r, h in WETRANSFER.values()}
    if transfer not in known or transfer == WETRANSFER["t-Expired03"][0]:
        return web.json_response({"message": "No download access to this Transfer"}, status=404)
    if transfer == WETRANSFER["t-Deleted04"][0]:
        return web.json_response({"message": "This transfer has been deleted", "error": "transfer_deleted"})
    recipient, security_hash = known[transfer]
    if body.get("security_hash") != security_hash or body.get("intent") != "entire_transfer" \
            or body.get("recipient_id") != recipient:
        return web.json_response({"message": "Invalid security hash"}, status=403)
    return web.json_response({"direct_link": f"https://download.wetransfer.com/eugv/{transfer}/file?token=Zz9"})


async def _wetransfer_download(request: web.Request) -> web.Response:
    return _file("wetransfer_ct_2024-05-01_1200.zip")


_BOX_FILE_PAGE = ('<!DOCTYPE html><html><head><title>Box</title></head><body><script>Box.postStreamData = '
                  '{"/app-api/enduserapp/shared-item":{"itemID":%s,"itemType":"file","typedID":"f_%s",'
                  '"sharedName":"4m7n2k9p1q8r3s6t"}};</script></body></html>') % (BOX_FILE_ID, BOX_FILE_ID)
_BOX_FOLDER_PAGE = ('<!DOCTYPE html><html><head><title>Box</title></head><body><script>Box.postStreamData = '
                    '{"/app-api/enduserapp/shared-item":{"itemID":%s,"itemType":"folder","typedID":"d_%s"}};'
                    '</script></body></html>') % (BOX_FOLDER_ID, BOX_FOLDER_ID)


async def _box(request: web.Request) -> web.Response:
    if request.path == "/s/4m7n2k9p1q8r3s6t":
        return web.Response(text=_BOX_FILE_PAGE, content_type="text/html")
    if request.path == "/s/folder5w3e2r1t0y":
        return web.Response(text=_BOX_FOLDER_PAGE, content_type="text/html")
    if request.path == "/index.php" and request.query.get("rm") == "box_download_shared_file" \
            and request.query.get("shared_name") == "4m7n2k9p1q8r3s6t" \
            and request.query.get("file_id") == f"f_{BOX_FILE_ID}":
        return _redirect("https://public.boxcloud.com/d/1/b1!AbCdEf/download")
    return _page("Box | Not found", status=404)


async def _boxcloud(request: web.Request) -> web.Response:
    return _file("box-pet-ct.zip")


async def _icloud(request: web.Request) -> web.Response:
    return _page("iCloud Drive - Apple iCloud", "<div id='root'></div>")


async def _cloudkit(request: web.Request) -> web.Response:
    if request.method != "POST" or not request.path.endswith("/production/public/records/resolve"):
        return web.json_response({"reason": "bad request"}, status=400)
    guid = (await request.json())["shortGUIDs"][0]["value"]
    if guid != ICLOUD_GUID:
        return web.json_response({"results": [{"serverErrorCode": "NOT_FOUND", "reason": "not found"}]})
    basename = base64.b64encode(b"CT scan").decode()
    return web.json_response({"results": [{
        "share": {"fields": {"cloudkit.title": {"value": "CT scan", "type": "STRING"}}},
        "rootRecord": {"recordType": "DriveItem", "fields": {
            "encryptedBasename": {"value": basename, "type": "ENCRYPTED_BYTES"},
            "extension": {"value": "zip", "type": "STRING"},
            "fileContent": {"value": {"downloadURL": "https://cvws.icloud-content.com/B/AbCd1234/${f}?o=AkZ&v=1"}},
        }},
    }]})


async def _icloud_content(request: web.Request) -> web.Response:
    if request.path != "/B/AbCd1234/CT scan.zip":
        return web.Response(status=404)
    return _file("CT scan.zip", disposition=False)


async def _streamed(request: web.Request, data: bytes) -> web.StreamResponse:
    """No Content-Length: the body goes out chunked."""
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for start in range(0, len(data), 16_384):
        await response.write(data[start:start + 16_384])
    await response.write_eof()
    return response


async def _files(request: web.Request) -> web.StreamResponse:
    path, server = request.path, request.app[SERVER]
    if path == "/scans/brain-mri.zip":
        return _file("brain-mri.zip", disposition=False)
    if path == "/dicom/IM0001.dcm":
        return _file("IM0001.dcm", disposition=False)
    if path == "/scans/chunked-ct.zip":
        return await _streamed(request, FILES["chunked-ct.zip"])
    if path == "/scans/big.bin":
        return web.Response(body=b"\1" * BIG_SIZE, content_type="application/octet-stream")
    if path == "/scans/big-chunked.bin":
        return await _streamed(request, b"\1" * BIG_SIZE)
    if path == "/scans/viewer.bin":  # a web page sent as if it were a file
        return web.Response(body=b"\xef\xbb\xbf\n  <!doctype html><html><body>DICOM viewer</body></html>",
                            content_type="application/octet-stream")
    if path == "/scans/broken.zip":
        return web.Response(status=500, text="Internal Server Error")
    if path == "/scans/slow.zip":
        await asyncio.sleep(5)
        return _file("brain-mri.zip")
    if path.startswith("/hops/"):  # /hops/N redirects N more times, then the file
        left = int(path.rsplit("/", 1)[1])
        return _redirect(f"/hops/{left - 1}") if left else _file("brain-mri.zip")
    targets = {"/to/loopback": f"http://127.0.0.1:{server.loopback.port}/scan.zip",
               "/to/metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
               "/to/intranet": f"https://{INTRANET}/scan.zip",
               "/to/ftp": "ftp://files.example/scan.zip"}
    if path in targets:
        return _redirect(targets[path])
    return _page("404 Not Found", status=404)


_SHORT = {"/AbC12": LINKS["dropbox_old"], "/DeF34": LINKS["drive_big"]}


async def _short_links(request: web.Request) -> web.Response:
    return _redirect(_SHORT[request.path], status=301) if request.path in _SHORT else _page("Not found", status=404)


async def _portal(request: web.Request) -> web.Response:
    return _page("Hospital PACS - Image Viewer", "<div id='dicom-viewer'></div>")


PROVIDERS = {
    "www.dropbox.com": _dropbox, "dropbox.com": _dropbox, "dl.dropboxusercontent.com": _dropbox_content,
    "drive.google.com": _google_drive, "docs.google.com": _google_drive,
    "drive.usercontent.google.com": _drive_download, "accounts.google.com": _google_accounts,
    "1drv.ms": _portal, "onedrive.live.com": _portal,  # only reached if a link were fetched as it is
    "api.onedrive.com": _onedrive_api, "public.bn.files.1drv.com": _onedrive_files, "sharepoint.com": _sharepoint,
    "we.tl": _we_tl, "wetransfer.com": _wetransfer, "download.wetransfer.com": _wetransfer_download,
    "app.box.com": _box, "public.boxcloud.com": _boxcloud,
    "www.icloud.com": _icloud, "ckdatabasews.icloud.com": _cloudkit, "cvws.icloud-content.com": _icloud_content,
    "files.example": _files, "pacs.hospital.example": _portal, "t.example": _short_links,
}


class LoopbackServer:
    """A plain HTTP server on another loopback port that only counts the requests reaching it."""

    def __init__(self) -> None:
        self.hits = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _hit(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.Response(body=b"internal", content_type="application/octet-stream")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._hit)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


class ProviderServer:
    """The fake providers over HTTPS on 127.0.0.1 (see the module docstring)."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: list[tuple[str, str, str]] = []
        self.loopback = LoopbackServer()
        self.links = dict(LINKS)
        self._runner: web.AppRunner | None = None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        self.requests.append((request.method, host, request.path_qs))
        handler = PROVIDERS.get(host) or next(
            (PROVIDERS[domain] for domain in WILDCARDS if host.endswith("." + domain)), None)
        return await handler(request) if handler else web.Response(status=421, text="unknown host")

    async def start(self) -> ProviderServer:
        await self.loopback.start()
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        _CERT.configure_cert(server_context)
        app = web.Application()
        app[SERVER] = self
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=server_context).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
        await self.loopback.stop()

    def resolver(self, extra: dict[str, tuple[str, int]] | None = None) -> MappedResolver:
        """Every provider host to this server; INTRANET to 10.0.0.5; `extra` names as given."""
        here = ("127.0.0.1", self.port)
        names = {host: here for host in HOSTS} | {INTRANET: ("10.0.0.5", 443)} | (extra or {})
        return MappedResolver(names, {domain: here for domain in WILDCARDS})

    @property
    def allowed(self) -> frozenset[tuple[str, int]]:
        return frozenset({("127.0.0.1", self.port)})

    @property
    def options(self) -> dict:
        """The keyword arguments that point a LinkFetcher at this server."""
        return {"resolver": self.resolver(), "ssl": client_ssl(), "allowed": self.allowed}


@contextlib.asynccontextmanager
async def running_providers() -> AsyncIterator[ProviderServer]:
    server = ProviderServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
