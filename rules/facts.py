"""Facts read from DICOM headers: one `ImageFacts` per file, one `SeriesFacts` per series.

`ImageFacts.from_dataset()` is the only place that turns a pydicom Dataset into
facts. Every value is read defensively: a wrong VR or a garbage value becomes
`None` (or an empty tuple), never an exception, so a damaged tag costs one fact,
not the whole file.
"""
from __future__ import annotations

import datetime as dt
import math
import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Protocol

from rules.dicomlib import pydicom

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"

# Private tags holding a diffusion b-value, by private creator and element offset.
# Siemens: (0019,xx0C) B_value; GE: (0043,xx39) slop_int_6 (first value is b, sometimes + 1e9);
# Philips: (2001,xx03) Diffusion B-Factor; Canon/Toshiba: (700D,xx08)? not relied on.
PRIVATE_B_VALUE = (
    (0x0019, "SIEMENS MR HEADER", 0x0C),
    (0x0043, "GEMS_PARM_01", 0x39),
    (0x2001, "Philips Imaging DD 001", 0x03),
)
# Groups the reader must keep for the private tags above.
PRIVATE_GROUPS_READ = frozenset(group for group, _, _ in PRIVATE_B_VALUE)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(_text(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("latin-1", "replace").strip(" \x00")
    return str(value).strip(" \x00")


def _codes(value: Any) -> tuple[str, ...]:
    """A multi-valued code string as a tuple of upper-case codes."""
    text = _text(value)
    return tuple(part.strip().upper() for part in text.split("\\") if part.strip())


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else None
        if value is None:
            return None
    try:
        number = float(_text(value) if isinstance(value, (bytes, str)) else value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _float(value)
    if number is None or abs(number) > 2**31:
        return None
    return int(number)


def parse_date(value: Any) -> dt.date | None:
    """A DICOM DA value (YYYYMMDD, or the old YYYY.MM.DD) as a date; None when empty or impossible."""
    text = _text(value).replace(".", "").replace("-", "")[:8]
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


class Header(Protocol):
    """Where facts come from: a pydicom Dataset, or the raw elements the fast reader kept."""

    def get(self, keyword: str) -> Any: ...

    def items(self, keyword: str) -> list["Header"]: ...

    def private(self, group: int, creator: str, offset: int) -> Any: ...


class DatasetHeader:
    """A pydicom Dataset seen as a `Header`; values pydicom cannot convert are absent."""

    def __init__(self, ds: Dataset):
        pydicom()  # lenient reading, set once before any value is converted
        self.ds = ds

    def get(self, keyword: str) -> Any:
        try:
            element = self.ds[keyword] if keyword in self.ds else None
            return None if element is None else element.value
        except Exception:  # a value pydicom cannot convert is simply absent for us
            return None

    def items(self, keyword: str) -> list["Header"]:
        value = self.get(keyword)
        try:
            dataset = pydicom().dataset.Dataset
            return [DatasetHeader(item) for item in value if isinstance(item, dataset)] if value else []
        except TypeError:
            return []

    def private(self, group: int, creator: str, offset: int) -> Any:
        try:
            return self.ds.private_block(group, creator)[offset].value
        except Exception:
            return None

    def has_private_tags(self) -> bool:
        return any(tag.group % 2 == 1 and tag.group > 0x0008 and tag.element >= 0x0010 for tag in self.ds.keys())


def _b_values(header: Header, per_frame: list[Header]) -> tuple[float, ...]:
    found = set()
    for value in [header.get("DiffusionBValue")] + [header.private(*key) for key in PRIVATE_B_VALUE]:
        number = _float(value)
        if number is not None:
            found.add(number - 1e9 if number >= 1e9 else number)  # GE flags some b-values with +1e9
    for frame in per_frame:
        for item in frame.items("MRDiffusionSequence"):
            number = _float(item.get("DiffusionBValue"))
            if number is not None:
                found.add(number)
    return tuple(sorted(found))


def _first(*values: Any) -> Any:
    for value in values:
        if value not in (None, "", ()):
            return value
    return None


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What the checker knows about one DICOM file (or one enhanced multi-frame object)."""

    source: str
    sop_class_uid: str = ""
    transfer_syntax: str = ""
    study_uid: str = ""
    series_uid: str = ""
    modality: str = ""
    study_date: dt.date | None = None
    series_date: dt.date | None = None
    acquisition_date: dt.date | None = None
    content_date: dt.date | None = None
    body_part: str = ""
    study_description: str = ""
    series_description: str = ""
    protocol_name: str = ""
    institution: str = ""
    manufacturer: str = ""
    series_number: int | None = None
    slice_thickness: float | None = None
    field_strength: float | None = None
    image_type: tuple[str, ...] = ()
    scanning_sequence: tuple[str, ...] = ()
    sequence_variant: tuple[str, ...] = ()
    scan_options: tuple[str, ...] = ()
    mr_acquisition_type: str = ""
    sequence_name: str = ""
    echo_time: float | None = None
    repetition_time: float | None = None
    inversion_time: float | None = None
    flip_angle: float | None = None
    b_values: tuple[float, ...] = ()
    diffusion_directionality: str = ""
    contrast_agent: str = ""
    temporal_positions: int | None = None
    temporal_position: int | None = None
    cardiac_phases: int | None = None
    trigger_time: float | None = None
    frames: int = 1
    has_private_tags: bool = False
    radionuclide_dose: float | None = None
    radiopharmaceutical_start: str = ""
    patient_weight: float | None = None
    acquisition_time: str = ""
    contrast_start_time: str = ""

    @property
    def is_dicomdir(self) -> bool:
        return self.sop_class_uid == DICOMDIR_SOP_CLASS

    def with_source(self, source: str) -> "ImageFacts":
        """The same facts for another file (the reader's cache of facts by header)."""
        copy = object.__new__(ImageFacts)
        for put, value in zip(_SLOT_SETTERS, _SLOT_VALUES(self)):  # slot descriptors: a frozen copy, fast
            put(copy, value)
        _SOURCE_SETTER(copy, source)
        return copy

    @classmethod
    def from_dataset(cls, ds: Dataset, source: str) -> "ImageFacts":
        """Facts of a dataset pydicom read (the reader's slow path, and tests)."""
        meta = getattr(ds, "file_meta", None)
        meta_header = DatasetHeader(meta) if meta is not None else None
        return cls.from_header(
            DatasetHeader(ds),
            source,
            transfer_syntax=_text(meta_header.get("TransferSyntaxUID")) if meta_header else "",
            media_sop_class=_text(meta_header.get("MediaStorageSOPClassUID")) if meta_header else "",
            has_private_tags=DatasetHeader(ds).has_private_tags(),
        )

    @classmethod
    def from_header(
        cls, ds: Header, source: str, transfer_syntax: str, media_sop_class: str, has_private_tags: bool
    ) -> "ImageFacts":
        sop_class = _text(ds.get("SOPClassUID")) or media_sop_class
        if sop_class == DICOMDIR_SOP_CLASS:
            return cls(source=source, sop_class_uid=sop_class, transfer_syntax=transfer_syntax)
        get = ds.get

        # Enhanced multi-frame objects keep most MR/CT parameters in functional groups.
        per_frame = ds.items("PerFrameFunctionalGroupsSequence")
        groups = ds.items("SharedFunctionalGroupsSequence")[:1] + per_frame[:1]

        def grouped(macro: str, keyword: str) -> Any:
            for group in groups:
                for item in group.items(macro):
                    value = item.get(keyword)
                    if value not in (None, ""):
                        return value
            return None

        contrast = _text(get("ContrastBolusAgent"))
        if not contrast and any(
            _text(item.get("ContrastBolusAgentAdministered")).upper() == "YES"
            for group in groups
            for item in group.items("ContrastBolusUsageSequence")
        ):
            contrast = "YES"
        pharm = ds.items("RadiopharmaceuticalInformationSequence")[:1]

        def pharm_get(keyword: str) -> Any:
            return pharm[0].get(keyword) if pharm else None

        return cls(
            source=source,
            sop_class_uid=sop_class,
            transfer_syntax=transfer_syntax,
            study_uid=_text(get("StudyInstanceUID")),
            series_uid=_text(get("SeriesInstanceUID")),
            modality=_text(get("Modality")).upper(),
            study_date=parse_date(get("StudyDate")),
            series_date=parse_date(get("SeriesDate")),
            acquisition_date=parse_date(get("AcquisitionDate")) or parse_date(_text(get("AcquisitionDateTime"))[:8]),
            content_date=parse_date(get("ContentDate")),
            body_part=_text(get("BodyPartExamined")).upper(),
            study_description=_text(get("StudyDescription")),
            series_description=_text(get("SeriesDescription")),
            protocol_name=_text(get("ProtocolName")),
            institution=_text(get("InstitutionName")),
            manufacturer=_text(get("Manufacturer")),
            series_number=_int(get("SeriesNumber")),
            slice_thickness=_float(_first(get("SliceThickness"), grouped("PixelMeasuresSequence", "SliceThickness"))),
            field_strength=_float(get("MagneticFieldStrength")),
            image_type=_codes(get("ImageType")) or _codes(grouped("MRImageFrameTypeSequence", "FrameType") or grouped("CTImageFrameTypeSequence", "FrameType")),
            scanning_sequence=_codes(get("ScanningSequence")) or _codes(get("EchoPulseSequence")),
            sequence_variant=_codes(get("SequenceVariant")),
            scan_options=_codes(get("ScanOptions")),
            mr_acquisition_type=_text(get("MRAcquisitionType")).upper(),
            sequence_name=_text(_first(get("SequenceName"), get("PulseSequenceName"))),
            echo_time=_float(_first(get("EchoTime"), grouped("MREchoSequence", "EffectiveEchoTime"))),
            repetition_time=_float(_first(get("RepetitionTime"), grouped("MRTimingAndRelatedParametersSequence", "RepetitionTime"))),
            inversion_time=_float(_first(get("InversionTime"), grouped("MRModifierSequence", "InversionTimes"))),
            flip_angle=_float(_first(get("FlipAngle"), grouped("MRTimingAndRelatedParametersSequence", "FlipAngle"))),
            b_values=_b_values(ds, per_frame),
            diffusion_directionality=_text(_first(get("DiffusionDirectionality"), grouped("MRDiffusionSequence", "DiffusionDirectionality"))).upper(),
            contrast_agent=contrast,
            temporal_positions=_int(get("NumberOfTemporalPositions")),
            temporal_position=_int(_first(get("TemporalPositionIdentifier"), grouped("FrameContentSequence", "TemporalPositionIndex"))),
            cardiac_phases=_int(get("CardiacNumberOfImages")),
            trigger_time=_float(_first(get("TriggerTime"), grouped("CardiacSynchronizationSequence", "NominalCardiacTriggerDelayTime"))),
            frames=max(1, _int(get("NumberOfFrames")) or 1),
            has_private_tags=has_private_tags,
            radionuclide_dose=_float(pharm_get("RadionuclideTotalDose")),
            radiopharmaceutical_start=_text(_first(pharm_get("RadiopharmaceuticalStartDateTime"), pharm_get("RadiopharmaceuticalStartTime"))),
            patient_weight=_float(get("PatientWeight")),
            acquisition_time=_text(get("AcquisitionTime")),
            contrast_start_time=_text(get("ContrastBolusStartTime")),
        )


_SOURCE_SETTER = ImageFacts.source.__set__
_SLOT_SETTERS = tuple(getattr(ImageFacts, name).__set__ for name in ImageFacts.__slots__)
_SLOT_VALUES = operator.attrgetter(*ImageFacts.__slots__)


@dataclass(slots=True)
class SeriesFacts:
    """One series (SeriesInstanceUID): the first image's facts plus what varies across images."""

    first: ImageFacts
    images: int = 0
    frames: int = 0
    sources: list[str] = field(default_factory=list)
    thinnest: float | None = None
    b_values: set[float] = field(default_factory=set)
    image_types: set[str] = field(default_factory=set)
    temporal_positions: set[int] = field(default_factory=set)
    trigger_times: set[float] = field(default_factory=set)
    acquisition_times: set[str] = field(default_factory=set)
    transfer_syntaxes: set[str] = field(default_factory=set)
    has_private_tags: bool = False

    def add(self, image: ImageFacts) -> None:
        self.images += 1
        self.frames += image.frames
        if len(self.sources) < 3:
            self.sources.append(image.source)
        if image.slice_thickness is not None and image.slice_thickness > 0:
            self.thinnest = image.slice_thickness if self.thinnest is None else min(self.thinnest, image.slice_thickness)
        self.b_values.update(image.b_values)
        self.image_types.update(image.image_type)
        if image.temporal_position is not None:
            self.temporal_positions.add(image.temporal_position)
        if image.trigger_time is not None and len(self.trigger_times) < 64:
            self.trigger_times.add(image.trigger_time)
        if image.acquisition_time and len(self.acquisition_times) < 64:
            self.acquisition_times.add(image.acquisition_time)
        if image.transfer_syntax:
            self.transfer_syntaxes.add(image.transfer_syntax)
        self.has_private_tags |= image.has_private_tags

    def merge(self, other: "SeriesFacts") -> None:
        """Fold in the same series as seen by another worker."""
        self.images += other.images
        self.frames += other.frames
        self.sources.extend(other.sources[: max(0, 3 - len(self.sources))])
        if other.thinnest is not None:
            self.thinnest = other.thinnest if self.thinnest is None else min(self.thinnest, other.thinnest)
        self.b_values |= other.b_values
        self.image_types |= other.image_types
        self.temporal_positions |= other.temporal_positions
        self.trigger_times |= set(list(other.trigger_times)[: max(0, 64 - len(self.trigger_times))])
        self.acquisition_times |= set(sorted(other.acquisition_times)[: max(0, 64 - len(self.acquisition_times))])
        self.transfer_syntaxes |= other.transfer_syntaxes
        self.has_private_tags |= other.has_private_tags

    @staticmethod
    def key(image: ImageFacts) -> str:
        return image.series_uid or f"{image.study_uid}/{image.series_number}/{image.series_description}"

    @classmethod
    def group(cls, images: Iterable[ImageFacts], into: dict[str, "SeriesFacts"] | None = None) -> dict[str, "SeriesFacts"]:
        series: dict[str, SeriesFacts] = {} if into is None else into
        for image in images:
            key = cls.key(image)
            if key not in series:
                series[key] = cls(first=image)
            series[key].add(image)
        return series

    # Convenience views used by the sequence classifier and the policy.
    @property
    def modality(self) -> str:
        return self.first.modality

    @property
    def description(self) -> str:
        return self.first.series_description or self.first.protocol_name

    @property
    def text(self) -> str:
        """Everything a person typed about this series, for name matching."""
        parts = [self.first.series_description, self.first.protocol_name, self.first.sequence_name]
        return " | ".join(part for part in parts if part)
