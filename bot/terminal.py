"""`scanpass chat`: the conversation in a terminal. Buttons are numbered; a file or folder path is an upload.

Each line the patient types is one step of the case core (`cases`): load the case, `dialogs.step()`,
save with the jobs it asked for, print the replies. Then the terminal runs the jobs that are due (a check,
a link download) in this process and prints what they answered (the outbox). The case lives in the same
storage as every channel, so quitting (or a crash) and running `scanpass chat` again continues where the
patient was, a check left unfinished included.
"""
from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TextIO

from cases import CaseCore, reply_from_json
from cases.jobs import HEAVY, Jobs
from dialogs.events import Button, Command, Reply, Text
from dialogs.i18n import choose
from dialogs.replies import render

CHAT = "terminal:local"


class Terminal:
    def __init__(self, repository, settings, lang: str | None, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout):
        self.repository, self.settings = repository, settings
        self.core = CaseCore(repository, settings)
        self.jobs = self.core.queue.runner(Jobs(self.core))     # the embedded queue: jobs run in this process
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
        self.answer(*self.core.step(CHAT, event, self.lang))

    def answer(self, locale: str, replies) -> None:
        """Show a step's replies, then run the jobs it asked for and show what they answered."""
        self.show(replies, locale)
        self.catch_up()

    def catch_up(self) -> None:
        """Run the checks and downloads that are due here, then print the terminal's unread messages.
        (Deliveries to coordinators' Telegram chats are left to `scanpass serve` or a worker.)"""
        self.jobs.run_pending(HEAVY)
        unread = [message for message in self.core.outbox.newer(CHAT) if message.state == "queued"]
        for message in unread:
            self.show([reply_from_json(reply) for reply in message.body.get("replies", [])],
                      message.body.get("locale", "en"))
        self.core.outbox.sent([message.id for message in unread])

    def upload(self, path: Path) -> None:
        if not path.is_dir():
            with path.open("rb") as source:
                self.answer(*self.core.receive(CHAT, source, path.name, self.lang))
            return
        # A folder travels as one stored zip (no compression: DICOM hardly shrinks).
        with tempfile.TemporaryFile() as packed:
            with zipfile.ZipFile(packed, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for file in sorted(path.rglob("*")):
                    if file.is_file() and not file.is_symlink():
                        archive.write(file, file.relative_to(path).as_posix())
            packed.seek(0)
            self.answer(*self.core.receive(CHAT, packed, f"{path.name}.zip", self.lang))

    def say(self, message: str, **params) -> None:
        case = self.repository.load(CHAT)
        self.show([Reply(message, params)], case.locale if case else choose(self.lang))

    # ---- the loop
    def run(self) -> int:
        self.event(Command("start"))     # and a check a crash left unfinished runs now
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
                except OSError:
                    self.say("upload_failed")
            else:
                self.event(Text(text))


