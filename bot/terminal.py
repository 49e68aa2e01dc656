"""`scanpass chat`: the conversation in a terminal. Buttons are numbered; a file or folder path is an upload.

Each line the patient types is one step: load the case, `dialogs.step()`, save,
print the replies, then carry out the actions the step asked for (run the
checker, erase the data). The case lives in the same storage as every channel,
so quitting and running `scanpass chat` again continues where the patient was.
"""
from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TextIO

from dialogs.case import Upload
from dialogs.events import Action, Button, CheckFinished, Command, FileReceived, Reply, Text
from dialogs.flow import FLOW
from dialogs.handoff import summary
from dialogs.i18n import choose
from dialogs.machine import step
from dialogs.replies import render
from rules import Answers, check
from storage.errors import UploadTooLarge

CHAT = "terminal:local"


class Terminal:
    def __init__(self, repository, settings, lang: str | None, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout):
        self.repository, self.settings = repository, settings
        self.stdin, self.stdout = stdin, stdout
        self.lang = lang
        self.colour = stdout.isatty() and os.environ.get("NO_COLOR") is None and os.environ.get("TERM") != "dumb"
        self.buttons: list[str] = []

    # ---- output
    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def show(self, replies, locale: str) -> None:
        for reply in replies:
            if not isinstance(reply, Reply):
                continue
            rendered = render(reply, locale, self.settings.retention_days)
            self.stdout.write("\n" + rendered.text + "\n")
            if rendered.buttons:
                self.buttons = [data for row in rendered.buttons for _label, data in row]
                number = 0
                for row in rendered.buttons:
                    for label, _data in row:
                        number += 1
                        self.stdout.write(f"  {self.paint(f'[{number}]', '1;36')} {label}\n")
        self.stdout.flush()

    # ---- one step
    def event(self, event) -> None:
        with self.repository.step(CHAT) as case:
            if case.id is None and self.lang:
                case.locale = choose(self.lang)
            _, replies = step(case, event)
            locale = case.locale
        self.show(replies, locale)
        for action in (reply for reply in replies if isinstance(reply, Action)):
            self.act(action)

    def act(self, action: Action) -> None:
        if action.name == "check":
            case = self.repository.load(CHAT)
            report = check([upload.path for upload in case.uploads], Answers.from_dict(case.answers),
                           progress=self.progress, names={upload.path: upload.name for upload in case.uploads})
            if self.colour:
                self.stdout.write("\r\033[K")
            self.event(CheckFinished(report.to_json()))
        elif action.name == "delete":
            self.repository.delete(CHAT)
        elif action.name == "handoff":  # kept with the case; coordinator channels read it from storage
            with self.repository.step(CHAT) as case:
                case.handoff = {"summary": summary(case, self.settings.coordinator_locale), "locale": case.locale,
                                "sent_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}

    def progress(self, done: int, total: int) -> None:
        if self.colour:
            self.stdout.write(f"\r  {done}/{total}")
            self.stdout.flush()

    def upload(self, path: Path) -> None:
        with self.repository.step(CHAT) as case:
            if FLOW[case.state].input != "files" or not case.consent:
                _, replies = step(case, FileReceived(Upload(str(path), path.name, 0, "")))  # answered with a hint
            else:
                _, replies = step(case, FileReceived(self.store(case, path)))
            locale = case.locale
        self.show(replies, locale)

    def store(self, case, path: Path):
        if not path.is_dir():
            with path.open("rb") as source:
                return self.repository.store_upload(case, source, path.name)
        # A folder travels as one stored zip (no compression: DICOM hardly shrinks).
        with tempfile.TemporaryFile() as packed:
            with zipfile.ZipFile(packed, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for file in sorted(path.rglob("*")):
                    if file.is_file() and not file.is_symlink():
                        archive.write(file, file.relative_to(path).as_posix())
            packed.seek(0)
            return self.repository.store_upload(case, packed, f"{path.name}.zip")

    def say(self, message: str, **params) -> None:
        case = self.repository.load(CHAT)
        self.show([Reply(message, params)], case.locale if case else choose(self.lang))

    # ---- the loop
    def run(self) -> int:
        self.event(Command("start"))
        while True:
            self.stdout.write(self.paint("> ", "1;32"))
            self.stdout.flush()
            line = self.stdin.readline()
            if not line:
                self.stdout.write("\n")
                return 0
            text = line.strip()
            if not text:
                continue
            if text.lower() in ("/quit", "/exit"):
                return 0
            path = Path(os.path.expanduser(text.strip("'\"")))
            if text.isdigit() and 1 <= int(text) <= len(self.buttons):
                self.event(Button(self.buttons[int(text) - 1]))
            elif text.startswith("/") and not path.exists():
                name, _, args = text[1:].partition(" ")
                self.event(Command(name, args))
            elif path.exists():
                try:
                    self.upload(path)
                except UploadTooLarge:  # nothing of it was kept; the case is as it was
                    self.say("upload_too_large", limit=self.settings.max_upload_mb)
                except OSError:
                    self.say("upload_failed")
            else:
                self.event(Text(text))


