"""storage/: settings, migrations, and the repository on SQLite and PostgreSQL.

PostgreSQL comes from SCANPASS_TEST_DATABASE_URL (default: the local `test` database). Each test
gets a schema of its own (created here, put first on the connection's search_path, dropped after),
so parallel xdist workers never see each other's tables. Unreachable: those tests skip, saying why.
"""
from __future__ import annotations

import hashlib
import io
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from dialogs.case import Case, Upload
from storage import (ConfigurationError, ConsentRequired, NestedStep, Repository, Settings, StorageError,
                     UploadTooLarge, make_engine, migrate)
from storage.models import metadata
from storage.schema import alembic_config

MB = 1024 * 1024


# ---- databases -----------------------------------------------------------------------------

@pytest.fixture
def open_repository(database_url, tmp_path):
    """Opens Repositories on the test database (as many as a test wants: each is a "process"
    or a "restart"); closes them all afterwards."""
    opened = []

    def open_(url: str = database_url, data_dir: Path = tmp_path / "data", **options) -> Repository:
        repository = Repository(url, data_dir, **options).open()
        opened.append(repository)
        return repository

    yield open_
    for repository in opened:
        repository.close()


@pytest.fixture
def repository(open_repository):
    return open_repository()


def consented(repository: Repository, chat: str, **answers) -> Case:
    with repository.step(chat) as case:
        case.consent, case.state = True, "direction"
        case.answers.update(answers)
    return case


# ---- schema ----------------------------------------------------------------------------------

def test_models_and_migrations_agree(database_url):
    migrate(database_url)
    migrate(database_url)                       # a second run is a no-op
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
            assert context.get_current_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
    finally:
        engine.dispose()


def test_migrations_have_one_head_and_live_in_the_package():
    scripts = ScriptDirectory.from_config(alembic_config())
    assert len(scripts.get_heads()) == 1
    assert Path(scripts.dir).is_relative_to(Path(__file__).parents[1] / "storage")


# ---- steps -----------------------------------------------------------------------------------

def test_step_is_saved_and_survives_a_restart(open_repository):
    first = open_repository()
    with first.step("telegram:1") as case:
        assert case.state == "language" and case.answers == {}
        case.locale = "ru"
        case.consent, case.state = True, "area"
        case.answers.update(direction="inbound", condition="oncology")
        case.history += ["language", "consent", "direction", "condition"]
        case.report = {"verdict": "ok", "studies": [1, 2]}
        case.handoff = {"summary": "x"}
        case.status = "checked"
    first.close()

    restarted = open_repository()
    loaded = restarted.load("telegram:1")
    assert loaded == Case(chat="telegram:1", id=case.id, locale="ru", state="area", consent=True,
                          answers={"direction": "inbound", "condition": "oncology"},
                          history=["language", "consent", "direction", "condition"],
                          report={"verdict": "ok", "studies": [1, 2]}, handoff={"summary": "x"}, status="checked")
    assert restarted.get(case.id) == loaded
    with restarted.step("telegram:1") as again:
        assert again == loaded
        again.report, again.handoff = None, None
    assert restarted.load("telegram:1").report is None
    assert restarted.load("telegram:2") is None
    assert restarted.get(10_000) is None


def test_an_exception_inside_a_step_saves_nothing(repository):
    consented(repository, "web:a", visit="2025-01-01")
    with pytest.raises(RuntimeError), repository.step("web:a") as case:
        case.state = "files"
        case.answers["visit"] = "2031-01-01"
        stored = repository.store_upload(case, io.BytesIO(b"DICM"), "a.dcm")
        case.uploads.append(stored)
        raise RuntimeError("boom")
    after = repository.load("web:a")
    assert after.state == "direction" and after.answers == {"visit": "2025-01-01"} and after.uploads == []
    assert not Path(stored.path).exists()

    with pytest.raises(RuntimeError), repository.step("web:new") as case:
        case.locale = "zh"
        raise RuntimeError("boom")
    assert repository.load("web:new") is None


