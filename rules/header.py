"""Reads the header of one DICOM file from a stream, never its pixel data.

Speed matters here: a disc holds thousands of files, and pydicom's own reader
turns every element of a header into Python objects. This reader walks the
element headers of the two common encodings (explicit and implicit VR little
endian) with `struct`, skipping the values it does not need, and hands only the
needed elements to pydicom as raw elements; pydicom converts those (character
sets, VRs, sequences). Anything else (big endian, deflated, a header it cannot
walk) goes to pydicom's reader as it is.

A file is DICOM when it has the Part 10 preamble or, without one, starts like
a dataset (file meta group, or group 0008 in either encoding). DICOM that
cannot be read is `Unreadable` with a short code; anything else is `NotDicom`
with its kind.
"""
from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from typing import Any, BinaryIO

import pydicom
from pydicom import config
from pydicom.charset import convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.errors import InvalidDicomError
from pydicom.values import convert_SQ

from rules.facts import DICOMDIR_SOP_CLASS, PRIVATE_B_VALUE, DatasetHeader, Header, ImageFacts
from rules.filekinds import kind_of

# Garbage values in the tags we read become "absent", never an exception or a warning per file.
config.settings.reading_validation_mode = config.IGNORE

NEEDED_KEYWORDS = (
    "SpecificCharacterSet ImageType SOPClassUID StudyDate SeriesDate AcquisitionDate ContentDate "
    "AcquisitionDateTime AcquisitionTime Modality Manufacturer InstitutionName StudyDescription "
    "SeriesDescription PatientWeight ContrastBolusAgent ContrastBolusStartTime BodyPartExamined SliceThickness RepetitionTime "
    "EchoTime InversionTime MagneticFieldStrength ScanningSequence SequenceVariant ScanOptions "
    "MRAcquisitionType SequenceName FlipAngle ProtocolName TriggerTime CardiacNumberOfImages "
    "DiffusionBValue DiffusionDirectionality EchoPulseSequence PulseSequenceName StudyInstanceUID "
    "SeriesInstanceUID SeriesNumber TemporalPositionIdentifier NumberOfTemporalPositions NumberOfFrames "
    "RadiopharmaceuticalInformationSequence SharedFunctionalGroupsSequence PerFrameFunctionalGroupsSequence"
).split()
KEYWORD_TAGS = {keyword: tag_for_keyword(keyword) for keyword in NEEDED_KEYWORDS}
NEEDED_TAGS = frozenset(KEYWORD_TAGS.values())
TAG_VRS = {tag: dictionary_VR(tag) for tag in NEEDED_TAGS}
# Private creators whose blocks hold a value we read: (group, creator) -> [(element offset, key)].
PRIVATE_CREATORS: dict[tuple[int, str], list[int]] = {}
for _group, _creator, _offset in PRIVATE_B_VALUE:
    PRIVATE_CREATORS.setdefault((_group, _creator), []).append(_offset)
PRIVATE_GROUPS = frozenset(group for group, _ in PRIVATE_CREATORS)

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
READ_BY_PYDICOM = {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}  # not walked here: pydicom reads them

