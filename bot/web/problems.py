"""What the web channel answers when a request cannot be done: an HTTP status and a sentence in the visitor's language.

A handler raises `Problem(status, code, **params)`; the error middleware (`bot.web.errors`) answers it
as JSON `{"error": code, "message": "…"}` on the API and as an error page elsewhere.
"""
from __future__ import annotations

from babel.numbers import format_decimal

from dialogs.events import Reply
from dialogs.i18n import choose, translations
from dialogs.replies import render


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated when shown (`problem_text`)."""
    return message


MESSAGES = {
    "unreadable_request": N_("This request could not be understood. Reload the page and try again."),
    "wrong_offset": N_("The upload and the server got out of step; it goes on from where the server is."),
    "busy": N_("This file is still arriving on another connection. Try again in a moment."),
    "no_visitor": N_("Open the chat page first, then send your files."),
    "not_found": N_("There is nothing at this address. It may have been mistyped, or it has expired."),
    "no_checklist": N_("There is no checklist yet: send your files and tap Done first."),
    "link_expired": N_("This upload link has expired: links are valid for 24 hours. Send the file again in "
                       "Telegram to get a new one."),
    "link_spent": N_("This upload link has already been used. Send the file again in Telegram to get a new one."),
    "pdf_unavailable": N_("The PDF cannot be made on this server right now. Use Print instead: most browsers can "
                          "print to a PDF file."),
    "request_too_large": N_("This message is larger than %(limit)s MB, the most the chat takes at once. Files go "
                            "through the button for sending files, not into a message."),
    "request_timeout": N_("This request arrived too slowly and was stopped. Check your connection and try again."),
    "server_error": N_("Something went wrong on our side. Everything you sent before is saved; please try again "
                       "in a minute."),
}
SAME_AS = {"length_required": "unreadable_request", "bad_metadata": "unreadable_request",
           "tus_version": "unreadable_request", "wrong_content_type": "unreadable_request",
           "offset_required": "unreadable_request"}


class Problem(Exception):
    def __init__(self, status: int, code: str, **params):
        super().__init__(code)
        self.status, self.code, self.params = status, code, params


def problem_text(code: str, locale: str, **params) -> str:
    """The sentence a visitor reads for a problem code, in their language."""
    locale = choose(locale)
    if code == "too_large":   # the same words the chat uses for a file over MAX_UPLOAD_MB
        return render(Reply("upload_too_large", {"limit": params.get("limit", 0)}), locale).text
    if code == "case_full":   # the same words every channel uses past MAX_CASE_MB / MAX_CASE_FILES
        return render(Reply("case_full", {"what": params.get("what"), "limit": params.get("limit", 0)}), locale).text
    message = translations(locale).gettext(MESSAGES[SAME_AS.get(code, code)])
    if "%(limit)s" in message:
        message = message % {"limit": format_decimal(params.get("limit", 0), locale=locale)}
    return message