def test_before_consent_only_the_language_and_state_are_kept(repository):
    with repository.step("telegram:7") as case:
        case.locale, case.state = "ar", "consent"
        case.answers["direction"] = "inbound"
        case.history.append("language")
        case.report = {"x": 1}
        case.uploads.append(Upload(path="/elsewhere/a.dcm", name="a.dcm", size=1, sha256="0" * 64))
    kept = repository.load("telegram:7")
    assert kept == Case(chat="telegram:7", id=kept.id, locale="ar", state="consent")
    with pytest.raises(ConsentRequired):
        repository.store_upload(kept, io.BytesIO(b"x"), "a.dcm")

    consented(repository, "telegram:7", direction="inbound")
    assert repository.load("telegram:7").answers == {"direction": "inbound"}

    with repository.step("telegram:7") as case:                   # consent withdrawn: back to nothing
        case.consent = False
    assert repository.load("telegram:7").answers == {}


def test_two_threads_stepping_one_chat_lose_no_update(open_repository):
    # Two Repositories on one database stand for two processes (each has its own in-process
    # locks, so only the database lock keeps them apart); the third thread shares one of them.
    first, second = open_repository(), open_repository()
    consented(first, "telegram:42", counter=0)
    errors = []

    def count(repository: Repository, times: int) -> None:
        try:
            for _ in range(times):
                with repository.step("telegram:42") as case:
                    case.answers["counter"] += 1
        except Exception as error:  # noqa: BLE001 — reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=count, args=(first, 50)), threading.Thread(target=count, args=(second, 50)),
               threading.Thread(target=count, args=(first, 20))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert first.load("telegram:42").answers["counter"] == 120


def test_concurrent_first_steps_of_a_new_chat_make_one_case(open_repository):
    repositories = [open_repository() for _ in range(4)]
    barrier = threading.Barrier(len(repositories))
    errors = []

    def first_step(repository: Repository) -> None:
        try:
            barrier.wait()
            with repository.step("web:fresh") as case:
                case.consent = True
                case.answers["hits"] = case.answers.get("hits", 0) + 1
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=first_step, args=(r,)) for r in repositories]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert repositories[0].load("web:fresh").answers == {"hits": 4}
    assert [c.chat for c in repositories[0].cases()] == ["web:fresh"]


def test_a_nested_step_is_refused_not_deadlocked(repository):
    for nested in (lambda: repository.step("cli:local"), lambda: repository.step("cli:other")):
        with repository.step("cli:local"), pytest.raises(NestedStep), nested():
            pass
    with repository.step("cli:local") as case, pytest.raises(NestedStep):
        repository.delete("cli:local")
    assert repository.load("cli:local") == case        # the outer steps still committed
    assert repository.delete("cli:local") is True


def test_cases_lists_newest_first_and_filters_by_status(repository):
    for number, status in enumerate(["open", "checked", "open"]):
        with repository.step(f"web:{number}") as case:
            case.consent, case.status = True, status
    assert [c.chat for c in repository.cases()] == ["web:2", "web:1", "web:0"]
    assert [c.chat for c in repository.cases(status="open", limit=1)] == ["web:2"]


def test_a_closed_repository_says_so():
    with pytest.raises(StorageError, match="not open"):
        Repository("sqlite://", Path("unused")).load("x")


# ---- uploads -------------------------------------------------------------------------------

