"""Groups series into studies (one StudyInstanceUID each) and picks each study's primary modality.

A study with PT series is a PET study (PET-CT or PET-MR): `PT`. Secondary
captures, dose reports and structured reports inside a study are kept aside as
`supporting` series: they neither decide the verdict nor make a study of their
own. A study made only of such objects is still a study (judged as what it is).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from rules.facts import SeriesFacts
from rules.policy import Policy


@dataclass(slots=True)
class Study:
    uid: str
    modality: str
    series: list[SeriesFacts] = field(default_factory=list)
    supporting: list[SeriesFacts] = field(default_factory=list)

    @property
    def all_series(self) -> list[SeriesFacts]:
        return self.series + self.supporting

    def series_of(self, *modalities: str) -> list[SeriesFacts]:
        return [series for series in self.series if series.modality in modalities]

    @property
    def body_part(self) -> str:
        primary = self.series_of(self.modality) or self.series
        parts = Counter(series.first.body_part for series in primary if series.first.body_part)
        return parts.most_common(1)[0][0] if parts else ""

    @property
    def description(self) -> str:
        return next((s.first.study_description for s in self.all_series if s.first.study_description), "")

    @property
    def institutions(self) -> set[str]:
        return {" ".join(s.first.institution.casefold().split()) for s in self.all_series if s.first.institution.strip()}

    @property
    def institution(self) -> str:
        return next((s.first.institution.strip() for s in self.all_series if s.first.institution.strip()), "")

    @property
    def dated(self) -> tuple[dt.date | None, str | None]:
        """The study's date and which tag it came from: StudyDate, else SeriesDate, AcquisitionDate, ContentDate."""
        for attribute, tag in (("study_date", "StudyDate"), ("series_date", "SeriesDate"),
                               ("acquisition_date", "AcquisitionDate"), ("content_date", "ContentDate")):
            dates = [getattr(s.first, attribute) for s in self.all_series if getattr(s.first, attribute)]
            if dates:
                return min(dates), tag
        return None, None

    @property
    def transfer_syntaxes(self) -> set[str]:
        return set().union(*(series.transfer_syntaxes for series in self.all_series))

    @property
    def has_private_tags(self) -> bool:
        return any(series.has_private_tags for series in self.all_series)


def assemble(series: Iterable[SeriesFacts], policy: Policy) -> list[Study]:
    """Studies, newest first (undated last), each with its primary modality."""
    supporting = set(policy.section("modalities")["supporting"])
    order = policy.section("modalities")["primary_order"]
    by_uid: dict[str, Study] = {}
    for one in series:
        uid = one.first.study_uid or f"unknown:{one.first.series_uid}"
        study = by_uid.setdefault(uid, Study(uid=uid, modality=""))
        (study.supporting if one.modality in supporting else study.series).append(one)
    studies = []
    for study in by_uid.values():
        if not study.series:  # only captures or reports: judged as what they are
            study.series, study.supporting = study.supporting, []
        modalities = {series.modality for series in study.series}
        study.modality = next((m for m in order if m in modalities), None) or sorted(modalities)[0] or "OT"
        for group in (study.series, study.supporting):  # the primary modality's series first, then by number
            group.sort(key=lambda s, primary=study.modality: (
                s.modality != primary, s.first.series_number is None, s.first.series_number or 0, s.description))
        studies.append(study)
    studies.sort(key=lambda s: (s.dated[0] is None, -(s.dated[0].toordinal() if s.dated[0] else 0), s.modality))
    return studies
