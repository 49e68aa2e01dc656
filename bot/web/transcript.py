"""Replies as the web page shows them: JSON messages with text, buttons and, for the checklist, a laid-out part.

    messages(replies, locale, retention_days) -> [{"kind", "text", "buttons": [[{"label", "data"}]], "html"?}]

The checklist reply carries `html`: the checklist rendered for reading (verdict badges, reasons, what to
bring, what to redo; `checklist.html.j2`), and `text` is then only its question. Everything is rendered
on the server in the patient's locale and escaped there; the page inserts `text` as text.
"""
from __future__ import annotations

from dialogs.events import Reply
from dialogs.replies import render
from bot.web.pages import render_page
from rules.policy import load

CHECKLIST_MESSAGES = ("show_checklist",)
LISTED_FILES = 20   # as in the text checklist: longer lists end with "and N more"


def checklist_html(report: dict, locale: str) -> str:
    policy = load()
    return render_page("checklist.html.j2", locale, report=report, redo=policy.section("redo"),
                       budget=policy.section("budget"), limit=LISTED_FILES)


def message(reply: Reply, locale: str, retention_days: int) -> dict:
    laid_out = reply.message in CHECKLIST_MESSAGES and reply.params.get("report")
    if laid_out:   # the question alone; the checklist itself goes in `html`
        reply = Reply(reply.message, {**reply.params, "report": None, "checklist": ""}, reply.buttons)
    rendered = render(reply, locale, retention_days)
    shown = {"kind": reply.message, "text": rendered.text,
             "buttons": [[{"label": label, "data": data} for label, data in row] for row in rendered.buttons]}
    if laid_out:
        shown["html"] = checklist_html(laid_out, locale)
    return shown


def messages(replies, locale: str, retention_days: int) -> list[dict]:
    return [message(reply, locale, retention_days) for reply in replies if isinstance(reply, Reply)]


def coordinator_message(text: str, locale: str) -> dict:
    """A coordinator's reply (kept with the handoff), introduced in the patient's language."""
    return {"kind": "coordinator_reply", "text": render(Reply("coordinator_reply", {"text": text}), locale).text,
            "buttons": []}