def test_uploads_stream_to_the_case_folder_with_size_and_sha256(repository):
    content = os.urandom(3 * 1024 * 1024 + 17)
    with repository.step("telegram:5") as case:
        case.consent = True
        folder = repository.upload_dir(case)
        dicom = repository.store_upload(case, io.BytesIO(content), "../../etc/Scan 01.DCM")
        odd = repository.store_upload(case, io.BytesIO(b""), "photo.jpeg;rm -rf")
        case.uploads += [dicom, odd]
    assert folder == repository.data_dir / "uploads" / str(case.id) and folder.is_dir()
    assert Path(dicom.path).parent == folder and Path(odd.path).parent == folder
    assert Path(dicom.path).suffix == ".dcm" and "Scan" not in dicom.path
    assert Path(odd.path).suffix == ""
    assert (dicom.name, dicom.size, dicom.sha256) == ("../../etc/Scan 01.DCM", len(content),
                                                     hashlib.sha256(content).hexdigest())
    assert Path(dicom.path).read_bytes() == content
    assert (odd.size, odd.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert repository.load("telegram:5").uploads == [dicom, odd]

    with repository.step("telegram:5") as case:                 # dropped from the case: file goes too
        case.uploads = [u for u in case.uploads if u.size]
    assert repository.load("telegram:5").uploads == [dicom]
    assert not Path(odd.path).exists() and Path(dicom.path).exists()


def test_an_upload_over_the_limit_raises_and_leaves_no_file(open_repository):
    repository = open_repository(max_upload_mb=1)
    with repository.step("telegram:6") as case:
        case.consent = True
        fits = repository.store_upload(case, io.BytesIO(b"x" * 1024 * 1024), "fits.zip")
        with pytest.raises(UploadTooLarge):
            repository.store_upload(case, io.BytesIO(b"x" * (1024 * 1024 + 1)), "big.zip")
    assert [p.name for p in repository.upload_dir(case).iterdir()] == [Path(fits.path).name]


def test_upload_paths_are_stored_relative_to_the_data_folder(open_repository, tmp_path, database_url):
    repository = open_repository()
    with repository.step("web:move") as case:
        case.consent = True
        case.uploads.append(repository.store_upload(case, io.BytesIO(b"abc"), "a.dcm"))
    repository.close()
    (tmp_path / "data").rename(tmp_path / "moved")
    moved = open_repository(data_dir=tmp_path / "moved")
    [upload] = moved.load("web:move").uploads
    assert Path(upload.path).read_bytes() == b"abc"


# ---- erasing -------------------------------------------------------------------------------

def test_delete_erases_rows_and_files(repository, database_url):
    with repository.step("telegram:9") as case:
        case.consent = True
        case.uploads.append(repository.store_upload(case, io.BytesIO(b"abc"), "a.dcm"))
        case.report, case.handoff = {"r": 1}, {"h": 1}
    consented(repository, "telegram:10")
    folder = repository.upload_dir(case)

    assert repository.delete("telegram:9") is True
    assert repository.load("telegram:9") is None and not folder.exists()
    assert repository.delete("telegram:9") is False
    assert repository.load("telegram:10") is not None
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            for table in ("uploads", "reports", "handoffs"):
                assert connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 0
    finally:
        engine.dispose()


def test_purge_erases_only_cases_older_than_the_retention(repository, database_url):
    for chat in ("web:old", "web:recent"):
        with repository.step(chat) as case:
            case.consent = True
            case.uploads.append(repository.store_upload(case, io.BytesIO(chat.encode()), "a.dcm"))
    old_folder = repository.upload_dir(repository.load("web:old"))
    recent_folder = repository.upload_dir(repository.load("web:recent"))
    orphan = repository.data_dir / "uploads" / "999999"
    orphan.mkdir()
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE cases SET updated_at = :t WHERE chat = 'web:old'"),
                               {"t": now - timedelta(days=31)})
    finally:
        engine.dispose()
    os.utime(orphan, (0, 0))

    assert repository.purge(30, now=now) == 1
    assert repository.load("web:old") is None and not old_folder.exists() and not orphan.exists()
    assert repository.load("web:recent") is not None and recent_folder.exists()
    assert repository.purge(30, now=now) == 0
    assert repository.purge(30, now=now + timedelta(days=31)) == 1
    assert repository.cases() == []


# ---- settings ------------------------------------------------------------------------------

def test_settings_defaults_and_environment(tmp_path):
    settings = Settings.from_env({}, env_file=None)
    assert settings == Settings(data_dir=Path("data"), database_url="sqlite:///data/scanpass.db",
                                retention_days=30, max_upload_mb=2048)
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "RETENTION_DAYS": "7", "MAX_UPLOAD_MB": "5"},
                                 env_file=None)
    assert settings.database_url == f"sqlite:///{tmp_path}/scanpass.db"
    assert (settings.retention_days, settings.max_upload_bytes) == (7, 5 * 1024 * 1024)
    with pytest.raises(ConfigurationError, match="RETENTION_DAYS"):
        Settings.from_env({"RETENTION_DAYS": "a month"}, env_file=None)


