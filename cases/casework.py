"""What a coordinator does to handed-off cases from the dashboard: list and search them, claim one,
answer its patient on the patient's own channel.

A coordinator's answer is kept with the case in `case.handoff["replies"]` as
`{"text", "at" (ISO UTC), "by" (username), "message" (its outbox id)}` and recorded in the outbox in
the same step: the web chat page shows it, a Telegram patient gets it from a delivery job, introduced
in their language ("Message from your coordinator:"), whichever process runs Telegram. Whether it was
delivered is the outbox message's state (`delivery_state`), shown on the dashboard.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from dialogs.case import Case
from dialogs.events import Reply
from dialogs.handoff import summary
from rules.errors import ScanPassError
from storage import Repository

log = logging.getLogger("scanpass.dashboard")

TABS = {"new": "handed_off", "claimed": "claimed", "answered": "answered"}   # dashboard tab -> case status
LISTED = 500            # most recently handed-off cases shown per tab
LONGEST_REPLY = 3500    # characters; a Telegram message holds 4,096 with the introduction


class CaseGone(ScanPassError):
    """No handed-off case with that number (never handed off, or erased by the patient or the purge)."""


class ClaimedByAnother(ScanPassError):
    def __init__(self, by: str) -> None:
        super().__init__(f"already claimed by {by}")
        self.by = by


@dataclass(frozen=True)
class Delivery:
    delivered: bool     # False: kept with the case, but the patient's channel could not take it now
    case: Case


def handed_off(repository: Repository, tab: str) -> list[Case]:
    """The tab's cases, most recently handed off first."""
    cases = [case for case in repository.cases(TABS[tab], LISTED) if case.handoff]
    return sorted(cases, key=lambda case: (case.handoff.get("sent_at") or "", case.id or 0), reverse=True)


def handed_off_case(repository: Repository, case_id: int) -> Case:
    case = repository.get(case_id)
    if case is None or not case.handoff:
        raise CaseGone(f"no handed-off case {case_id}")
    return case


def search(cases: list[Case], query: str, locale: str) -> list[Case]:
    """Cases matching every word of the query. A number (or #number) is a case number; other words are
    looked for in the patient's language, the answers, the verdicts and reasons, and the handoff summary
    as the coordinator reads it."""
    words = query.casefold().split()
    return [case for case in cases if all(_matches(case, word, locale) for word in words)]


def _matches(case: Case, word: str, locale: str) -> bool:
    if word.lstrip("#").isdigit():
        return str(case.id) == word.lstrip("#")
    return word in _searchable(case, locale)


def _searchable(case: Case, locale: str) -> str:
    report = case.report or {}
    codes = [case.locale, case.chat.partition(":")[0], str(case.handoff.get("claimed_by") or ""),
             *(str(value) for value in case.answers.values()), report.get("overall", "")]
    for study in report.get("studies", []):
        codes += [study.get("verdict", ""), study.get("modality", ""),
                  *(reason.get("code", "") for reason in study.get("reasons", []))]
    return "\n".join([*codes, summary(case, locale), case.handoff.get("summary", "")]).casefold()


def claim(repository: Repository, case_id: int, username: str) -> Case:
    """Make the case this coordinator's (an answered case stays answered). Another's claim is not taken over."""
    chat = handed_off_case(repository, case_id).chat
    with repository.step(chat) as case:
        _still_handed_off(case, case_id)
        holder = case.handoff.get("claimed_by")
        if holder and holder != username:
            raise ClaimedByAnother(str(holder))
        case.handoff = {**case.handoff, "claimed_by": username}
        if case.status == "handed_off":
            case.status = "claimed"
    log.info("case %d claimed from the dashboard", case_id)
    return case


def answer(core, case_id: int, username: str, text: str, at: datetime | None = None) -> Delivery:
    """Record the coordinator's text for the patient (outbox) and keep it with the case, in one step.
    Blocking: call it in a worker thread."""
    repository = core.repository
    chat = handed_off_case(repository, case_id).chat
    moment = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    with repository.step(chat) as case:
        _still_handed_off(case, case_id)
        message = core.tell(chat, f"reply:{case_id}:{secrets.token_hex(8)}", [Reply("coordinator_reply", {"text": text})],
                            case, sender="coordinator")
        entry = {"text": text, "at": moment, "by": username, "message": message}
        case.handoff = {**case.handoff, "replies": [*case.handoff.get("replies", []), entry]}
        if not case.handoff.get("claimed_by"):
            case.handoff["claimed_by"] = username
        case.status = "answered"
    core.queue.wake()
    log.info("case %d answered by a coordinator", case_id)
    return Delivery(True, case)


def delivery_state(core, entry: dict) -> tuple[str, str | None]:
    """A kept reply's delivery: queued, sent or failed (with the kind of the last failure)."""
    message = core.outbox.get(entry["message"]) if entry.get("message") else None
    if message is None:
        return ("sent" if entry.get("delivered", True) else "failed"), None
    return message.state, message.error


def _still_handed_off(case: Case, case_id: int) -> None:
    """Inside a step: the chat's case is still the one the coordinator opened (raising saves nothing)."""
    if case.id != case_id or not case.handoff:
        raise CaseGone(f"case {case_id} is no longer handed off")
