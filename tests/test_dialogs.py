"""The conversation driven as a patient would: send, tap, read; every reply rendered in the patient's locale."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from dialogs.case import Case, Upload
from dialogs.events import Action, Button, CheckFinished, Command, FileReceived, LinkFailed, Reply, Text
from dialogs.flow import FLOW, FlowError, State, check_flow
from dialogs.machine import step
from dialogs.replies import render
from rules import Answers, check
from tests.factory import SeriesSpec, write_study

TODAY = dt.date(2026, 11, 23)


class Patient:
    """A fake client: keeps the case, sends events, remembers the last buttons and texts it was shown."""

    def __init__(self, locale: str = "en"):
        self.case = Case(chat="test:1", locale=locale)
        self.texts: list[str] = []
        self.buttons: list[tuple[str, str]] = []
        self.actions: list[Action] = []

    def send(self, event) -> list[str]:
        _, replies = step(self.case, event, today=TODAY)
        shown = []
        for reply in replies:
            if isinstance(reply, Action):
                self.actions.append(reply)
                continue
            rendered = render(reply, self.case.locale)
            assert "{{" not in rendered.text and "%(" not in rendered.text
            shown.append(rendered.text)
            if rendered.buttons:
                self.buttons = [button for row in rendered.buttons for button in row]
        self.texts += shown
        return shown

    def tap(self, label: str) -> list[str]:
        data = next((data for text, data in self.buttons if text == label), None)
        assert data is not None, f"no button {label!r} in {[text for text, _ in self.buttons]}"
        return self.send(Button(data))

    def labels(self) -> list[str]:
        return [text for text, _ in self.buttons]


def agreed(patient: Patient, direction: str) -> None:
    """/start, English, I agree, then the direction."""
    patient.send(Command("start"))
    patient.tap("English")
    patient.tap("I agree")
    patient.tap(direction)


def through_answers(patient: Patient) -> None:
    agreed(patient, "Coming to China")
    patient.tap("active cancer treatment or pre-surgical work-up")
    patient.tap("brain tumour")
    patient.tap("Today")
    patient.tap("Yes")          # the date is right
    patient.tap("No")           # symptoms unchanged
    patient.tap("No")           # not an infection work-up


def test_the_flow_table_is_consistent():
    check_flow()
    broken = dict(FLOW, area=dataclasses.replace(FLOW["area"], next="nowhere"))
    with pytest.raises(FlowError, match="unknown next state"):
        check_flow(broken)
    orphan = dict(FLOW, orphan=State("ask_area"))
    with pytest.raises(FlowError, match="unreachable"):
        check_flow(orphan)
    silent = dict(FLOW, area=dataclasses.replace(FLOW["area"], question="no_such_message"))
    with pytest.raises(FlowError, match="no message"):
        check_flow(silent)


def test_inbound_flow_to_the_checklist(tmp_path):
    patient = Patient()
    through_answers(patient)
    assert patient.case.state == "files"
    assert patient.case.answers == {"direction": "inbound", "condition": "active_oncology", "area": "brain_tumor",
                                    "visit": TODAY.isoformat(), "symptoms": "no", "infection": "no"}
    write_study(tmp_path / "study", [SeriesSpec("CT", 2, {"SliceThickness": "5.0"})], study_date=TODAY - dt.timedelta(days=3))
    patient.send(FileReceived(Upload(str(tmp_path / "study"), "study", 0, "")))
    assert any("Received study (1 file so far)" in text for text in patient.texts)
    patient.tap("Done")
    assert patient.case.state == "checking" and patient.actions[-1] == Action("check")
    report = check([tmp_path / "study"], Answers(condition="active_oncology", area="brain_tumor", visit=TODAY))
    shown = patient.send(CheckFinished(report.to_json()))
    assert patient.case.state == "checklist"
    assert "slices are 5 mm; for cancer work-up the hospital needs 2.5 mm or thinner" in shown[0]
    assert "Send this to a coordinator?" in shown[0]
    assert "1 series, 2 images" in shown[0]
    patient.tap("Yes, send it")
    assert Action("handoff") in patient.actions and patient.case.state == "finished"
    assert patient.case.status == "handed_off"


def test_back_from_every_step_returns_one_step_and_keeps_answers():
    patient = Patient()
    through_answers(patient)
    path = ["files", "infection", "symptoms", "visit_confirm", "visit", "area", "condition"]
    for expected in path:
        assert patient.case.state == expected
        patient.tap("Back")
    assert patient.case.state == "direction" and "Back" not in patient.labels()
    assert patient.case.answers["area"] == "brain_tumor"  # going back loses nothing already answered


def test_wrong_input_gets_a_hint_and_the_same_question():
    patient = Patient()
    agreed(patient, "Coming to China")
    shown = patient.send(Text("cancer"))
    assert shown[0] == "Please answer with one of the buttons." and "What is the treatment for?" in shown[1]
    shown = patient.send(FileReceived(Upload("/tmp/x", "x.dcm", 1, "")))
    assert "cannot take files at this step" in shown[0] and patient.case.uploads == []
    shown = patient.send(Command("frobnicate"))
    assert "Unknown command" in shown[0] and patient.case.state == "condition"


def test_a_button_from_an_earlier_question_shows_the_current_one():
    patient = Patient()
    patient.send(Command("start"))
    patient.tap("English")
    old = patient.buttons
    patient.tap("I agree")
    shown = patient.send(Button(old[0][1]))   # "I agree" again, from the old message
    assert "earlier question" in shown[0] and patient.case.state == "direction"
    shown = patient.send(Button("nonsense"))
    assert "earlier question" in shown[0]


def test_language_midway_keeps_every_answer_and_returns_to_the_step():
    patient = Patient()
    through_answers(patient)
    answers = dict(patient.case.answers)
    patient.send(Command("language"))
    shown = patient.tap("简体中文")
    assert patient.case.state == "files" and patient.case.answers == answers
    assert "请发送您的影像" in shown[0]


def test_restart_and_cancel():
    patient = Patient()
    through_answers(patient)
    patient.send(Command("restart"))
    assert patient.case.state == "direction" and patient.case.answers == {} and patient.case.consent
    patient.send(Command("cancel"))
    assert patient.case.state == "cancelled"
    patient.tap("Start again")
    assert patient.case.state == "direction"


def test_delete_asks_first_then_asks_the_channel_to_erase():
    patient = Patient()
    through_answers(patient)
    patient.send(Command("delete"))
    patient.tap("No, keep it")
    assert patient.case.state == "files" and not patient.actions
    patient.send(Command("delete"))
    shown = patient.tap("Yes, delete everything")
    assert patient.actions == [Action("delete")] and "has been deleted" in shown[0]


def test_done_without_files_is_refused():
    patient = Patient()
    through_answers(patient)
    shown = patient.tap("Done")
    assert "No files yet" in shown[0] and patient.case.state == "files"


def test_a_link_at_the_files_step_asks_the_channel_to_download_it():
    patient = Patient()
    through_answers(patient)
    shown = patient.send(Text(" https://www.dropbox.com/s/abc/study.zip?dl=0 "))
    assert patient.actions[-1] == Action("download", {"url": "https://www.dropbox.com/s/abc/study.zip?dl=0"})
    assert "Downloading the files now" in shown[0] and patient.case.state == "files"


@pytest.mark.parametrize("reason, words", [
    ("not_a_file", "opens a web page, not a file"),
    ("not_shared", "private, expired or removed"),
    ("refused", "private or local network address"),
    ("too_large", "larger than 2,048 MB"),
    ("failed", "did not finish"),
])
def test_a_link_that_could_not_be_downloaded_is_explained_and_the_step_kept(reason, words):
    patient = Patient()
    through_answers(patient)
    answers = dict(patient.case.answers)
    shown = patient.send(LinkFailed(reason, {"limit": 2048}))
    assert words in shown[0] and "Tap Done when everything is sent" in shown[1]
    assert patient.case.state == "files" and patient.case.answers == answers


def test_a_typed_date_is_confirmed_in_the_locale():
    patient = Patient()
    through_answers(patient)
    for _ in range(4):
        patient.tap("Back")
    assert patient.case.state == "visit"
    shown = patient.send(Text("2027-03-15"))
    assert "First hospital visit: Monday, March 15, 2027. Is that right?" in shown[0]
    patient.tap("No, another date")
    assert patient.case.state == "visit"
    shown = patient.send(Text("2025-01-10"))
    assert "already past" in shown[0]
    shown = patient.send(Text("banana"))
    assert patient.case.state == "visit_confirm"  # still confirming the date typed before


def test_outbound_flow_lists_records_with_chinese_names(tmp_path):
    patient = Patient()
    agreed(patient, "Going home")
    shown = patient.tap("oncologist")
    assert "pathology report (病理报告)" in shown[0] and "Needs a professional translation" in shown[0]
    assert "Takes 7-14 days" in shown[0] and "medical records office (病案室)" in shown[0]
    patient.tap("Check my disc")
    patient.send(FileReceived(Upload(str(tmp_path), "disc", 0, "")))
    patient.tap("Done")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    shown = patient.send(CheckFinished(check([tmp_path]).to_json()))
    assert "No DICOM images were found" in shown[0]


@pytest.mark.parametrize("message", sorted({state.question for state in FLOW.values()}))
def test_every_question_renders_in_every_locale(message):
    from dialogs.i18n import shipped

    case = Case(chat="t", answers={"visit": TODAY.isoformat(), "specialty": "oncology"})
    report = check([], Answers(visit=TODAY)).to_json()
    for locale in shipped():
        rendered = render(Reply(message, {"answers": case.answers, "uploads": 0, "report": report}), locale)
        assert rendered.text.strip()


def test_a_scan_known_only_from_a_pdf_gets_a_verdict_from_its_type_and_date(tmp_path):
    patient = Patient()
    through_answers(patient)
    (tmp_path / "ct-report.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    patient.send(FileReceived(Upload(str(tmp_path / "ct-report.pdf"), "ct-report.pdf", 15, "")))
    patient.tap("Done")
    first = check([tmp_path], Answers.from_dict(patient.case.answers, TODAY))
    shown = patient.send(CheckFinished(first.to_json()))
    assert patient.case.state == "paper_scan" and "You also sent 1 report or photo." in shown[0]
    patient.tap("CT")
    shown = patient.send(Text("2026-11-01"))
    assert patient.case.answers["paper_scans"] == [{"modality": "CT", "date": "2026-11-01"}]
    assert "another scan" in shown[0]
    patient.tap("No more such scans")
    assert patient.case.state == "checking" and patient.actions[-1] == Action("check")
    second = check([tmp_path], Answers.from_dict(patient.case.answers, TODAY))
    shown = patient.send(CheckFinished(second.to_json()))
    assert patient.case.state == "checklist"
    assert "22 days old on the visit day" in shown[0]
    assert "only a report or photo of this scan was sent: the hospital needs the DICOM originals" in shown[0]
    study = second.studies[0]
    assert study.verdict == "review" and {r.code for r in study.reasons} == {"within_window", "dicom_needed"}


def test_no_paper_question_when_nothing_but_dicom_was_sent(tmp_path):
    patient = Patient()
    through_answers(patient)
    write_study(tmp_path, [SeriesSpec("CT", 1, {"SliceThickness": "1.0"})], study_date=TODAY)
    patient.send(FileReceived(Upload(str(tmp_path), "study", 0, "")))
    patient.tap("Done")
    patient.send(CheckFinished(check([tmp_path], Answers.from_dict(patient.case.answers, TODAY)).to_json()))
    assert patient.case.state == "checklist"


@pytest.mark.parametrize("locale,expected", [
    ("en", ["ScanPass case 7: REDO", "Channel: telegram.", "Condition: active cancer treatment",
            "slices are 5 mm; for cancer work-up the hospital needs 2.5 mm or thinner [ct_thin_slices_needed]",
            "Files: 2 DICOM, 0 not DICOM, 0 unreadable."]),
    ("zh_Hans", ["ScanPass 病例 7：需重做", "层厚为 5 毫米", "文件：DICOM 2 个"]),
])
def test_handoff_summary_in_the_coordinators_locale(tmp_path, locale, expected):
    from dialogs.handoff import summary

    write_study(tmp_path, [SeriesSpec("CT", 2, {"SliceThickness": "5.0"})], study_date=TODAY - dt.timedelta(days=3))
    answers = {"condition": "active_oncology", "area": "lung", "visit": TODAY.isoformat(), "symptoms": "no",
               "infection": "no"}
    case = Case(chat="telegram:42", id=7, locale="ru", answers=answers,
                report=check([tmp_path], Answers.from_dict(answers)).to_json())
    text = summary(case, locale)
    for line in expected:
        assert line in text


def test_the_flow_diagram_beside_the_table_is_current():
    from pathlib import Path

    from dialogs.flow import diagram

    committed = (Path(__file__).resolve().parent.parent / "dialogs" / "flow.mmd").read_text(encoding="utf-8")
    assert committed == diagram(), "regenerate it: python -m dialogs.flow > dialogs/flow.mmd"


def test_back_through_the_outbound_flow():
    patient = Patient()
    agreed(patient, "Going home")
    patient.tap("cardiologist")
    patient.tap("Check my disc")
    for expected in ("out_files", "out_records", "out_specialty"):
        assert patient.case.state == expected
        patient.tap("Back")
    assert patient.case.state == "direction"
    patient.tap("Going home")
    shown = patient.tap("family doctor")
    assert "discharge summary (出院小结)" in shown[0] and "pathology report" not in shown[0]