def test_settings_read_a_dotenv_file_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# local\nexport DATABASE_URL='postgresql+psycopg://db/scanpass'\n"
                        "RETENTION_DAYS = 14\n\nMAX_UPLOAD_MB=100\n")
    settings = Settings.from_env({"MAX_UPLOAD_MB": "200"}, env_file=env_file)
    assert (settings.database_url, settings.retention_days, settings.max_upload_mb) == (
        "postgresql+psycopg://db/scanpass", 14, 200)
    assert Settings.from_env({}, env_file=tmp_path / "missing.env") == Settings()
    env_file.write_text("not a setting\n")
    with pytest.raises(ConfigurationError, match=".env:1"):
        Settings.from_env({}, env_file=env_file)


def test_a_new_setting_is_one_field():
    def chat_ids(text: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in text.split(",") if part.strip())

    @dataclass(frozen=True)
    class Wider(Settings):
        telegram_bot_token: str | None = None
        telegram_local_mode: bool = False
        http_port: int = 8080
        coordinator_chat_ids: tuple[str, ...] = field(default=(), metadata={"parse": chat_ids})

    wider = Wider.from_env({"TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_LOCAL_MODE": "1",
                            "COORDINATOR_CHAT_IDS": "12, 34"}, env_file=None)
    assert (wider.telegram_bot_token, wider.telegram_local_mode, wider.http_port,
            wider.coordinator_chat_ids) == ("123:abc", True, 8080, ("12", "34"))
    assert Wider.from_env({}, env_file=None).telegram_bot_token is None
    with pytest.raises(ConfigurationError, match="TELEGRAM_LOCAL_MODE"):
        Wider.from_env({"TELEGRAM_LOCAL_MODE": "maybe"}, env_file=None)


# ---- uploads on their way in (storage.incoming) ------------------------------------------------------

def test_delete_and_purge_erase_incoming_uploads_and_their_partial_files(repository):
    from storage.incoming import IncomingUploads
    store = IncomingUploads(repository)
    for chat, upload_id in (("web:" + "a" * 32, "a" * 32), ("web:" + "b" * 32, "b" * 32)):
        consented(repository, chat)
        store.create(upload_id, chat, "chat", "Jane Doe MRI.zip", 10)
        repository.incoming_part(upload_id).parent.mkdir(parents=True, exist_ok=True)
        repository.incoming_part(upload_id).write_bytes(b"12345")
    assert repository.delete("web:" + "a" * 32)
    assert store.get("a" * 32) is None and not repository.incoming_part("a" * 32).exists()
    assert repository.purge(0, now=datetime.now(UTC) + timedelta(days=1)) == 1
    assert store.get("b" * 32) is None and not repository.incoming_part("b" * 32).exists()


def test_the_sweep_forgets_old_uploads_nobody_writes(repository):
    from storage.incoming import IncomingUploads
    store = IncomingUploads(repository)
    old = datetime.now(UTC) - timedelta(days=2)
    store.create("c" * 32, "web:" + "c" * 32, "chat", "a.dcm", 10, now=old)       # a visitor without a case
    store.create("d" * 32, "web:" + "c" * 32, "chat", "b.dcm", 10, now=old)
    store.create("e" * 32, "web:" + "c" * 32, "chat", "c.dcm", 10)                 # recent
    assert store.take("d" * 32, "writer") is not None                             # being written
    assert store.forgotten(timedelta(days=1)) == ["c" * 32]


def test_store_upload_honours_the_case_quota_and_leaves_no_file(open_repository, tmp_path):
    from storage import CaseFull
    from storage.quota import CaseLimits
    repository = open_repository(limits=CaseLimits(max_mb=1, max_files=2))
    case = consented(repository, "telegram:1")
    with repository.step("telegram:1") as case:
        case.uploads.append(repository.store_upload(case, io.BytesIO(b"a" * (MB - 10)), "a.dcm"))
    with repository.step("telegram:1") as case:
        with pytest.raises(CaseFull) as over:
            repository.store_upload(case, io.BytesIO(b"b" * 11), "b.dcm")
        assert over.value.params == {"what": "bytes", "limit": 1}
        case.uploads.append(repository.store_upload(case, io.BytesIO(b"b" * 10), "b.dcm"))   # to the byte
    with repository.step("telegram:1") as case:
        with pytest.raises(CaseFull) as full:
            repository.store_upload(case, io.BytesIO(b""), "c.dcm")
        assert full.value.params == {"what": "files", "limit": 2}
    assert len(list((tmp_path / "data" / "uploads").rglob("*.dcm"))) == 2
