"""Applies the policy to each study: reasons, notes and the verdict (the worst of its reasons).

Every number comes from `rules/policy.toml`; this module only knows which fact
each rule looks at.
"""
from __future__ import annotations

from rules import sequence_physics, sequences, slots
from rules.answers import Answers, PaperScan
from rules.facts import SeriesFacts
from rules.policy import Policy
from rules.report import NO_DICOM, Files, Note, Reason, Report, SeriesReport, StudyReport
from rules.studies import Study
from rules.verdict import Verdict

PET_FIELD_FACTS = {"RadionuclideTotalDose": "radionuclide_dose", "RadiopharmaceuticalStartTime": "radiopharmaceutical_start",
                   "PatientWeight": "patient_weight"}


def nominal_field(value: float | None, policy: Policy) -> float | None:
    """MagneticFieldStrength as the magnet's nominal tesla: gauss converted, measured values rounded."""
    rule = policy.section("mr_field_strength")
    if value is None or value <= 0:
        return None
    tesla = value / rule["gauss_per_tesla"] if value > rule["gauss_above"] else value
    nearest = min(rule["nominal"], key=lambda nominal: abs(nominal - tesla))
    return float(nearest) if abs(nearest - tesla) <= rule["nominal_tolerance"] else round(tesla, 2)


def _age_reason(date, modality: str, answers: Answers, policy: Policy) -> tuple[Reason, int | None]:
    if date is None or date > answers.visit:
        return Reason("date_unknown", policy.verdict("age", "date_unknown"), value=date.isoformat() if date else None), None
    age = (answers.visit - date).days
    window = policy.window(answers.condition, modality)
    if age <= window.usable:
        return Reason("within_window", policy.verdict("age", "within_window"), value=age, limit=window.usable), age
    if window.review is not None and age <= window.review:
        return Reason("near_window_limit", policy.verdict("age", "near_window_limit"), value=age, limit=window.usable,
                      upper=window.review), age
    return Reason("beyond_window", window.beyond, value=age, limit=window.review or window.usable), age


def _modality_reason(modality: str, policy: Policy) -> Reason | None:
    caps = policy.section("modality_caps")
    if modality in policy.section("modalities")["judged"]:
        return None
    cap = caps.get(modality, caps["other"])
    return Reason(cap["reason"], Verdict(cap["verdict"]), value=modality)


def _ct_reason(study: Study, answers: Answers, policy: Policy) -> Reason | None:
    if study.modality != "CT":  # the CT of a PET-CT is part of the PET examination
        return None
    rule = policy.section("ct_slice_thickness")
    thicknesses = [s.thinnest for s in study.series_of("CT") if s.thinnest is not None and not sequences.is_auxiliary(s)]
    if not thicknesses:
        return None
    thinnest = min(thicknesses)
    oncology = answers.condition in rule["oncology_conditions"] or answers.area in rule["oncology_areas"]
    if oncology and thinnest > rule["oncology_max_mm"]:
        return Reason("ct_thin_slices_needed", Verdict(rule["verdict"]), value=thinnest, limit=rule["oncology_max_mm"])
    if thinnest > rule["max_mm"]:
        return Reason("ct_slice_too_thick", Verdict(rule["verdict"]), value=thinnest, limit=rule["max_mm"])
    return None


def _field_reason(study: Study, policy: Policy) -> Reason | None:
    if study.modality != "MR":
        return None
    fields = [nominal_field(s.first.field_strength, policy) for s in study.series_of("MR")]
    known = [value for value in fields if value is not None]
    if not known:
        return Reason("field_strength_unknown", policy.verdict("mr_field_strength", "unknown_verdict"))
    strongest, limit = max(known), policy.section("mr_field_strength")["min_tesla"]
    if strongest < limit:
        return Reason("mr_low_field", policy.verdict("mr_field_strength", "low_field_verdict"), value=strongest, limit=limit)
    return None


def _sequence_reason(study: Study, found: list[str], answers: Answers, policy: Policy) -> tuple[Reason | None, list[str]]:
    required = policy.required(answers.area)
    if not required or study.modality not in required["modalities"]:
        return None, []
    missing = [code for code in required["sequences"] if code not in found]
    if not missing:
        return None, []
    verdict = Verdict(policy.section("sequences")["missing_verdict"])
    return Reason("missing_sequences", verdict, missing=tuple(missing), found=tuple(found)), missing


def _pet_reason(study: Study, policy: Policy) -> Reason | None:
    if study.modality != "PT":
        return None
    pet = study.series_of("PT")
    missing = []
    for field in policy.section("pet_suv")["fields"]:
        values = [getattr(series.first, PET_FIELD_FACTS[field]) for series in pet]
        if not any(values):  # absent, empty or zero in every PET series
            missing.append(field)
    return Reason("pet_suv_data_missing", policy.verdict("pet_suv", "verdict"), missing=tuple(missing)) if missing else None


