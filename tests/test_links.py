"""Cloud links: every provider's real link shape against the fake providers in tests/providers.py
(HTTPS with a test CA; names resolved to the local server), the refusals, the size limit and the
failures. Plain test functions running `asyncio.run(...)`: pytest-asyncio is not a dependency.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from cases.links import Downloaded, LinkError, LinkFetcher, _patient_name
from tests.providers import BIG_SIZE, FILES, running_providers

LIMIT = 10 * 1024 * 1024


def fetch(tmp_path, link: str, limit: int = LIMIT, progress=None, extra_names=None, **options) -> Downloaded:
    """Fetch one of the providers' links (by its key in LINKS, or a URL) into tmp_path/"in"."""
    async def scenario():
        async with running_providers() as providers:
            hooks = providers.options | ({"resolver": providers.resolver(extra_names)} if extra_names else {})
            fetcher = LinkFetcher(limit, **(hooks | options))
            url = providers.links.get(link, link).format(port=providers.port, loopback=providers.loopback.port)
            try:
                return await fetcher.fetch(url, tmp_path / "in", progress)
            finally:
                assert providers.loopback.hits == 0, "a link reached a loopback server it was not allowed to"
    return asyncio.run(scenario())


def reason(tmp_path, link: str, **kwargs) -> str:
    with pytest.raises(LinkError) as raised:
        fetch(tmp_path, link, **kwargs)
    message = str(raised.value)
    assert "http" not in message and "example" not in message  # the message never carries the link
    assert not list((tmp_path / "in").glob("*")), "a failed download left a file behind"
    return raised.value.reason


@pytest.mark.parametrize("link, name", [
    ("dropbox", "ct-chest.zip"),
    ("dropbox_old", "mri-brain.zip"),
    ("dropbox_folder", "scan-folder.zip"),
    ("drive_view", "mri-brain.zip"),
    ("drive_open", "mri-brain.zip"),
    ("drive_uc", "mri-brain.zip"),
    ("drive_big", "big-study.zip"),
    ("onedrive", "onedrive-ct.zip"),
    ("sharepoint", "sharepoint-mri.zip"),
    ("wetransfer", "wetransfer_ct_2024-05-01_1200.zip"),
    ("wetransfer_recipient", "wetransfer_ct_2024-05-01_1200.zip"),
    ("box", "box-pet-ct.zip"),
    ("icloud", "CT scan.zip"),
    ("direct", "brain-mri.zip"),
    ("direct_dicom", "IM0001.dcm"),
    ("chunked", "chunked-ct.zip"),
    ("five_redirects", "brain-mri.zip"),
    ("short_dropbox", "mri-brain.zip"),
    ("short_drive_big", "big-study.zip"),
    ("www.dropbox.com/s/a1s2d3f4g5h6/mri-brain.zip?dl=0", "mri-brain.zip"),  # pasted without https://
])
def test_a_shared_file_arrives_with_its_bytes_and_name(tmp_path, link, name):
    downloaded = fetch(tmp_path, link)
    assert downloaded.name == name
    assert downloaded.path.read_bytes() == FILES[name]
    assert downloaded.size == len(FILES[name])
    assert downloaded.path.parent == tmp_path / "in"
    assert downloaded.path.suffix == "." + name.rsplit(".", 1)[1]
    assert [p.name for p in (tmp_path / "in").iterdir()] == [downloaded.path.name]


@pytest.mark.parametrize("link", ["drive_folder", "box_folder", "portal", "html_as_octets"])
def test_a_web_page_is_not_a_file(tmp_path, link):
    assert reason(tmp_path, link) == "not_a_file"


@pytest.mark.parametrize("link", ["drive_private", "dropbox_gone", "missing", "wetransfer_expired",
                                  "wetransfer_deleted", "icloud_gone"])
def test_a_private_or_gone_file_is_not_shared(tmp_path, link):
    assert reason(tmp_path, link) == "not_shared"


@pytest.mark.parametrize("link", [
    "to_loopback", "to_metadata", "to_intranet", "to_ftp",
    "http://[::1]/scan.zip", "http://[::ffff:127.0.0.1]/scan.zip", "http://2130706433/scan.zip",
    "http://0x7f.1/scan.zip", "http://127.1/scan.zip", "ftp://files.example/scan.zip", "file:///etc/passwd",
    "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/", "http://224.0.0.1/", "http://0.0.0.0/",
    "http://[fe80::1]/", "http://192.168.1.10/", "https://127.0.0.1:{loopback}/scan.zip",
    "http://[2002:7f00:1::]/", "http://[64:ff9b::a00:1]/",  # 6to4 and NAT64 forms of 127.0.0.1 and 10.0.0.1
])
def test_local_and_private_addresses_are_refused(tmp_path, link):
    assert reason(tmp_path, link) == "refused"


