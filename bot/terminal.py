"""`scanpass chat`: the conversation in a terminal. Buttons are numbered; a file or folder path is an upload.

Each line the patient types is one step (`bot.conversation`): load the case,
`dialogs.step()`, save, print the replies, then carry out the actions the step
asked for (run the checker, download a link, erase the data). The case lives in the same storage as every channel,
so quitting and running `scanpass chat` again continues where the patient was.
"""
from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TextIO

from bot.conversation import Conversation
from dialogs.events import Action, Button, Command, Reply, Text
from dialogs.i18n import choose
from dialogs.replies import render

CHAT = "terminal:local"


class Terminal:
    def __init__(self, repository, settings, lang: str | None, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout):
        self.repository, self.settings = repository, settings
        self.conversation = Conversation(repository, settings)
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
        self.answer(*self.conversation.step(CHAT, event, self.lang))

    def answer(self, locale: str, replies) -> None:
        """Show a step's replies, then carry out its actions."""
        self.show(replies, locale)
        for action in (reply for reply in replies if isinstance(reply, Action)):
            if action.name == "check":
                answer = self.conversation.check(CHAT, self.progress)
                if self.colour:
                    self.stdout.write("\r\033[K")
                self.answer(*answer)
            elif action.name == "download":
                self.answer(*asyncio.run(self.conversation.download(CHAT, action.params["url"])))
            elif action.name == "delete":
                self.conversation.delete(CHAT)
            elif action.name == "handoff":  # kept with the case; coordinator channels read it from storage
                self.conversation.hand_off(CHAT)

    def progress(self, done: int, total: int) -> None:
        if self.colour:
            self.stdout.write(f"\r  {done}/{total}")
            self.stdout.flush()

    def upload(self, path: Path) -> None:
        if not path.is_dir():
            with path.open("rb") as source:
                self.answer(*self.conversation.receive(CHAT, source, path.name, self.lang))
            return
        # A folder travels as one stored zip (no compression: DICOM hardly shrinks).
        with tempfile.TemporaryFile() as packed:
            with zipfile.ZipFile(packed, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for file in sorted(path.rglob("*")):
                    if file.is_file() and not file.is_symlink():
                        archive.write(file, file.relative_to(path).as_posix())
            packed.seek(0)
            self.answer(*self.conversation.receive(CHAT, packed, f"{path.name}.zip", self.lang))

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
                except OSError:
                    self.say("upload_failed")
            else:
                self.event(Text(text))


