"""`scanpass chat` driven through a pipe as a person would type, with a restart of the process midway."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

from tests.factory import SeriesSpec, write_study


def chat(tmp_path, lines: list[str], lang: str = "en", database_url: str | None = None) -> str:
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "NO_COLOR": "1"}
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    done = subprocess.run([sys.executable, "-m", "bot.cli", "chat", "--lang", lang], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_inbound_to_the_checklist_across_a_restart(tmp_path, database_url):
    study = tmp_path / "study"
    write_study(study, [SeriesSpec("CT", 3, {"SliceThickness": "5.0"})], study_date=dt.date.today() - dt.timedelta(days=3))
    first = chat(tmp_path, ["1", "1", "1", "1"], database_url=database_url)  # English, agree, to China, oncology
    assert "Which part of the body is being treated?" in first.split("> ")[-2]
    second = chat(tmp_path, ["7", "1", "1", "2", "2", str(study), "1", "2"], database_url=database_url)  # restarted
    assert "Welcome back. Here is where you left off." in second
    assert "Which part of the body is being treated?" in second
    assert "Received study.zip (1 file so far)." in second
    assert "slices are 5 mm; for cancer work-up the hospital needs 2.5 mm or thinner" in second
    assert "Thank you. You can start again at any time." in second


def test_bad_input_is_answered_and_nothing_is_lost(tmp_path):
    out = chat(tmp_path, ["1", "1", "1", "hello", "42", str(tmp_path / "nope.dcm"), "1", "/language", "2"])
    assert "Please answer with one of the buttons." in out   # free text where a button is expected
    assert out.count("What is the treatment for?") >= 3       # asked again each time
    assert "治疗的是身体哪个部位？" in out                       # switched to Chinese at the area step, answers kept


def test_delete_erases_the_case_and_its_files(tmp_path):
    study = tmp_path / "study"
    write_study(study, [SeriesSpec("CT", 1, {})])
    chat(tmp_path, ["1", "1", "1", "1", "1", "1", "1", "2", "2", str(study)])
    uploads = tmp_path / "data" / "uploads"
    assert any(uploads.rglob("*.zip"))
    out = chat(tmp_path, ["/delete", "1"])
    assert "Everything you gave us has been deleted." in out
    assert not any(uploads.rglob("*.zip"))
    again = chat(tmp_path, ["/start"])
    assert "Choose your language." in again


def test_russian_inbound_switching_to_arabic_midway_keeps_the_answers(tmp_path, database_url):
    study = tmp_path / "study"
    write_study(study, [SeriesSpec("CT", 2, {"SliceThickness": "1.0"})], study_date=dt.date.today() - dt.timedelta(days=3))
    # Русский, согласен, в Китай, онкология, опухоль мозга
    out = chat(tmp_path, ["3", "1", "1", "1", "1", "в следующий вторник", "1"], lang="ru", database_url=database_url)
    assert "Какая часть тела" in out or "Когда" in out
    out = chat(tmp_path, ["/language", "4", "2", "2", str(study), "1", "2"], lang="ru", database_url=database_url)
    assert "أرسل فحوصك" in out                  # the files step, now in Arabic
    assert "ورم في الدماغ" in out                 # the area answered in Russian is still there in the checklist
    assert "صالح للاستخدام" in out                 # the verdict, in Arabic


def test_outbound_in_english_lists_what_to_ask_for(tmp_path):
    out = chat(tmp_path, ["1", "1", "2", "2"])     # English, I agree, going home, oncologist
    assert "pathology report (病理报告)" in out and "Takes 7-14 days" in out


def test_a_pdf_only_scan_of_unknown_date_reaches_the_checklist(tmp_path):
    report = tmp_path / "ct-report.pdf"
    report.write_bytes(b"%PDF-1.4\n%%EOF\n")
    # English, agree, to China, oncology, brain tumour, today, yes, no symptoms, no infection, the PDF, Done,
    # it is a CT, "I don't know" its date, no more such scans
    out = chat(tmp_path, ["1", "1", "1", "1", "1", "1", "1", "2", "2", str(report), "1", "1", "1", "6"])
    assert "- the scan has no date, so its age cannot be checked" in out
    assert "Send this to a coordinator?" in out
    again = chat(tmp_path, ["/start"])          # coming back shows the same checklist, no crash
    assert "the scan has no date, so its age cannot be checked" in again


def test_a_case_stuck_on_an_undated_checklist_continues(tmp_path):
    """A case saved at the checklist with an undated scan (which crashed every start before the fix)."""
    from storage import Repository, Settings

    from rules import Answers, check

    study = tmp_path / "undated"
    write_study(study, [SeriesSpec("CT", 1, {"SliceThickness": "1.0"})], study_date=None)
    answers = {"visit": dt.date.today().isoformat(), "condition": "other", "area": "other", "symptoms": "no",
               "infection": "no"}
    stuck = check([study], Answers.from_dict(answers)).to_json()
    assert stuck["studies"][0]["reasons"][0] == {"code": "date_unknown", "verdict": "review"}
    with Repository.from_settings(Settings(data_dir=tmp_path / "data")) as repository:
        with repository.step("terminal:local") as case:
            case.consent, case.state, case.report = True, "checklist", stuck
            case.answers = dict(answers, direction="inbound")
    out = chat(tmp_path, ["1"])                 # back again, then "Yes, send it"
    assert "Welcome back" in out and "the scan has no date, so its age cannot be checked" in out
    assert "Sent" in out