def test_a_name_whose_dns_answer_is_private_is_refused(tmp_path):
    assert reason(tmp_path, "https://scans.example/ct.zip", extra_names={"scans.example": ("192.168.1.10", 443)}) \
        == "refused"
    assert reason(tmp_path, "https://meta.example/", extra_names={"meta.example": ("169.254.169.254", 80)}) \
        == "refused"
    assert reason(tmp_path, "https://v6.example/", extra_names={"v6.example": ("::ffff:10.0.0.1", 443)}) \
        == "refused"


def test_the_production_resolver_is_checked_too(tmp_path):
    async def scenario():
        async with running_providers() as providers:
            fetcher = LinkFetcher(LIMIT)  # aiohttp's own resolver; "localhost" comes from the hosts file
            with pytest.raises(LinkError) as raised:
                await fetcher.fetch(f"http://localhost:{providers.loopback.port}/", tmp_path)
            assert raised.value.reason == "refused"
            assert providers.loopback.hits == 0
    asyncio.run(scenario())


def test_a_name_resolving_to_a_loopback_port_not_allowed_is_refused(tmp_path):
    async def scenario():
        async with running_providers() as providers:
            resolver = providers.resolver({"other.example": ("127.0.0.1", providers.loopback.port)})
            fetcher = LinkFetcher(LIMIT, **(providers.options | {"resolver": resolver}))
            with pytest.raises(LinkError) as raised:
                await fetcher.fetch("http://other.example/scan.zip", tmp_path)
            assert raised.value.reason == "refused" and providers.loopback.hits == 0
            allowing = LinkFetcher(LIMIT, **(providers.options | {
                "resolver": resolver, "allowed": {("127.0.0.1", providers.loopback.port)}}))
            downloaded = await allowing.fetch("http://other.example/scan.zip", tmp_path)  # only an exact pair
            assert downloaded.path.read_bytes() == b"internal" and providers.loopback.hits == 1
    asyncio.run(scenario())


def test_the_refused_redirect_is_never_asked(tmp_path):
    async def scenario():
        async with running_providers() as providers:
            fetcher = LinkFetcher(LIMIT, **providers.options)
            for link in ("to_loopback", "to_intranet", "to_metadata"):
                with pytest.raises(LinkError):
                    await fetcher.fetch(providers.links[link], tmp_path)
            hosts = {host for _, host, _ in providers.requests}
            assert hosts == {"files.example"}, hosts
            assert providers.loopback.hits == 0
    asyncio.run(scenario())


def test_more_than_five_redirects_fail(tmp_path):
    assert reason(tmp_path, "six_redirects") == "failed"


def test_server_errors_and_unknown_names_fail(tmp_path):
    assert reason(tmp_path, "server_error") == "failed"
    assert reason(tmp_path, "https://unknown-host.example/scan.zip") == "failed"


def test_a_silent_server_times_out(tmp_path):
    started = time.monotonic()
    assert reason(tmp_path, "slow", read_timeout=0.3, connect_timeout=0.3) == "failed"
    assert time.monotonic() - started < 2


def test_a_declared_length_over_the_limit_is_refused_before_reading(tmp_path):
    calls = []
    assert reason(tmp_path, "big", limit=100_000, progress=lambda done, total: calls.append(done)) == "too_large"
    assert calls == []


def test_a_chunked_body_over_the_limit_stops_there(tmp_path):
    calls = []
    assert reason(tmp_path, "big_chunked", limit=100_000,
                  progress=lambda done, total: calls.append((done, total))) == "too_large"
    assert calls and all(total is None for _, total in calls)
    assert calls[-1][0] <= 100_000 < BIG_SIZE


def test_a_file_exactly_at_the_limit_arrives(tmp_path):
    assert fetch(tmp_path, "big", limit=BIG_SIZE).size == BIG_SIZE
    assert fetch(tmp_path, "big_chunked", limit=BIG_SIZE).size == BIG_SIZE


def test_progress_counts_up_to_the_size(tmp_path):
    calls = []
    downloaded = fetch(tmp_path, "big", progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (BIG_SIZE, BIG_SIZE) == (downloaded.size, downloaded.size)
    assert [done for done, _ in calls] == sorted({done for done, _ in calls})


def test_a_malformed_link_fails_without_a_file(tmp_path):
    assert reason(tmp_path, "http://[::1") == "failed"
    assert reason(tmp_path, "not a link") == "failed"
    assert reason(tmp_path, "javascript:alert(1)") == "refused"


def test_link_error_knows_only_its_reasons():
    assert LinkError("too_large").reason == "too_large"
    with pytest.raises(ValueError):
        LinkError("because")


@pytest.mark.parametrize("raw, name", [
    ("../../etc/passwd", "passwd"), ("C:\\scans\\ct.zip", "ct.zip"), (".hidden.zip", "hidden.zip"),
    ("ct\x00\x1b[31m.zip", "ct[31m.zip"), ("", None), ("..", None), ("x" * 300 + ".zip", "x" * 116 + ".zip"),
])
def test_served_names_are_sanitised(raw, name):
    assert _patient_name(raw) == name
