"""Settings read from the environment (and a `.env` file in the current folder).

Each field of `Settings` is read from the environment variable named like the
field in upper case (`data_dir` ← `DATA_DIR`). Adding a setting is one line:
a field with its default; the type annotation decides how the text is parsed
(str, int, bool, Path, or `X | None` of those). Any other type names its parser:
`field(default=(), metadata={"parse": lambda text: tuple(text.split(","))})`.
A field whose default depends on others (like `database_url`) gets it in `__post_init__`.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType

from storage.errors import ConfigurationError

ENV_FILE = Path(".env")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str = ""            # empty: sqlite:///<data_dir>/scanpass.db
    retention_days: int = 30
    max_upload_mb: int = 2048
    max_case_mb: int = 4096           # all of a case's files together, stored and on their way in
    max_case_files: int = 5000        # files in one case, stored and on their way in
    secret_key: str | None = None     # signs cookies, the same on every instance; unset: made once in DATA_DIR
    coordinator_locale: str = "en"    # language of handoff summaries
    coordinator_chat_ids: tuple[int, ...] = field(default=(), metadata={"parse": lambda text: _chat_ids(text)})
    telegram_bot_token: str | None = None          # without it no Telegram channel starts
    telegram_base_url: str | None = None           # another Bot API server (a local one, or a test double)
    telegram_base_file_url: str | None = None
    telegram_webhook_url: str | None = None        # webhook mode; polling when unset
    telegram_webhook_secret: str | None = None
    telegram_local_mode: bool = False              # TELEGRAM_BASE_URL is a local Bot API server (files up to 2,000 MB)
    telegram_messages_per_second: int = 30         # the bot's overall send rate (Telegram's flood limit)
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str = ""              # the web page's public address, for upload links; empty: http://HTTP_HOST:HTTP_PORT
    http_read_timeout: int = 75       # seconds a client may take to send a request's headers, or pause in a body

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'scanpass.db'}")
        if not self.public_url:
            object.__setattr__(self, "public_url", f"http://{self.http_host}:{self.http_port}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ,
                 env_file: Path | None = ENV_FILE) -> Settings:
        """Settings from `environ`, falling back to `env_file` (if it exists), then to defaults."""
        values = dict(read_env_file(env_file)) if env_file is not None else {}
        values.update(environ)
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):
            text = values.get(f.name.upper())
            if text is None or text.strip() == "":
                continue
            kwargs[f.name] = _parse(f.name.upper(), text.strip(), f.metadata.get("parse", hints[f.name]))
        return cls(**kwargs)

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    def __repr__(self) -> str:       # the secrets stay out of tracebacks and logs
        hidden = {"secret_key", "telegram_bot_token", "telegram_webhook_secret"}
        shown = ", ".join(f"{f.name}={'***' if f.name in hidden and getattr(self, f.name) else repr(getattr(self, f.name))}"
                          for f in dataclasses.fields(self))
        return f"Settings({shown})"


def _chat_ids(text: str) -> tuple[int, ...]:
    """COORDINATOR_CHAT_IDS: comma-separated Telegram chat ids (group ids are negative)."""
    return tuple(int(part) for part in text.replace(" ", "").split(",") if part)


def read_env_file(path: Path) -> dict[str, str]:
    """Simple `KEY=VALUE` lines; blank lines, `#` comments and a leading `export ` are allowed,
    one pair of surrounding quotes is removed. A missing file is no error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ConfigurationError(f"{path}:{number}: expected KEY=VALUE")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def _parse(name: str, text: str, kind: object) -> object:
    if isinstance(kind, UnionType) or typing.get_origin(kind) is typing.Union:
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind is int:
            return int(text)
        if kind is Path:
            return Path(text)
        if kind is str:
            return text
        if callable(kind) and not isinstance(kind, type):
            return kind(text)
    except ValueError:
        raise ConfigurationError(f"{name}={text!r} is not a valid {getattr(kind, '__name__', 'value')}") from None
    raise TypeError(f"Settings has no parser for {name}: {kind!r}")