def _answer_reasons(answers: Answers, policy: Policy) -> list[Reason]:
    reasons = []
    rule = policy.section("answers")
    if answers.symptoms in rule["symptoms"]:
        reasons.append(Reason("symptoms_changed", Verdict(rule["symptoms"][answers.symptoms]), value=answers.symptoms))
    if answers.infection in rule["infection"]:
        reasons.append(Reason("infection_in_house", Verdict(rule["infection"][answers.infection])))
    presurgical = policy.section("presurgical")
    if answers.condition in presurgical["conditions"]:
        reasons.append(Reason("presurgical_localisation", Verdict(presurgical["cap"]), value=answers.condition))
    return reasons


def _series_report(series: SeriesFacts, code: str | None, policy: Policy) -> SeriesReport:
    return SeriesReport(
        series_instance_uid=series.first.series_uid,
        description=series.description,
        modality=series.modality,
        images=series.images,
        slice_thickness=series.thinnest,
        field_strength=nominal_field(series.first.field_strength, policy) if series.modality == "MR" else None,
        sequence=code,
        transfer_syntax=sorted(series.transfer_syntaxes)[0] if series.transfer_syntaxes else "",
        series_number=series.first.series_number,
        body_part=series.first.body_part,
        series_date=series.first.series_date or series.first.study_date,
        institution=series.first.institution,
        private_tags=series.has_private_tags,
        pet_suv={field: getattr(series.first, fact) or None for field, fact in PET_FIELD_FACTS.items()}
        if series.modality == "PT" else None,
    )


def judge(study: Study, answers: Answers, policy: Policy) -> StudyReport:
    """One study's verdict, reasons and notes (notes that need the other studies are added by `judge_all`)."""
    codes = {id(series): sequences.classify(series) for series in study.all_series}
    # the slots this study's image series fill for the patient's area, in the policy's canonical order
    found = slots.filled(((series, codes[id(series)]) for series in study.series), answers.area, policy,
                         sequence_physics.load())
    age_reason, age = _age_reason(study.dated[0], study.modality, answers, policy)
    sequence_reason, missing = _sequence_reason(study, found, answers, policy)
    reasons = [age_reason] + [
        reason
        for reason in (_modality_reason(study.modality, policy), _ct_reason(study, answers, policy), _field_reason(study, policy),
                       sequence_reason, _pet_reason(study, policy))
        if reason is not None
    ] + _answer_reasons(answers, policy)

    notes = []
    note_rules = policy.section("notes")
    if study.modality in note_rules["bring_english_report"]["modalities"]:
        notes.append(Note("bring_english_report"))
    if study.transfer_syntaxes & set(note_rules["jpeg2000"]["transfer_syntaxes"]):
        notes.append(Note("jpeg2000"))
    if study.has_private_tags:
        notes.append(Note("private_tags"))
    date, date_source = study.dated
    return StudyReport(
        study_instance_uid=study.uid,
        modality=study.modality,
        body_part=study.body_part,
        study_date=date,
        age_days=age,
        verdict=max(reason.verdict for reason in reasons),
        reasons=reasons,
        notes=notes,
        series=[_series_report(series, codes[id(series)], policy) for series in study.all_series],
        sequences_found=found,
        sequences_missing=missing,
        description=study.description,
        institution=study.institution,
        date_source=date_source,
    )


def judge_paper(scan: PaperScan, number: int, answers: Answers, policy: Policy) -> StudyReport:
    """A scan known only from a report or photo: judged by its type and age, and always `dicom_needed`."""
    age_reason, age = _age_reason(scan.date, scan.modality, answers, policy)
    paper = policy.section("paper_scans")
    reasons = [age_reason] + [r for r in (_modality_reason(scan.modality, policy),) if r is not None]
    reasons += [Reason("dicom_needed", Verdict(paper["verdict"]))] + _answer_reasons(answers, policy)
    return StudyReport(study_instance_uid=f"paper:{number}", modality=scan.modality, body_part="",
                       study_date=scan.date, age_days=age, verdict=max(r.verdict for r in reasons), reasons=reasons,
                       notes=[], series=[], sequences_found=[], sequences_missing=[], date_source="answer")


def judge_all(studies: list[Study], files: Files, answers: Answers, policy: Policy) -> Report:
    reports = [judge(study, answers, policy) for study in studies]
    reports += [judge_paper(scan, number, answers, policy) for number, scan in enumerate(answers.paper_scans, 1)]
    # An older study of the same modality and body part beside a newer one: bring only the newest.
    newest: dict[tuple[str, str], StudyReport] = {}
    for report in reports:  # studies come newest first
        if report.study_date is None or not report.body_part:
            continue
        key = (report.modality, report.body_part)
        if key in newest:
            report.notes.append(Note("older_duplicate", value=newest[key].study_date.isoformat()))
        else:
            newest[key] = report
    notes = []
    institutions = set().union(*(study.institutions for study in studies)) if studies else set()
    if len(institutions) > policy.section("notes")["several_facilities"]["more_than"]:
        notes.append(Note("several_facilities", value=len(institutions)))
    if files.not_dicom:
        notes.append(Note("not_dicom", value=len(files.not_dicom)))
    overall = str(max(report.verdict for report in reports)) if reports else NO_DICOM
    return Report(overall=overall, notes=notes, studies=reports, files=files, answers=answers)
