"""The conversation as a table: state -> question, buttons (what each sets, where it leads), free input.

Read it top to bottom: that is the inbound flow (coming to China), then the
outbound one (going home). `check_flow()` runs at import: an unknown next
state, an unreachable state or a question with no message fails loudly.
"""
from __future__ import annotations

from dataclasses import dataclass

from dialogs.i18n import shipped
from rules.policy import load

PAPER_MODALITIES = ("CT", "MR", "PT", "CR", "US")  # scans a patient may have only as a report or photo
PAPER_KINDS = frozenset({"pdf", "jpeg", "png", "heic", "image", "docx"})  # not-DICOM files that may be such a report
SPECIALTIES = ("gp", "oncology", "surgery", "cardiology", "orthopedics", "radiology")


@dataclass(frozen=True)
class Option:
    value: str
    label: str                           # labels.j2 macro that names it
    sets: str | None = None              # the answer it sets (to `value`)
    next: str | None = None              # where it leads (default: the state's `next`)


@dataclass(frozen=True)
class State:
    question: str                        # messages.j2 macro
    options: tuple[Option, ...] = ()
    next: str | None = None
    input: str | None = None             # "date" (free text) or "files" (uploads and links)
    back: bool = True                    # offers Back


def _choices(codes, label: str, sets: str) -> tuple[Option, ...]:
    return tuple(Option(code, label, sets) for code in codes)


def _yes_no(sets: str, *codes: str) -> tuple[Option, ...]:
    return tuple(Option(code, "answer", sets) for code in codes)


POLICY = load()

FLOW: dict[str, State] = {
    # ---------------------------------------------------------------- both directions
    "language":      State("ask_language", _choices(shipped(), "language", "locale"), next="consent", back=False),
    "consent":       State("ask_consent", (Option("agree", "agree"),), next="direction", back=False),
    "direction":     State("ask_direction", (Option("inbound", "direction", "direction", next="condition"),
                                             Option("outbound", "direction", "direction", next="out_specialty")),
                           back=False),
    # ---------------------------------------------------------------- inbound: coming to China
    "condition":     State("ask_condition", _choices(POLICY.conditions, "condition", "condition"), next="area"),
    "area":          State("ask_area", _choices(POLICY.areas, "area", "area"), next="visit"),
    "visit":         State("ask_visit", (Option("today", "visit_today"),), next="visit_confirm", input="date"),
    "visit_confirm": State("confirm_visit", (Option("yes", "answer", next="symptoms"), Option("no", "visit_other", next="visit"))),
    "symptoms":      State("ask_symptoms", _yes_no("symptoms", "yes", "no", "unsure"), next="infection"),
    "infection":     State("ask_infection", _yes_no("infection", "yes", "no"), next="files"),
    "files":         State("ask_files", (Option("done", "files_done", next="checking"),), input="files"),
    "checking":      State("checking", back=False),
    "paper_scan":    State("ask_paper_scan", _choices(PAPER_MODALITIES, "modality", "paper_modality")
                           + (Option("none", "no_more_paper"),), next="paper_date", back=False),
    "paper_date":    State("ask_paper_date", (Option("unknown", "date_unknown_button"),), next="paper_scan", input="date"),
    "checklist":     State("show_checklist", (Option("yes", "send_to_coordinator", "handoff", next="finished"),
                                              Option("no", "keep_to_myself", "handoff", next="finished")), back=False),
    "finished":      State("finished", (Option("restart", "restart"),), back=False),
    # ---------------------------------------------------------------- outbound: going home
    "out_specialty": State("ask_specialty", _choices(SPECIALTIES, "specialty", "specialty"), next="out_records"),
    "out_records":   State("show_records", (Option("upload", "upload_disc", next="out_files"),
                                            Option("finish", "finish", next="finished"))),
    "out_files":     State("ask_disc", (Option("done", "files_done", next="out_checking"),), input="files"),
    "out_checking":  State("checking", back=False),
    "out_disc":      State("show_disc", (Option("finish", "finish", next="finished"),), back=False),
    # ---------------------------------------------------------------- commands
    "delete_confirm": State("confirm_delete", (Option("yes", "delete_yes"), Option("no", "delete_no")), back=False),
    "cancelled":     State("cancelled", (Option("restart", "restart"),), back=False),
}

START = "language"
CHECKING = {"checking": "checklist", "out_checking": "out_disc"}  # state waiting for a check -> state after it
AFTER_CHECK = {"checking": ("paper_scan",)}                        # where a check's result may also lead
COMMAND_STATES = {"delete_confirm", "cancelled"}                   # reached by a command, not by a button


class FlowError(Exception):
    """The table is inconsistent."""


def check_flow(flow: dict[str, State] = FLOW) -> None:
    from dialogs.replies import message_names

    known = message_names()
    reachable, todo = {START}, [START]
    while todo:
        state = flow[todo.pop()]
        targets = [option.next or state.next for option in state.options] + [state.next]
        for name, s in flow.items():
            if s is state:
                targets += [CHECKING[name]] if name in CHECKING else []
                targets += list(AFTER_CHECK.get(name, ()))
        for target in targets:
            if target is None:
                continue
            if target not in flow:
                raise FlowError(f"unknown next state {target!r}")
            if target not in reachable:
                reachable.add(target)
                todo.append(target)
    unreachable = set(flow) - reachable - COMMAND_STATES
    if unreachable:
        raise FlowError(f"unreachable states: {sorted(unreachable)}")
    for name, state in flow.items():
        if state.question not in known:
            raise FlowError(f"state {name!r}: no message {state.question!r} in messages.j2")


def diagram(flow: dict[str, State] = FLOW) -> str:
    """The flow as a Mermaid state diagram (kept beside this file as flow.mmd; a test keeps it current)."""
    lines = ["stateDiagram-v2", f"    [*] --> {START}"]
    for name, state in flow.items():
        edges = {}
        for option in state.options:
            target = option.next or state.next
            if target:
                edges.setdefault(target, []).append(option.value)
        if state.input and state.next:
            edges.setdefault(state.next, []).append(f"({state.input})")
        if name in CHECKING:
            edges.setdefault(CHECKING[name], []).append("(check finished)")
        for target in AFTER_CHECK.get(name, ()):
            edges.setdefault(target, []).append("(reports or photos)")
        for target, values in edges.items():
            lines.append(f"    {name} --> {target}: {', '.join(values)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m dialogs.flow > dialogs/flow.mmd
    print(diagram(), end="")