FIRST_READ = 16 * 1024
MAX_HEADER = 64 * 1024 * 1024  # a header larger than this is not a header
UNDEFINED = 0xFFFFFFFF
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
VALID_VRS = LONG_VRS | frozenset(
    {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
)
PIXEL_DATA_GROUP = 0x7FE0
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD

_EXPLICIT = struct.Struct("<HH2sH")
_LONG = struct.Struct("<L")
_TAG_LENGTH = struct.Struct("<HHL")


@dataclass(frozen=True, slots=True)
class NotDicom:
    source: str
    kind: str


@dataclass(frozen=True, slots=True)
class Unreadable:
    source: str
    error: str


ReadResult = ImageFacts | NotDicom | Unreadable


class HeaderError(Exception):
    """The file is DICOM but its header cannot be read; `code` says why."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class _Unsupported(Exception):
    """Not walked here; pydicom's reader gets the file."""


class _Walker:
    """Element headers of one file, pulled from a stream as the walk goes on.

    `buf` holds the file's bytes from offset `start`. Bytes behind the walk are
    dropped unless a needed sequence is being kept (`keep_from`), and large
    values nobody needs are skipped without being read into memory.
    """

    def __init__(self, fp: BinaryIO, head: bytes, size: int | None):
        self.fp, self.buf, self.start, self.size = fp, head, 0, size
        self.keep_from: int | None = None

    def ensure(self, begin: int, end: int) -> int:
        """Make file bytes [begin, end) available; return begin's index in `buf`."""
        if end - self.start > len(self.buf):
            if self.keep_from is None:
                if begin >= self.start + len(self.buf):
                    self._skip_to(begin)
                elif begin > self.start:
                    self.buf = self.buf[begin - self.start :]
                    self.start = begin
            wanted = end - self.start - len(self.buf)
            if end - self.start > MAX_HEADER:
                raise HeaderError("header_too_large")
            chunk = self.fp.read(max(wanted, len(self.buf), FIRST_READ))
            self.buf += chunk
            if end - self.start > len(self.buf):
                raise HeaderError("truncated")
        return begin - self.start

    def _skip_to(self, offset: int) -> None:
        gap = offset - (self.start + len(self.buf))
        if self.size is not None and offset > self.size:
            raise HeaderError("truncated")
        try:
            self.fp.seek(gap, io.SEEK_CUR)
        except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
            while gap > 0:
                step = self.fp.read(min(gap, 1 << 20))
                if not step:
                    raise HeaderError("truncated")
                gap -= len(step)
        self.start, self.buf = offset, b""

    def element(self, pos: int, implicit: bool) -> tuple[int, bytes | None, int, int]:
        """(tag, VR or None, value length, header length) of the element at `pos`."""
        i = self.ensure(pos, pos + 8)
        if implicit:
            group, elem, length = _TAG_LENGTH.unpack_from(self.buf, i)
            return (group << 16) | elem, None, length, 8
        group, elem, vr, length = _EXPLICIT.unpack_from(self.buf, i)
        if group == 0xFFFE:  # items and delimiters carry no VR in any encoding
            return (group << 16) | elem, None, _LONG.unpack_from(self.buf, i + 4)[0], 8
        if vr in LONG_VRS:
            i = self.ensure(pos, pos + 12)
            return (group << 16) | elem, vr, _LONG.unpack_from(self.buf, i + 8)[0], 12
        if vr not in VALID_VRS:
            raise _Unsupported()
        return (group << 16) | elem, vr, length, 8

    def skip_sequence(self, pos: int, implicit: bool) -> tuple[int, int]:
        """Walk an undefined-length sequence from its first item; return (delimiter offset, offset after it)."""
        while True:
            i = self.ensure(pos, pos + 8)
            group, elem, length = _TAG_LENGTH.unpack_from(self.buf, i)
            tag = (group << 16) | elem
            if tag == SEQUENCE_END:
                return pos, pos + 8
            if tag != ITEM:
                raise HeaderError("bad_sequence")
            pos = self.skip_item(pos + 8, implicit) if length == UNDEFINED else pos + 8 + length

    def skip_item(self, pos: int, implicit: bool) -> int:
        while True:
            tag, vr, length, header = self.element(pos, implicit)
            if tag == ITEM_END:
                return pos + 8
            if tag in (ITEM, SEQUENCE_END):
                raise HeaderError("bad_sequence")
            if length == UNDEFINED:
                pos = self.skip_sequence(pos + header, implicit or vr == b"UN")[1]
            else:
                pos += header + length


def _starts_like_dataset(head: bytes) -> tuple[bool, bool] | None:
    """(has meta group, implicit VR) for a file without preamble that starts like DICOM, else None."""
    if len(head) < 8:
        return None
    if head[:2] == b"\x00\x08" and head[4:6] in VALID_VRS and struct.unpack_from(">H", head, 2)[0] <= 0x0100:
        raise _Unsupported()  # a bare big-endian dataset: pydicom reads it
    group, elem = struct.unpack_from("<HH", head)
    if group not in (0x0002, 0x0008) or elem > 0x0100:
        return None
    if head[4:6] in VALID_VRS:
        return group == 0x0002, False
    if group == 0x0008:
        length = _LONG.unpack_from(head, 4)[0]
        if length < 1024 and length % 2 == 0:
            return False, True
    return None


TEXT_VRS = frozenset("AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT".split())
UNSPLIT_VRS = frozenset({"LT", "ST", "UT"})
NUMBER_FORMATS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d"}


class RawHeader:
    """The elements the reader kept, converted only when asked for.

    Text and numbers are converted here (ASCII fast, pydicom's character-set
    decoding when a value is not ASCII); sequences are handed to pydicom.
    """

    def __init__(self, elements: dict[int, tuple[str | None, bytes]], private: dict[tuple, tuple[str | None, bytes]], implicit: bool):
        self.elements, self.private_values, self.implicit = elements, private, implicit
        self._encodings: list[str] | None = None

    def encodings(self) -> list[str]:
        if self._encodings is None:
            raw = self.elements.get(KEYWORD_TAGS["SpecificCharacterSet"])
            names = raw[1].decode("ascii", "replace").strip(" \x00").split("\\") if raw else None
            try:
                self._encodings = convert_encodings(names)
            except Exception:
                self._encodings = convert_encodings(None)
        return self._encodings

    def get(self, keyword: str) -> Any:
        tag = KEYWORD_TAGS.get(keyword)
        raw = self.elements.get(tag) if tag is not None else None
        if raw is None:
            return None
        vr, value = raw
        if vr is None or vr == "UN":
            vr = TAG_VRS[tag]
        return self._convert(vr, value)

    def _convert(self, vr: str, value: bytes) -> Any:
        if vr in TEXT_VRS:
            try:
                text = value.decode("ascii")
            except UnicodeDecodeError:
                try:
                    text = decode_bytes(value, self.encodings(), set())
                except Exception:
                    text = value.decode("latin-1")
            text = text.strip(" \x00")
            return text.split("\\") if vr not in UNSPLIT_VRS and "\\" in text else text
        fmt = NUMBER_FORMATS.get(vr)
        if fmt is not None:
            size = struct.calcsize(fmt)
            count = len(value) // size
            if count == 0:
                return None
            numbers = struct.unpack(f"<{count}{fmt}", value[: count * size])
            return numbers[0] if count == 1 else list(numbers)
        return value

    def items(self, keyword: str) -> list[Header]:
        tag = KEYWORD_TAGS.get(keyword)
        raw = self.elements.get(tag) if tag is not None else None
        if raw is None or not raw[1]:
            return []
        try:
            sequence = convert_SQ(raw[1], self.implicit, True, self.encodings())
        except Exception:
            return []
        return [DatasetHeader(item) for item in sequence]

    def private(self, group: int, creator: str, offset: int) -> Any:
        raw = self.private_values.get((group, creator, offset))
        if raw is None:
            return None
        vr, value = raw
        if vr is None or vr == "UN":  # implicit VR: the known private tags are numbers written as text
            return self._convert("DS", value)
        return self._convert(vr, value)


def read_image(fp: BinaryIO, source: str, size: int | None = None) -> ReadResult:
    """Read one file's header from `fp` (any readable stream, seekable or not)."""
    try:
        head = fp.read(FIRST_READ)
    except OSError:
        return Unreadable(source, "read_error")
    if not head:
        return Unreadable(source, "empty_file")
    if len(head) >= 132 and head[128:132] == b"DICM":
        start, has_meta, implicit = 132, True, False
    else:
        try:
            shape = _starts_like_dataset(head)
        except _Unsupported:
            return _read_with_pydicom(fp, head, source)
        if shape is None:
            return NotDicom(source, kind_of(head, source))
        start, (has_meta, implicit) = 0, shape
    try:
        return _walk(fp, head, source, size, start, has_meta, implicit)
    except HeaderError as exc:
        return Unreadable(source, exc.code)
    except _Unsupported:
        return _read_with_pydicom(fp, head, source)
    except (struct.error, ValueError, OverflowError, MemoryError):
        return Unreadable(source, "bad_header")


def _walk(fp: BinaryIO, head: bytes, source: str, size: int | None, pos: int, has_meta: bool, implicit: bool) -> ReadResult:
    walker = _Walker(fp, head, size)
    transfer_syntax = IMPLICIT_LE if implicit else EXPLICIT_LE
    media_sop_class = ""
    if has_meta:  # the file meta group is always explicit VR little endian
        while True:
            tag, vr, length, header = walker.element(pos, False)
            if tag >> 16 != 0x0002:
                break
            if length == UNDEFINED:
                raise HeaderError("bad_header")
            i = walker.ensure(pos, pos + header + length)
            value = bytes(walker.buf[i + header : i + header + length]).rstrip(b"\x00 ").decode("ascii", "replace")
            if tag == 0x00020010:
                transfer_syntax = value
            elif tag == 0x00020002:
                media_sop_class = value
            pos += header + length
        if media_sop_class == DICOMDIR_SOP_CLASS:
            return ImageFacts(source=source, sop_class_uid=DICOMDIR_SOP_CLASS, transfer_syntax=transfer_syntax)
        if transfer_syntax in READ_BY_PYDICOM:
            raise _Unsupported()
        implicit = transfer_syntax == IMPLICIT_LE

    elements: dict[int, tuple[str | None, bytes]] = {}
    private_values: dict[tuple, tuple[str | None, bytes]] = {}
    private_wanted: dict[int, tuple] = {}  # tag -> (group, creator, offset), learnt from creator elements
    saw_private = False
    while True:
        try:
            tag, vr, length, header = walker.element(pos, implicit)
        except HeaderError as exc:
            if exc.code == "truncated" and walker.start + len(walker.buf) == pos:
                break  # a header that ends cleanly with no pixel data (SR, presentation states)
            raise
        group = tag >> 16
        if group >= PIXEL_DATA_GROUP:
            if size is not None and length != UNDEFINED and pos + header + length > size:
                raise HeaderError("truncated")
            break
        if group == 0xFFFE:
            raise HeaderError("bad_header")
        value_at = pos + header
        if length == UNDEFINED:
            sequence_implicit = implicit or vr == b"UN"
            if tag in NEEDED_TAGS:
                walker.keep_from = value_at
            value_end, pos = walker.skip_sequence(value_at, sequence_implicit)
            if tag in NEEDED_TAGS:
                i = walker.ensure(value_at, value_end)
                elements[tag] = ("SQ", bytes(walker.buf[i : i + value_end - value_at]))
                walker.keep_from = None
            continue
        pos = value_at + length
        if size is not None and pos > size:
            raise HeaderError("truncated")
        if tag in NEEDED_TAGS:
            i = walker.ensure(value_at, pos)
            elements[tag] = (vr.decode() if vr else None, bytes(walker.buf[i : i + length]))
        elif group & 1:
            element = tag & 0xFFFF
            if element >= 0x0010:
                saw_private = True
            if group in PRIVATE_GROUPS and 0x0010 <= element <= 0x00FF and length <= 64:
                i = walker.ensure(value_at, pos)
                creator = bytes(walker.buf[i : i + length]).decode("latin-1").strip(" \x00")
                for offset in PRIVATE_CREATORS.get((group, creator), ()):
                    private_wanted[(group << 16) | (element << 8) | offset] = (group, creator, offset)
            elif tag in private_wanted:
                i = walker.ensure(value_at, pos)
                private_values[private_wanted[tag]] = (vr.decode() if vr else None, bytes(walker.buf[i : i + length]))

    if not any(tag >> 16 == 0x0020 for tag in elements):
        raise HeaderError("no_image_identity")
    header = RawHeader(elements, private_values, implicit)
    return ImageFacts.from_header(header, source, transfer_syntax, media_sop_class, saw_private)


def _read_with_pydicom(fp: BinaryIO, head: bytes, source: str) -> ReadResult:
    """Big endian, deflated and odd files: pydicom reads them (header only)."""
    try:
        fp.seek(0)
        stream = fp
    except (AttributeError, OSError, io.UnsupportedOperation):
        rest = fp.read(MAX_HEADER)
        stream = io.BytesIO(head + rest)
    try:
        with warnings.catch_warnings():  # pydicom warns about each oddity it works around; the report says enough
            warnings.simplefilter("ignore")
            dataset = pydicom.dcmread(stream, force=True, stop_before_pixels=True)
    except (InvalidDicomError, EOFError):
        return Unreadable(source, "truncated")
    except Exception:
        return Unreadable(source, "bad_header")
    if "SeriesInstanceUID" not in dataset and "StudyInstanceUID" not in dataset:
        return Unreadable(source, "no_image_identity")
    return ImageFacts.from_dataset(dataset, source)
