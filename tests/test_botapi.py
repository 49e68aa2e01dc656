"""The Bot API double (tests/botapi.py) answers the real PTB client the way the cloud Bot API does.

Plain test functions running `asyncio.run(...)`: pytest-asyncio is not a dependency of this project.
"""
from __future__ import annotations

import asyncio
import time

import pytest
import telegram
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, Forbidden, RetryAfter

from tests.botapi import DOWNLOAD_LIMIT, BotApiDouble, running_double


def run(scenario):
    """Run `await scenario(api, bot)` against a fresh double and an initialized PTB Bot."""
    async def main():
        async with running_double() as api:
            bot = telegram.Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url)
            async with bot:
                await scenario(api, bot)
    asyncio.run(main())


def test_get_me_returns_the_bot_user():
    async def scenario(api: BotApiDouble, bot: telegram.Bot):
        me = await bot.get_me()
        assert me.is_bot and me.id == 123456789 and me.username == "scanpass_test_bot"
        assert bot.base_url.startswith("http://127.0.0.1:")
        assert len(api.calls("getMe")) == 2   # `async with bot` initializes with getMe too
    run(scenario)


def test_send_message_with_inline_keyboard_is_recorded_and_echoed():
    async def scenario(api, bot):
        ann = api.user(1001)
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes"),
                                        InlineKeyboardButton("No", callback_data="no")]])
        first = await bot.send_message(1001, "  Continue?  ", reply_markup=markup)
        second = await bot.send_message(1001, "again")
        assert first.text == "Continue?" and first.from_user.id == api.bot_user["id"]
        assert first.chat.id == 1001 and first.chat.type == "private"
        assert first.reply_markup == markup
        assert second.message_id == first.message_id + 1 and second.reply_markup is None
        call = api.calls("sendMessage")[0]
        assert call["chat_id"] == 1001 and call["text"] == "  Continue?  "
        assert call["reply_markup"] == {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"},
                                                             {"text": "No", "callback_data": "no"}]]}
        assert [entry["text"] for entry in api.sent(1001)] == ["Continue?", "again"]
        assert ann.last_buttons() == [("Yes", "yes"), ("No", "no")]
    run(scenario)


def test_updates_arrive_by_long_polling_and_offset_confirms_them():
    async def scenario(api, bot):
        ann = api.user(1001, first_name="Ann", language_code="de")
        assert await bot.get_updates(timeout=0) == ()
        started = time.monotonic()
        poll = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.1)
        ann.send_text("/start now")
        updates = await poll
        assert time.monotonic() - started < 2   # woken by the update, not by the timeout
        (update,) = updates
        assert update.message.text == "/start now" and update.message.from_user.language_code == "de"
        assert update.message.entities[0].type == "bot_command" and update.message.entities[0].length == 6
        # unconfirmed updates are returned again; offset drops older ones
        assert [u.update_id for u in await bot.get_updates(timeout=0)] == [update.update_id]

        await bot.send_message(1001, "Pick one", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("A", callback_data="pick:a")]]))
        ann.press("pick:a")
        (pressed,) = await bot.get_updates(offset=update.update_id + 1, timeout=1)
        assert pressed.callback_query.data == "pick:a"
        assert pressed.callback_query.message.text == "Pick one"
        assert await pressed.callback_query.answer() is True
        with pytest.raises(BadRequest, match="(?i)query is too old"):
            await pressed.callback_query.answer()   # a query is answered once
        assert await bot.get_updates(offset=pressed.update_id + 1, timeout=0) == ()
        with pytest.raises(AssertionError, match="no button"):
            ann.press("pick:z")
    run(scenario)


def test_get_file_and_download_of_a_small_file():
    async def scenario(api, bot):
        payload = bytes(range(256)) * 4
        file_id, unique_id, size = api.add_file(payload, "scan.pdf")
        assert size == 1024
        telegram_file = await bot.get_file(file_id)
        assert telegram_file.file_size == 1024 and telegram_file.file_unique_id == unique_id
        assert telegram_file.file_path.startswith(api.base_file_url + api.token + "/documents/")
        assert bytes(await telegram_file.download_as_bytearray()) == payload
    run(scenario)


