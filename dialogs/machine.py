"""`step(case, event, today) -> (case, replies)`: the conversation's one move, with no I/O of its own.

Wrong input at a step (text where a button is expected, a file before the
files step, an unknown command, a button from an old message) gets a short
hint and the same question again; nothing already answered is lost.
"""
from __future__ import annotations

import datetime as dt
import re

from dialogs.case import Case
from dialogs.dates import understand_date
from dialogs.events import (Action, Button, CheckFinished, Choice, Command, Event, FileReceived, LinkFailed,
                            LinkReceived, Reply, Text)
from dialogs.flow import CHECKING, FLOW, PAPER_KINDS, START, check_flow

Replies = list[Reply | Action]
LINK = re.compile(r"^\s*(https?://\S+)\s*$", re.IGNORECASE)
LINK_FAILURES = ("not_a_file", "not_shared", "refused", "too_large", "failed")

check_flow()


def ask(case: Case, **params) -> Reply:
    """The current step's question with its buttons."""
    state = FLOW[case.state]
    rows = [(Choice(f"{case.state}:{option.value}", option.label, option.value),) for option in state.options]
    if state.back and case.history:
        rows.append((Choice(f"{case.state}:back", "back", "back"),))
    return Reply(state.question, {**_context(case), **params}, tuple(rows))


def _context(case: Case) -> dict:
    return {"answers": dict(case.answers), "uploads": len(case.uploads), "report": case.report,
            "consent": case.consent}


def _hint(case: Case, message: str, **params) -> Replies:
    return [Reply(message, params), ask(case)]


def _go(case: Case, target: str) -> None:
    case.history.append(case.state)
    case.state = target


def _restart(case: Case) -> Replies:
    case.answers, case.uploads, case.report, case.handoff, case.history = {}, [], None, None, []
    case.status = "open"
    case.state = "direction" if case.consent else START
    return [ask(case)]


def step(case: Case, event: Event, today: dt.date) -> tuple[Case, Replies]:
    """One event on the case. `today` is the caller's (dialogs/ reads no clock): it dates "Today" and
    the words of a typed date."""
    if isinstance(event, Command):
        return case, _command(case, event)
    if isinstance(event, Button):
        return case, _button(case, event, today)
    if isinstance(event, Text):
        link = LINK.match(event.text)
        if link and FLOW[case.state].input == "files":
            return case, _link(case, link.group(1))
        return case, _text(case, event.text, today)
    if isinstance(event, FileReceived):
        if FLOW[case.state].input != "files":
            return case, _hint(case, "hint_file_not_now")
        case.uploads.append(event.upload)
        return case, [ask(case, received=event.upload.name)]
    if isinstance(event, LinkReceived):
        if FLOW[case.state].input != "files":
            return case, _hint(case, "hint_file_not_now")
        return case, _link(case, event.url)
    if isinstance(event, LinkFailed):
        if event.reason not in LINK_FAILURES:
            raise ValueError(f"unknown link failure {event.reason!r}")
        return case, _hint(case, f"link_{event.reason}", **event.params)
    if isinstance(event, CheckFinished):
        if case.state not in CHECKING:
            return case, [ask(case)]  # a late result for a step the patient has left
        case.report = event.report
        case.status = "checked"
        if case.state == "checking" and _paper_documents(event.report) and "paper_scans" not in case.answers:
            case.answers["paper_scans"] = []
            _go(case, "paper_scan")
            return case, [ask(case, paper=_paper_documents(event.report))]
        _go(case, CHECKING[case.state])
        return case, [ask(case)]
    return case, [ask(case)]


def _paper_documents(report: dict) -> int:
    """How many reports or photos (not DICOM) came with the files."""
    return sum(1 for entry in report.get("files", {}).get("not_dicom", []) if entry.get("kind") in PAPER_KINDS)


def _command(case: Case, command: Command) -> Replies:
    name = command.name.lower().lstrip("/")
    if name == "start":
        if case.state == START or not case.consent:
            return [ask(case)]
        return [Reply("welcome_back"), ask(case)]
    if name == "restart":
        return _restart(case)
    if name == "cancel":
        case.history, case.state = [], "cancelled"
        return [ask(case)]
    if name == "language":
        if case.state != "language":
            _go(case, "language")
        return [ask(case)]
    if name == "delete":
        if case.state != "delete_confirm":
            _go(case, "delete_confirm")
        return [ask(case)]
    if name == "help":
        return [Reply("help"), ask(case)]
    return _hint(case, "hint_unknown_command", command=name)


def _back(case: Case) -> Replies:
    if FLOW[case.state].back and case.history:
        case.state = case.history.pop()
    return [ask(case)]


def _button(case: Case, button: Button, today: dt.date) -> Replies:
    state_name, _, value = button.data.partition(":")
    state = FLOW[case.state]
    if state_name != case.state:
        return _hint(case, "hint_stale_button")
    if value == "back":
        return _back(case)
    option = next((option for option in state.options if option.value == value), None)
    if option is None:
        return _hint(case, "hint_stale_button")

    if case.state == "language":
        case.locale = value
        if case.consent:  # changed midway: back to where the patient was
            case.state = case.history.pop() if case.history else "direction"
            return [ask(case)]
    elif case.state == "consent":
        case.consent = True
    elif case.state == "delete_confirm":
        if value == "yes":
            return [Action("delete"), Reply("deleted")]
        case.state = case.history.pop() if case.history else START
        return [ask(case)]
    elif value == "restart":
        return _restart(case)
    elif case.state == "visit" and value == "today":
        case.answers["visit"] = today.isoformat()
        case.answers.pop("visit_problem", None)
    elif case.state == "paper_scan" and value == "none":
        if case.answers.get("paper_scans"):  # judge the scans described, with the files
            _go(case, "checking")
            return [ask(case), Action("check")]
        _go(case, "checklist")
        return [ask(case)]
    elif case.state == "paper_date" and value == "unknown":
        _add_paper_scan(case, None)
        _go(case, "paper_scan")
        return [ask(case, paper=0)]
    elif case.state in ("files", "out_files") and value == "done":
        if not case.uploads:
            return _hint(case, "hint_no_files_yet")

    if option.sets and option.sets != "locale":
        case.answers[option.sets] = value
    target = option.next or state.next
    replies: Replies = []
    if case.state == "checklist" and value == "yes":
        replies.append(Action("handoff"))
        case.status = "handed_off"
    _go(case, target)
    if case.state in CHECKING:
        replies += [ask(case), Action("check")]
        return replies
    return replies + [ask(case)]


def _text(case: Case, text: str, today: dt.date) -> Replies:
    state = FLOW[case.state]
    if state.input == "date":
        answer = understand_date(text, case.locale, today)
        if answer.date is None:
            return _hint(case, "hint_date_unknown")
        if case.state == "paper_date":
            _add_paper_scan(case, answer.date)
            _go(case, "paper_scan")
            return [ask(case, paper=0)]
        case.answers["visit"] = answer.date.isoformat()
        if answer.problem:
            case.answers["visit_problem"] = answer.problem
        else:
            case.answers.pop("visit_problem", None)
        _go(case, "visit_confirm")
        return [ask(case)]
    if state.input == "files":
        return _hint(case, "hint_send_files")
    return _hint(case, "hint_use_buttons")


def _add_paper_scan(case: Case, date: dt.date | None) -> None:
    scans = case.answers.setdefault("paper_scans", [])
    scans.append({"modality": case.answers.pop("paper_modality", "OT"), "date": date.isoformat() if date else None})


def _link(case: Case, url: str) -> Replies:
    return [Action("download", {"url": url}), Reply("link_received")]
