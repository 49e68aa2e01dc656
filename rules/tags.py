"""The DICOM tags the checker reads, with their tag numbers and VRs, so reading needs no data dictionary.

pydicom's dictionary would give the same numbers, but importing it loads all
of pydicom (and numpy); the fast reader needs only these. A test checks the
table against pydicom's dictionary.
"""
from __future__ import annotations

# keyword -> (tag, VR as the DICOM dictionary gives it)
NEEDED = {
    "SpecificCharacterSet": (0x00080005, "CS"),
    "ImageType": (0x00080008, "CS"),
    "SOPClassUID": (0x00080016, "UI"),
    "StudyDate": (0x00080020, "DA"),
    "SeriesDate": (0x00080021, "DA"),
    "AcquisitionDate": (0x00080022, "DA"),
    "ContentDate": (0x00080023, "DA"),
    "AcquisitionDateTime": (0x0008002A, "DT"),
    "AcquisitionTime": (0x00080032, "TM"),
    "Modality": (0x00080060, "CS"),
    "Manufacturer": (0x00080070, "LO"),
    "InstitutionName": (0x00080080, "LO"),
    "StudyDescription": (0x00081030, "LO"),
    "SeriesDescription": (0x0008103E, "LO"),
    "PatientWeight": (0x00101030, "DS"),
    "ContrastBolusAgent": (0x00180010, "LO"),
    "ContrastBolusStartTime": (0x00181042, "TM"),
    "BodyPartExamined": (0x00180015, "CS"),
    "SliceThickness": (0x00180050, "DS"),
    "RepetitionTime": (0x00180080, "DS"),
    "EchoTime": (0x00180081, "DS"),
    "InversionTime": (0x00180082, "DS"),
    "MagneticFieldStrength": (0x00180087, "DS"),
    "ScanningSequence": (0x00180020, "CS"),
    "SequenceVariant": (0x00180021, "CS"),
    "ScanOptions": (0x00180022, "CS"),
    "MRAcquisitionType": (0x00180023, "CS"),
    "SequenceName": (0x00180024, "SH"),
    "FlipAngle": (0x00181314, "DS"),
    "ProtocolName": (0x00181030, "LO"),
    "TriggerTime": (0x00181060, "DS"),
    "CardiacNumberOfImages": (0x00181090, "IS"),
    "DiffusionBValue": (0x00189087, "FD"),
    "DiffusionDirectionality": (0x00189075, "CS"),
    "EchoPulseSequence": (0x00189008, "CS"),
    "PulseSequenceName": (0x00189005, "SH"),
    "StudyInstanceUID": (0x0020000D, "UI"),
    "SeriesInstanceUID": (0x0020000E, "UI"),
    "SeriesNumber": (0x00200011, "IS"),
    "TemporalPositionIdentifier": (0x00200100, "IS"),
    "NumberOfTemporalPositions": (0x00200105, "IS"),
    "NumberOfFrames": (0x00280008, "IS"),
    "RadiopharmaceuticalInformationSequence": (0x00540016, "SQ"),
    "SharedFunctionalGroupsSequence": (0x52009229, "SQ"),
    "PerFrameFunctionalGroupsSequence": (0x52009230, "SQ"),
}