def test_get_file_over_20_mb_is_refused_like_the_cloud_api():
    async def scenario(api, bot):
        ann = api.user(1001)
        update = ann.send_document(b"\0" * (21 * 1024 * 1024), "big.pdf")
        document = update["message"]["document"]
        assert document["file_size"] > DOWNLOAD_LIMIT and document["mime_type"] == "application/pdf"
        with pytest.raises(BadRequest, match="(?i)file is too big"):
            await bot.get_file(document["file_id"])
        with pytest.raises(BadRequest, match="(?i)invalid file_id"):
            await bot.get_file("no-such-file")
    run(scenario)


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # retry_after's future type
def test_fail_next_gives_retry_after_then_succeeds():
    async def scenario(api, bot):
        api.fail_next("sendMessage", times=1, retry_after=1)
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(1001, "hello")
        retry_after = caught.value.retry_after   # an int now; a timedelta under PTB_TIMEDELTA=1
        assert getattr(retry_after, "total_seconds", lambda: retry_after)() == 1
        assert api.attempts("sendMessage") == 1 and api.calls("sendMessage") == []
        await bot.send_message(1001, "hello")
        assert [entry["text"] for entry in api.sent(1001)] == ["hello"]
    run(scenario)


def test_set_my_commands_is_recorded_per_language():
    async def scenario(api, bot):
        await bot.set_my_commands([BotCommand("start", "Start over")])
        await bot.set_my_commands([BotCommand("start", "Von vorn")], language_code="de")
        assert api.commands() == [{"command": "start", "description": "Start over"}]
        assert api.commands("de") == [{"command": "start", "description": "Von vorn"}]
        assert [c.description for c in await bot.get_my_commands(language_code="de")] == ["Von vorn"]
        assert api.calls("setMyCommands")[1]["language_code"] == "de"
    run(scenario)


def test_send_document_uploads_multipart_bytes():
    async def scenario(api, bot):
        api.user(1001)
        payload = b'{"case": 7}\n' * 100
        message = await bot.send_document(1001, InputFile(payload, filename="case-7.json"), caption="Case 7")
        upload = api.calls("sendDocument")[0]["document"]
        assert upload["data"] == payload and upload["filename"] == "case-7.json"
        assert message.document.file_name == "case-7.json" and message.document.file_size == len(payload)
        assert message.caption == "Case 7"
        assert api.file_bytes(message.document.file_id) == payload
        assert api.sent(1001)[0]["document"]["file_name"] == "case-7.json"
    run(scenario)


def test_edits_deletes_and_errors_answer_like_telegram():
    async def scenario(api, bot):
        ann = api.user(1001)
        message = await bot.send_message(1001, "1/3")
        edited = await message.edit_text("2/3")
        assert edited.text == "2/3" and edited.edit_date is not None
        with pytest.raises(BadRequest, match="(?i)not modified"):
            await message.edit_text("2/3")
        with pytest.raises(BadRequest, match="(?i)message to edit not found"):
            await bot.edit_message_text("x", chat_id=1001, message_id=999)
        await bot.send_chat_action(1001, "typing")
        assert await message.delete() is True
        with pytest.raises(BadRequest, match="(?i)message to delete not found"):
            await message.delete()
        with pytest.raises(BadRequest, match="(?i)can't parse entities"):
            await bot.send_message(1001, "a <b>bold", parse_mode="HTML")
        assert (await bot.send_message(1001, "<b>1 &lt; 2</b>", parse_mode="HTML")).text == "1 < 2"
        with pytest.raises(BadRequest, match="(?i)too long"):
            await bot.send_message(1001, "x" * 4097)
        ann.block()
        with pytest.raises(Forbidden, match="(?i)blocked"):
            await bot.send_message(1001, "hi")
        with pytest.raises(telegram.error.EndPointNotFound):   # unknown methods answer 404
            await bot.do_api_request("noSuchMethod")
    run(scenario)


