"""A Telegram Bot API test double: an aiohttp server on 127.0.0.1 that the real PTB client talks to.

Point python-telegram-bot at it and it never reaches Telegram::

    async with running_double() as api:                       # or: api = BotApiDouble(); await api.start()
        app = (ApplicationBuilder().token(api.token)
               .base_url(api.base_url).base_file_url(api.base_file_url).build())
        ann = api.user(1001, first_name="Ann", language_code="en")
        ann.send_text("/start")                                # queued for getUpdates (or posted to the webhook)
        await api.wait_for(lambda: ann.last_buttons())
        ann.press(ann.last_buttons()[0][1])                     # a callback_query on the last keyboard message
        assert "Hello" in api.sent(1001)[-1]["text"]

Server (any token is accepted; `api.token` is just the one tests hand to PTB):
  POST/GET {url}/bot<token>/<method>   JSON bodies, form-encoded and multipart posts, and query strings.
      PTB 22 posts `data=` (form-encoded; strings raw, every other value JSON-encoded, so `reply_markup`
      arrives as a JSON string) and multipart when a file is uploaded; values are decoded back to the
      types Telegram would see (see `_decode`).  Method names are case-insensitive, as at Telegram.
      getMe, deleteWebhook, setWebhook, getWebhookInfo, setMyCommands, getMyCommands, deleteMyCommands,
      close, logOut, getUpdates (long polling: `offset` confirms, i.e. drops, updates below it; a
      negative offset keeps only the last -offset; waits up to `timeout` s; 409 while a webhook is set),
      sendMessage, editMessageText, editMessageReplyMarkup, answerCallbackQuery, sendDocument, sendPhoto,
      sendChatAction, deleteMessage, getFile.  Anything else: 404 {"ok": false, "description": "Not Found"}.
  GET {url}/file/bot<token>/<file_path>  the bytes of a registered or uploaded file.

Behaviour copied from the cloud Bot API (each answers like Telegram, so PTB raises the same error):
  * getFile on a file over 20 MB (`DOWNLOAD_LIMIT`): 400 "Bad Request: file is too big"; unknown id: 400
    "Bad Request: invalid file_id".
  * text over 4096 characters / caption over 1024: 400 "message is too long" / "message caption is too
    long"; empty text: 400 "message text is empty"; callback_data over 64 bytes: 400 BUTTON_DATA_INVALID.
  * editing with identical text and keyboard: 400 "Bad Request: message is not modified: ..."; editing
    or deleting a message that does not exist: 400 "message to edit not found" / "message to delete not
    found"; editing a user's message: 400 "message can't be edited".
  * parse_mode "HTML": tags are checked (unsupported or unbalanced tags and bare "<" give 400 "Bad
    Request: can't parse entities: ...") and removed; the message's `text` is what the user would see.
    MarkdownV2/Markdown are NOT checked: the text is kept as sent.
  * leading and trailing whitespace of text is trimmed, as Telegram does.
  * a user who `block()`ed the bot: sends answer 403 "Forbidden: bot was blocked by the user".
  * uploads over 50 MB: 413 "Request Entity Too Large".
  * answerCallbackQuery with an id the double never issued: 400 "query is too old ... or query ID is
    invalid".
  Not modelled: chats other than private chats with the users the test made (any other chat_id is
  accepted as a private chat), media groups' album semantics, allowed_updates filtering (recorded only),
  inline mode, payments, retries of failed webhook deliveries.

Test-side API of `BotApiDouble`:
  token, url ("http://127.0.0.1:<port>"), base_url (url + "/bot"), base_file_url (url + "/file/bot"),
  bot_user (the bot's User dict), webhook ((url, secret_token) or None), webhook_deliveries (list of
  (update_id, HTTP status or error text) for automatic webhook posts).
  await start() / await stop();  `async with running_double(**kwargs) as api:` does both.
  user(user_id, first_name="Ann", language_code="en", username=None) -> FakeUser (same object per id)
  calls(method) -> list[dict]     decoded params of each request that reached the method (all but those
                                  answered by `fail_next`; 400s included), in order (reply_markup parsed to a
                                  dict; uploaded files as {"filename", "content_type", "data", "size"}).
  attempts(method) -> int         requests for `method`, including those answered by `fail_next`.
  log -> list[dict]               every request: {"method", "token", "params", "status"}.
  sent(chat_id) -> list[dict]     what the bot sent or edited in that chat, in order:
                                  {"method", "message_id", "text", "caption", "reply_markup",
                                   "document", "photo", "message", "at"} (text as displayed; message = the
                                  Message dict returned to the bot; at = time.monotonic() when it arrived).
  messages(chat_id) -> list[dict] the chat's current messages (both sides, after edits, not deleted).
  commands(language_code="", scope=None) -> list[dict] as set by setMyCommands.
  await wait_for(predicate, timeout=10)  polls predicate() (sync, or returning an awaitable) until truthy
                                  and returns its value, else AssertionError listing what was sent.
  await wait_sent(chat_id, count, timeout=10) -> list[dict]  waits until sent(chat_id) has >= count entries.
  add_file(data, name, size=None) -> (file_id, file_unique_id, size)  registers a downloadable file;
                                  `size` alone (data=None) makes a file with no bytes, for size limits.
  file_bytes(file_id) -> bytes    a registered or uploaded file's content.
  fail_next(method, times=1, retry_after=1, error_code=429, description=None)  the next `times` calls of
                                  `method` answer that error (429 carries parameters.retry_after).
  deliver(update) -> dict         queue any update dict (update_id assigned if missing).
  await post_webhook(update, secret_token=<registered>) -> (status, body)  POST one update to the webhook.
  When a webhook is set, updates made by FakeUser are POSTed to it automatically, in order (loopback
  URLs only) instead of being queued for getUpdates.

`FakeUser` (a private chat whose id is the user's id):
  send_text(text) -> update        /commands get a bot_command entity
  press(callback_data, message=None) -> update   callback_query on the last bot message with an inline
                                   keyboard (or the given message dict / message_id); the data must be on
                                   one of its buttons.
  send_document(data, name, media_group_id=None, caption=None, size=None) -> update
  send_photo(data, caption=None) -> update
  last_buttons() -> [(text, callback_data)]   from the last bot message with an inline keyboard ([] if none)
  sent() -> list[dict]             same as api.sent(user_id)
  block() / unblock()
"""
from __future__ import annotations