def test_webhook_is_recorded_and_updates_are_posted_to_it():
    async def scenario(api, bot):
        from aiohttp import web
        received = []

        async def hook(request):
            received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
            return web.Response()
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
            await bot.set_webhook(url, secret_token="s3cret")
            assert api.webhook == (url, "s3cret") and (await bot.get_webhook_info()).url == url
            api.user(1001).send_text("hello")   # delivered automatically while a webhook is set
            await api.wait_for(lambda: received)
            assert received[0][0] == "s3cret" and received[0][1]["message"]["text"] == "hello"
            status, _ = await api.post_webhook({"message": received[0][1]["message"]})
            assert status == 200 and len(received) == 2
            with pytest.raises(telegram.error.Conflict):
                await bot.get_updates(timeout=0)
            await bot.delete_webhook()
            assert api.webhook is None
        finally:
            await runner.cleanup()
    run(scenario)


def test_wait_for_reports_what_was_sent():
    async def scenario(api, bot):
        await bot.send_message(1001, "only this")
        with pytest.raises(AssertionError, match="only this"):
            await api.wait_for(lambda: False, timeout=0.1)
    run(scenario)


def test_a_ptb_application_polls_the_double_end_to_end():
    from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler

    async def start(update, context):
        await update.message.reply_text("Ready?", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("Go", callback_data="go")]]))

    async def pressed(update, context):
        await update.callback_query.answer()
        await update.callback_query.edit_message_text(f"Went, {update.effective_user.first_name}")

    async def main():
        async with running_double() as api:
            app = (ApplicationBuilder().token(api.token).base_url(api.base_url)
                   .base_file_url(api.base_file_url).build())
            app.add_handler(CommandHandler("start", start))
            app.add_handler(CallbackQueryHandler(pressed))
            ann = api.user(1001, first_name="Ann")
            async with app:
                await app.start()
                await app.updater.start_polling(poll_interval=0, timeout=5)
                ann.send_text("/start")
                await api.wait_for(ann.last_buttons, timeout=5)
                ann.press("go")
                await api.wait_for(lambda: ann.sent()[-1]["text"] == "Went, Ann", timeout=5)
                started = time.monotonic()
                await app.updater.stop()
                await app.stop()
            assert [entry["method"] for entry in ann.sent()] == ["sendMessage", "editMessageText"]
            assert ann.last_buttons() == []   # the edit without reply_markup removed the keyboard
            assert api.calls("deleteWebhook") and api.calls("answerCallbackQuery")
        assert time.monotonic() - started < 3   # the pending long poll does not hold the shutdown
    asyncio.run(main())


def test_json_bodies_and_unknown_methods_over_raw_http():
    from aiohttp import ClientSession

    async def main():
        async with running_double() as api, ClientSession() as http:
            markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
            async with http.post(f"{api.base_url}{api.token}/sendMessage",
                                 json={"chat_id": 7, "text": "123", "reply_markup": markup}) as response:
                body = await response.json()
            assert response.status == 200 and body["result"]["text"] == "123"
            assert api.calls("sendMessage") == [{"chat_id": 7, "text": "123", "reply_markup": markup}]
            async with http.post(f"{api.base_url}{api.token}/sendMessage",
                                 data={"chat_id": "7", "text": "456", "reply_markup": '{"inline_keyboard": []}'}) as response:
                assert (await response.json())["result"]["text"] == "456"   # form values: text stays a string
            assert api.calls("sendMessage")[1] == {"chat_id": 7, "text": "456", "reply_markup": {"inline_keyboard": []}}
            async with http.post(f"{api.base_url}{api.token}/noSuchMethod", json={}) as response:
                assert response.status == 404
                assert await response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    asyncio.run(main())