import asyncio
import contextlib
import html
import inspect
import itertools
import json
import mimetypes
import re
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientSession, ClientTimeout, web

DOWNLOAD_LIMIT = 20 * 1024 * 1024   # getFile refuses bigger files on the cloud Bot API
UPLOAD_LIMIT = 50 * 1024 * 1024     # multipart uploads
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64

# Parameters whose form value is a plain string (PTB does not JSON-encode strings); everything else is
# JSON-decoded when it parses as JSON (numbers, booleans, reply_markup, commands, scope, entities ...).
_STRING_PARAMS = frozenset({
    "text", "caption", "url", "secret_token", "language_code", "parse_mode", "callback_query_id", "file_id",
    "action", "inline_message_id", "ip_address", "business_connection_id", "message_effect_id",
    "description", "short_description", "name", "title", "query", "emoji", "document", "photo",
    "certificate", "thumbnail",
})

_HTML_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
                        "code", "pre", "blockquote", "tg-emoji", "tg-time"})
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*)?)>")
_ENTITY = re.compile(r"&(#[0-9]+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")


class BotApiError(Exception):
    """Raised inside a handler to answer {"ok": false, ...} with this status."""

    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


def _bad(description: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {description}")


def _decode(key: str, value: str) -> Any:
    if key in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _html_to_text(text: str) -> str:
    """Check parse_mode=HTML markup like Telegram and return the displayed text."""
    out, stack, pos = [], [], 0
    while pos < len(text):
        char = text[pos]
        if char == "<":
            match = _TAG.match(text, pos)
            if not match:
                raise _bad(f"can't parse entities: Unsupported start tag at byte offset {len(text[:pos].encode())}")
            closing, tag = match.group(1), match.group(2).lower()
            if tag not in _HTML_TAGS:
                raise _bad(f'can\'t parse entities: Unsupported start tag "{tag}" at byte offset '
                           f"{len(text[:pos].encode())}")
            if closing:
                if not stack or stack[-1] != tag:
                    raise _bad(f'can\'t parse entities: Unexpected end tag at byte offset {len(text[:pos].encode())}')
                stack.pop()
            else:
                stack.append(tag)
            pos = match.end()
        elif char == "&":
            match = _ENTITY.match(text, pos)
            if match:
                out.append(html.unescape(match.group(0)))
                pos = match.end()
            else:
                out.append(char)
                pos += 1
        else:
            out.append(char)
            pos += 1
    if stack:
        raise _bad(f'can\'t parse entities: Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def _buttons(markup: dict | None) -> list[tuple[str, str | None]]:
    if not isinstance(markup, dict):
        return []
    return [(button.get("text"), button.get("callback_data"))
            for row in markup.get("inline_keyboard") or [] for button in row]


class FakeUser:
    """A Telegram user in a private chat with the bot (chat id == user id)."""

    def __init__(self, api: BotApiDouble, user_id: int, first_name: str, language_code: str | None,
                 username: str | None):
        self.api, self.id = api, user_id
        self.blocked = False
        self.data: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            self.data["username"] = username
        if language_code:
            self.data["language_code"] = language_code
        self.chat: dict[str, Any] = {"id": user_id, "type": "private", "first_name": first_name}
        if username:
            self.chat["username"] = username

    def _message(self, **fields: Any) -> dict:
        message = {"message_id": self.api._next_message_id(self.id), "from": dict(self.data),
                   "date": int(time.time()), "chat": dict(self.chat), **fields}
        self.api._store_message(self.id, message, from_bot=False)
        return message

    def send_text(self, text: str) -> dict:
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0] if text.split() else text
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.api.deliver({"message": self._message(**fields)})

    def send_document(self, data: bytes | None, name: str, media_group_id: str | None = None,
                      caption: str | None = None, size: int | None = None) -> dict:
        file_id, unique_id, file_size = self.api.add_file(data, name, size=size)
        document = {"file_id": file_id, "file_unique_id": unique_id, "file_name": name, "file_size": file_size}
        mime = mimetypes.guess_type(name)[0]
        if mime:
            document["mime_type"] = mime
        fields: dict[str, Any] = {"document": document}
        if media_group_id is not None:
            fields["media_group_id"] = str(media_group_id)
        if caption is not None:
            fields["caption"] = caption
        return self.api.deliver({"message": self._message(**fields)})

    def send_photo(self, data: bytes, caption: str | None = None, width: int = 1280, height: int = 960) -> dict:
        file_id, unique_id, size = self.api.add_file(data, "photo.jpg")
        fields: dict[str, Any] = {"photo": [{"file_id": file_id, "file_unique_id": unique_id, "file_size": size,
                                             "width": width, "height": height}]}
        if caption is not None:
            fields["caption"] = caption
        return self.api.deliver({"message": self._message(**fields)})

    def _last_keyboard_message(self) -> dict | None:
        for message in reversed(self.api.messages(self.id)):
            if message.get("from", {}).get("id") == self.api.bot_user["id"] and _buttons(message.get("reply_markup")):
                return message
        return None

    def last_buttons(self) -> list[tuple[str, str | None]]:
        return _buttons((self._last_keyboard_message() or {}).get("reply_markup"))

    def press(self, callback_data: str, message: dict | int | None = None) -> dict:
        if message is None:
            message = self._last_keyboard_message()
            if message is None:
                raise AssertionError(f"user {self.id}: no bot message with an inline keyboard to press; "
                                     f"sent: {self.api._summary(self.id)}")
        elif isinstance(message, int):
            message = self.api._messages[self.id][message]
        else:
            message = self.api._messages[self.id].get(message["message_id"], message)
        offered = [data for _, data in _buttons(message.get("reply_markup"))]
        if callback_data not in offered:
            raise AssertionError(f"user {self.id}: no button with callback_data {callback_data!r} on message "
                                 f"{message.get('message_id')}; buttons: {_buttons(message.get('reply_markup'))}")
        query_id = str(next(self.api._query_ids))
        self.api._open_queries.add(query_id)
        return self.api.deliver({"callback_query": {
            "id": query_id, "from": dict(self.data), "message": dict(message),
            "chat_instance": f"ci{self.id}", "data": callback_data}})

    def sent(self) -> list[dict]:
        return self.api.sent(self.id)

    def block(self) -> None:
        self.blocked = True

    def unblock(self) -> None:
        self.blocked = False


class BotApiDouble:
    """See the module docstring."""

    def __init__(self, token: str = "123456789:TEST-token-for-the-double", username: str = "scanpass_test_bot",
                 first_name: str = "ScanPass"):
        self.token = token
        bot_id = int(token.split(":")[0]) if token.split(":")[0].isdigit() else 123456789
        self.bot_user = {"id": bot_id, "is_bot": True, "first_name": first_name, "username": username}
        self.url = ""
        self.webhook: tuple[str, str | None] | None = None
        self.webhook_deliveries: list[tuple[int, int | str]] = []
        self.log: list[dict] = []
        self._calls: dict[str, list[dict]] = defaultdict(list)
        self._attempts: dict[str, int] = defaultdict(int)
        self._failures: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
        self._users: dict[int, FakeUser] = {}
        self._messages: dict[int, dict[int, dict]] = defaultdict(dict)   # chat -> message_id -> message
        self._bot_messages: set[tuple[int, int]] = set()
        self._message_ids: dict[int, itertools.count] = {}
        self._sent: dict[int, list[dict]] = defaultdict(list)
        self._files: dict[str, dict] = {}
        self._file_paths: dict[str, str] = {}
        self._file_numbers = itertools.count(1)
        self._query_ids = itertools.count(4_000_000_001)
        self._open_queries: set[str] = set()
        self._commands: dict[tuple[str, str], list[dict]] = {}
        self._updates: list[dict] = []
        self._update_ids = itertools.count(10_000)
        self._waiters: set[asyncio.Future] = set()
        self._watchers: dict[Any, set[asyncio.Future]] = defaultdict(set)  # wait_for() calls by chat (None: any)
        self._webhook_queue: asyncio.Queue | None = None
        self._webhook_task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._closing = False

    # ---------------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    async def start(self) -> BotApiDouble:
        self._loop = asyncio.get_running_loop()
        self._closing = False
        app = web.Application(client_max_size=UPLOAD_LIMIT + 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._webhook_queue = asyncio.Queue()
        self._webhook_task = asyncio.create_task(self._webhook_worker())
        return self

    async def stop(self) -> None:
        self._closing = True
        self._wake()
        if self._webhook_task:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    # ---------------------------------------------------------------- test-side API
    def user(self, user_id: int, first_name: str = "Ann", language_code: str | None = "en",
             username: str | None = None) -> FakeUser:
        if user_id not in self._users:
            self._users[user_id] = FakeUser(self, user_id, first_name, language_code, username)
        return self._users[user_id]

    def calls(self, method: str) -> list[dict]:
        return list(self._calls[method.lower()])

    def attempts(self, method: str) -> int:
        return self._attempts[method.lower()]

    def sent(self, chat_id: int | str) -> list[dict]:
        return list(self._sent[self._chat_key(chat_id)])

    def messages(self, chat_id: int | str) -> list[dict]:
        chat = self._messages[self._chat_key(chat_id)]
        return [chat[key] for key in sorted(chat)]

    def commands(self, language_code: str = "", scope: dict | None = None) -> list[dict]:
        return list(self._commands.get(self._commands_key(scope, language_code), []))

    def add_file(self, data: bytes | None, name: str, size: int | None = None) -> tuple[str, str, int]:
        number = next(self._file_numbers)
        file_id = f"BQACAgIAAxkB{number:06d}{uuid.uuid4().hex[:12]}"
        unique_id = f"AgAD{number:06d}"
        size = len(data) if size is None and data is not None else (size or 0)
        folder = "photos" if name == "photo.jpg" else "documents"
        suffix = "".join(c for c in (name.rsplit(".", 1)[-1] if "." in name else "") if c.isalnum())[:8]
        path = f"{folder}/file_{number}" + (f".{suffix}" if suffix else "")
        self._files[file_id] = {"file_id": file_id, "file_unique_id": unique_id, "file_size": size,
                                "file_path": path, "name": name, "data": data}
        self._file_paths[path] = file_id
        return file_id, unique_id, size

    def file_bytes(self, file_id: str) -> bytes | None:
        return self._files[file_id]["data"]

    def fail_next(self, method: str, times: int = 1, retry_after: int = 1, error_code: int = 429,
                  description: str | None = None) -> None:
        if description is None:
            description = (f"Too Many Requests: retry after {retry_after}" if error_code == 429
                           else "Bad Request: injected failure")
        self._failures[method.lower()].extend([(error_code, description, retry_after)] * times)

    def deliver(self, update: dict) -> dict:
        """Queue an update for getUpdates, or for the webhook when one is set. Returns it."""
        update.setdefault("update_id", next(self._update_ids))
        if self.webhook and self._webhook_queue is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._webhook_queue.put_nowait, update)
        else:
            self._updates.append(update)
            self._wake()
        return update

    async def post_webhook(self, update: dict, secret_token: str | None = ...) -> tuple[int, str]:  # type: ignore[assignment]
        if not self.webhook:
            raise AssertionError("no webhook set (setWebhook was not called)")
        url, registered = self.webhook
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"refusing to post an update outside this machine: {url}")
        update.setdefault("update_id", next(self._update_ids))
        secret = registered if secret_token is ... else secret_token
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        async with ClientSession(timeout=ClientTimeout(total=10)) as session, \
                session.post(url, json=update, headers=headers) as response:
            return response.status, await response.text()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10, chat: int | None = None) -> Any:
        """Wait until predicate() is truthy. With `chat`, only what the bot sends to that chat wakes the
        check early (cheap with many waiting users); anything the bot sends wakes it otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            left = deadline - time.monotonic()
            if left < 0:
                raise AssertionError(f"condition not met within {timeout} s; {self._summary()}")
            # Woken as soon as the bot sends or edits something; polled every 50 ms (1 s for a chat) anyway.
            watcher = asyncio.get_running_loop().create_future()
            self._watchers[chat].add(watcher)
            try:
                await asyncio.wait([watcher], timeout=min(0.05 if chat is None else 1.0, left))
            finally:
                self._watchers[chat].discard(watcher)

    async def wait_sent(self, chat_id: int | str, count: int = 1, timeout: float = 10) -> list[dict]:
        await self.wait_for(lambda: len(self.sent(chat_id)) >= count, timeout, chat=self._chat_key(chat_id))
        return self.sent(chat_id)

    # ---------------------------------------------------------------- internals
    def _summary(self, chat_id: int | None = None) -> str:
        chats = [chat_id] if chat_id is not None else sorted(self._sent, key=str)
        parts = [f"chat {chat}: " + "; ".join(f"{entry['method']}#{entry['message_id']} "
                                              f"{(entry['text'] or entry['caption'] or '')[:80]!r}"
                                              + (f" buttons={_buttons(entry['reply_markup'])}"
                                                 if _buttons(entry["reply_markup"]) else "")
                                              for entry in self._sent.get(chat, []))
                 for chat in chats]
        recent = [entry["method"] + ("" if entry["status"] == 200 else f"->{entry['status']}")
                  for entry in self.log[-15:]]
        return "sent by the bot: " + (" | ".join(parts) or "nothing") + f"; last requests: {recent}"

    def _wake(self) -> None:
        def wake() -> None:
            for waiter in list(self._waiters):
                if not waiter.done():
                    waiter.set_result(None)
        if self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            wake()
        else:
            self._loop.call_soon_threadsafe(wake)

    @staticmethod
    def _chat_key(chat_id: int | str) -> int | str:
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            return int(chat_id)
        return chat_id

    @staticmethod
    def _commands_key(scope: dict | None, language_code: str | None) -> tuple[str, str]:
        return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code or ""

    def _next_message_id(self, chat_id: int | str) -> int:
        if chat_id not in self._message_ids:
            self._message_ids[chat_id] = itertools.count(1)
        return next(self._message_ids[chat_id])

    def _store_message(self, chat_id: int | str, message: dict, from_bot: bool) -> None:
        self._messages[chat_id][message["message_id"]] = message
        if from_bot:
            self._bot_messages.add((chat_id, message["message_id"]))

    def _chat(self, chat_id: Any) -> tuple[int | str, dict]:
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        key = self._chat_key(chat_id)
        user = self._users.get(key) if isinstance(key, int) else None
        if user is not None:
            if user.blocked:
                raise BotApiError(403, "Forbidden: bot was blocked by the user")
            return key, dict(user.chat)
        if isinstance(key, int):
            return key, ({"id": key, "type": "private", "first_name": f"User{key}"} if key > 0
                         else {"id": key, "type": "supergroup", "title": f"Chat{key}"})
        return key, {"id": -1001000000000 - abs(hash(key)) % 10**9, "type": "channel", "title": key,
                     "username": str(key).lstrip("@")}

    def _check_markup(self, markup: Any) -> dict | None:
        if markup in (None, ""):
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard") or []:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                    raise _bad("BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise _bad("text buttons are unallowed in the inline keyboard")
        return markup

    @staticmethod
    def _display(text: Any, parse_mode: Any, limit: int, what: str) -> str:
        text = "" if text is None else str(text)
        if parse_mode and str(parse_mode).upper() == "HTML":
            text = _html_to_text(text)
        text = text.strip()
        if len(text) > limit:
            raise _bad(f"message {what}is too long")
        return text

    def _bot_message(self, chat_id: int | str, chat: dict, **fields: Any) -> dict:
        message = {"message_id": self._next_message_id(chat_id), "from": dict(self.bot_user),
                   "date": int(time.time()), "chat": chat}
        markup = fields.pop("reply_markup", None)
        message.update({k: v for k, v in fields.items() if v is not None})
        if _buttons(markup):
            message["reply_markup"] = markup
        self._store_message(chat_id, message, from_bot=True)
        return message

    def _record_sent(self, chat_id: int | str, method: str, message: dict, markup: Any) -> None:
        self._sent[chat_id].append({
            "method": method, "message_id": message["message_id"], "text": message.get("text"),
            "caption": message.get("caption"), "reply_markup": markup, "document": message.get("document"),
            "photo": message.get("photo"), "message": message, "at": time.monotonic()})
        for watcher in [*self._watchers.get(chat_id, ()), *self._watchers.get(None, ())]:
            if not watcher.done():
                watcher.set_result(None)

    # ---------------------------------------------------------------- HTTP
    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = {key: _decode(key, value) for key, value in request.query.items()}
        if request.method != "POST" or not request.body_exists:
            return params
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as error:
                raise _bad(f"can't parse JSON: {error}") from None
            if not isinstance(body, dict):
                raise _bad("JSON body must be an object")
            params.update(body)
            return params
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                data = value.file.read()
                params[key] = {"filename": value.filename, "content_type": value.content_type,
                               "data": data, "size": len(data)}
            else:
                params[key] = _decode(key, value)
        return params

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/file/bot"):
            token, _, file_path = path[len("/file/bot"):].partition("/")
            file_id = self._file_paths.get(file_path)
            data = self._files[file_id]["data"] if file_id else None
            self.log.append({"method": "<download>", "token": token, "params": {"file_path": file_path},
                             "status": 200 if data is not None else 404})
            if data is None:
                return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
            return web.Response(body=data, content_type="application/octet-stream")
        if not path.startswith("/bot") or "/" not in path[4:]:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        token, _, method = path[4:].partition("/")
        key = method.lower()
        entry: dict[str, Any] = {"method": method, "token": token, "params": {}, "status": 200}
        self.log.append(entry)
        self._attempts[key] += 1
        try:
            try:
                params = await self._params(request)
            except web.HTTPRequestEntityTooLarge:
                raise BotApiError(413, "Request Entity Too Large") from None
            entry["params"] = params
            handler = getattr(self, f"_m_{key}", None)
            if handler is None:
                raise BotApiError(404, "Not Found")
            if self._failures[key]:
                code, description, retry_after = self._failures[key].pop(0)
                raise BotApiError(code, description, {"retry_after": retry_after} if code == 429 else None)
            self._calls[key].append(params)
            result = handler(params)
            if inspect.isawaitable(result):
                result = await result
        except BotApiError as error:
            entry["status"] = error.code
            body: dict[str, Any] = {"ok": False, "error_code": error.code, "description": error.description}
            if error.parameters:
                body["parameters"] = error.parameters
            return web.json_response(body, status=error.code)
        return web.json_response({"ok": True, "result": result})

    async def _webhook_worker(self) -> None:
        assert self._webhook_queue is not None
        while True:
            update = await self._webhook_queue.get()
            try:
                status, _ = await self.post_webhook(update)
                self.webhook_deliveries.append((update["update_id"], status))
            except Exception as error:  # noqa: BLE001 — recorded for the test to inspect
                self.webhook_deliveries.append((update["update_id"], repr(error)))

    # ---------------------------------------------------------------- Bot API methods
    def _m_getme(self, params: dict) -> dict:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    def _m_logout(self, params: dict) -> bool:
        return True

    def _m_close(self, params: dict) -> bool:
        return True

    def _m_setwebhook(self, params: dict) -> bool:
        url = params.get("url") or ""
        self.webhook = (url, params.get("secret_token") or None) if url else None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_deletewebhook(self, params: dict) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_getwebhookinfo(self, params: dict) -> dict:
        return {"url": self.webhook[0] if self.webhook else "", "has_custom_certificate": False,
                "pending_update_count": len(self._updates) + (self._webhook_queue.qsize() if self._webhook_queue else 0)}

    def _m_setmycommands(self, params: dict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad("parameter \"commands\" is required")
        for command in commands:
            name = command.get("command", "")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")  # Telegram's wording varies; the status is what counts
        self._commands[self._commands_key(params.get("scope"), params.get("language_code"))] = commands
        return True

    def _m_getmycommands(self, params: dict) -> list:
        return self.commands(params.get("language_code") or "", params.get("scope"))

    def _m_deletemycommands(self, params: dict) -> bool:
        self._commands.pop(self._commands_key(params.get("scope"), params.get("language_code")), None)
        return True

    async def _m_getupdates(self, params: dict) -> list:
        if self.webhook:
            raise BotApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                   "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = float(params.get("timeout") or 0)
        if offset < 0:
            del self._updates[:max(0, len(self._updates) + offset)]
        elif offset:
            self._updates[:] = [u for u in self._updates if u["update_id"] >= offset]
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._updates and not self._closing:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                break
            finally:
                self._waiters.discard(waiter)
        return self._updates[:limit]

    def _m_sendmessage(self, params: dict) -> dict:
        chat_id, chat = self._chat(params.get("chat_id"))
        text = self._display(params.get("text"), params.get("parse_mode"), MAX_TEXT, "")
        if not text:
            raise _bad("message text is empty")
        markup = self._check_markup(params.get("reply_markup"))
        message = self._bot_message(chat_id, chat, text=text, reply_markup=markup)
        self._record_sent(chat_id, "sendMessage", message, markup)
        return message

    def _editable(self, params: dict) -> tuple[int | str, dict] | None:
        if params.get("inline_message_id"):
            return None
        chat_id, _ = self._chat(params.get("chat_id"))
        message_id = params.get("message_id")
        try:
            message = self._messages[chat_id][int(message_id)]
        except (KeyError, TypeError, ValueError):
            raise _bad("message to edit not found") from None
        if (chat_id, message["message_id"]) not in self._bot_messages:
            raise _bad("message can't be edited")
        return chat_id, message

    def _edit(self, params: dict, method: str, **changes: Any) -> dict | bool:
        target = self._editable(params)
        markup = self._check_markup(params.get("reply_markup"))
        if target is None:
            return True
        chat_id, message = target
        edited = {k: v for k, v in message.items() if k != "reply_markup"}
        edited.update(changes)
        if _buttons(markup):
            edited["reply_markup"] = markup
        if ({k: v for k, v in edited.items() if k != "edit_date"}
                == {k: v for k, v in message.items() if k != "edit_date"}):
            raise _bad("message is not modified: specified new message content and reply markup are exactly "
                       "the same as a current content and reply markup of the message")
        edited["edit_date"] = int(time.time())
        self._store_message(chat_id, edited, from_bot=True)
        self._record_sent(chat_id, method, edited, markup)
        return edited

    def _m_editmessagetext(self, params: dict) -> dict | bool:
        text = self._display(params.get("text"), params.get("parse_mode"), MAX_TEXT, "")
        if not text:
            raise _bad("message text is empty")
        return self._edit(params, "editMessageText", text=text)

    def _m_editmessagereplymarkup(self, params: dict) -> dict | bool:
        return self._edit(params, "editMessageReplyMarkup")

    def _m_answercallbackquery(self, params: dict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_queries:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self._open_queries.discard(query_id)
        return True

    def _m_sendchataction(self, params: dict) -> bool:
        self._chat(params.get("chat_id"))
        return True

    def _m_deletemessage(self, params: dict) -> bool:
        chat_id, _ = self._chat(params.get("chat_id"))
        try:
            del self._messages[chat_id][int(params.get("message_id"))]
        except (KeyError, TypeError, ValueError):
            raise _bad("message to delete not found") from None
        return True

    def _upload(self, params: dict, field: str, default_name: str) -> dict:
        value = params.get(field)
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value[len("attach://"):])
        if isinstance(value, dict):   # an uploaded multipart part
            name = value.get("filename") or default_name
            file_id, unique_id, size = self.add_file(value["data"], name)
            info = {"file_id": file_id, "file_unique_id": unique_id, "file_size": size, "file_name": name}
            mime = value.get("content_type") or mimetypes.guess_type(name)[0]
            if mime:
                info["mime_type"] = mime
            return info
        if isinstance(value, str) and value in self._files:   # resending a known file_id
            known = self._files[value]
            return {"file_id": value, "file_unique_id": known["file_unique_id"], "file_size": known["file_size"],
                    "file_name": known["name"]}
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            raise _bad("wrong file identifier/HTTP URL specified")  # the double never fetches URLs
        raise _bad(f"there is no {field} in the request" if value in (None, "") else "invalid file_id")

    def _m_senddocument(self, params: dict) -> dict:
        chat_id, chat = self._chat(params.get("chat_id"))
        caption = self._display(params.get("caption"), params.get("parse_mode"), MAX_CAPTION, "caption ")
        markup = self._check_markup(params.get("reply_markup"))
        document = self._upload(params, "document", "document")
        message = self._bot_message(chat_id, chat, document=document, caption=caption or None, reply_markup=markup)
        self._record_sent(chat_id, "sendDocument", message, markup)
        return message

    def _m_sendphoto(self, params: dict) -> dict:
        chat_id, chat = self._chat(params.get("chat_id"))
        caption = self._display(params.get("caption"), params.get("parse_mode"), MAX_CAPTION, "caption ")
        markup = self._check_markup(params.get("reply_markup"))
        info = self._upload(params, "photo", "photo.jpg")
        photo = [{"file_id": info["file_id"], "file_unique_id": info["file_unique_id"],
                  "file_size": info["file_size"], "width": 1280, "height": 960}]
        message = self._bot_message(chat_id, chat, photo=photo, caption=caption or None, reply_markup=markup)
        self._record_sent(chat_id, "sendPhoto", message, markup)
        return message

    def _m_getfile(self, params: dict) -> dict:
        known = self._files.get(str(params.get("file_id") or ""))
        if known is None:
            raise _bad("invalid file_id")
        if known["file_size"] > DOWNLOAD_LIMIT:
            raise _bad("file is too big")
        return {"file_id": known["file_id"], "file_unique_id": known["file_unique_id"],
                "file_size": known["file_size"], "file_path": known["file_path"]}


@contextlib.asynccontextmanager
async def running_double(**kwargs: Any) -> AsyncIterator[BotApiDouble]:
    """`async with running_double() as api:` — a started double, stopped on exit."""
    api = BotApiDouble(**kwargs)
    await api.start()
    try:
        yield api
    finally:
        await api.stop()
