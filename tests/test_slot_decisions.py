"""Each decision of PRODUCT.md "Decisions on what fills a slot", at and across its limits.

The limits come from rules/sequence_physics.toml and rules/policy.toml; tests read them there, so a
limit moved in the data moves the test with it, and each case sits just inside and just outside.
"""
from __future__ import annotations

import dataclasses

import pytest

from rules import policy as policy_file
from rules import sequence_physics, slots
from rules.facts import ImageFacts, SeriesFacts
from rules.policy import PolicyError
from rules.sequences import classify
from tests.test_sequences import GADOLINIUM, SIEMENS, build

POLICY = policy_file.load()
PHYSICS = sequence_physics.load()
SE_T1 = PHYSICS.spin_echo_t1
SPOILED = PHYSICS.t1_spoiled


def fills(area: str, *series: SeriesFacts) -> list[str]:
    return slots.filled(((s, classify(s)) for s in series), area, POLICY, PHYSICS)


# --- Physics decides when the names are silent --------------------------------------------------

@pytest.mark.parametrize("tr, te, expected", [
    (SE_T1.tr_max, SE_T1.te_max, "T1"),            # at both limits: inside
    (SE_T1.tr_max + 1, 12, None),                  # TR just outside: neither T1 nor T2
    (550, SE_T1.te_max + 1, None),                 # TE just outside
])
def test_spin_echo_t1_range(tr, te, expected):
    assert classify(build("Series 3", ScanningSequence="SE", RepetitionTime=str(tr), EchoTime=str(te))) == expected


@pytest.mark.parametrize("tr, te, expected", [
    (SPOILED.tr_max, SPOILED.te_max, "T1"),
    (SPOILED.tr_max + 1, 2.0, None),
    (5.0, SPOILED.te_max + 0.5, None),
])
def test_spoiled_gradient_echo_t1_range(tr, te, expected):
    series = build("Series 4", ScanningSequence="GR", SequenceVariant=["SP"], RepetitionTime=str(tr), EchoTime=str(te))
    assert classify(series) == expected


def test_silent_t1_with_contrast_agent_is_t1_contrast():
    gre = dict(ScanningSequence="GR", SequenceVariant=["SP"], RepetitionTime="5", EchoTime="2")
    assert classify(build("Series 5", **gre, **GADOLINIUM)) == "T1_CONTRAST"
    assert classify(build("Series 5", ScanningSequence="SE", RepetitionTime="500", EchoTime="10", **GADOLINIUM)) == "T1_CONTRAST"


def test_unspoiled_gradient_echo_is_not_guessed_t1():
    assert classify(build("Series 6", ScanningSequence="GR", RepetitionTime="5", EchoTime="2")) is None


@pytest.mark.parametrize("ti, expected", [
    (PHYSICS.flair.ti_min, "FLAIR"), (PHYSICS.flair.ti_max, "FLAIR"),
    (PHYSICS.flair.ti_min - 1, None), (PHYSICS.flair.ti_max + 1, None),
])
def test_flair_inversion_time(ti, expected):
    series = build("Series 7", ScanningSequence=["SE", "IR"], RepetitionTime="9000", EchoTime="110", InversionTime=str(ti))
    assert classify(series) == expected


@pytest.mark.parametrize("ti, expected", [(PHYSICS.stir.ti_max, "STIR"), (PHYSICS.stir.ti_max + 1, None)])
def test_stir_inversion_time_and_never_flair(ti, expected):
    series = build("Series 8", ScanningSequence=["SE", "IR"], RepetitionTime="4000", EchoTime="60", InversionTime=str(ti))
    assert classify(series) == expected
    assert slots.slot_of(classify(series), "brain_tumor", POLICY) is None  # STIR is never FLAIR, outside breast nothing


# --- STIR counts as T2 for breast only -------------------------------------------------------------

def test_stir_fills_t2_in_breast_only():
    stir = build("t2_tirm_tra_stir", ScanningSequence=["SE", "IR"], RepetitionTime="4000", EchoTime="60",
                 InversionTime="150")
    assert classify(stir) == "STIR"  # what the series is (series[].sequence)
    assert fills("breast", stir) == ["T2"]
    assert fills("brain_tumor", stir) == []
    assert fills("prostate", stir) == []


# --- Diffusion: a tensor acquisition is DWI, its maps are not ----------------------------------------

def test_dti_with_30_directions_fills_dwi():
    dti = build("ep2d_DTI_30dir", ScanningSequence="EP", RepetitionTime="8000", EchoTime="90", images=31,
                per_image=lambda i: {"DiffusionBValue": "0" if i == 0 else "1000"})
    assert classify(dti) == "DTI"
    assert fills("brain_tumor", dti) == ["DWI"]


@pytest.mark.parametrize("description, image_type, code", [
    ("DTI_30dir_FA", ["DERIVED", "PRIMARY", "DIFFUSION", "FA"], "FA"),
    ("DTI_30dir_ColFA", ["DERIVED", "PRIMARY", "DIFFUSION", "FA"], "FA"),
    ("DTI_30dir_ADC", ["DERIVED", "PRIMARY", "DIFFUSION", "ADC"], "ADC"),
    ("DTI_30dir_TENSOR", ["DERIVED", "PRIMARY", "DIFFUSION", "TENSOR"], "TENSOR"),
    ("DTI_30dir_TENSOR_B0", ["DERIVED", "PRIMARY", "DIFFUSION", "TENSOR_B0"], "TENSOR"),
    ("DTI tractography", ["DERIVED", "SECONDARY"], "TRACTOGRAPHY"),
])
def test_maps_derived_from_diffusion_fill_nothing(description, image_type, code):
    series = build(description, ImageType=image_type, ScanningSequence="EP", DiffusionBValue="1000")
    assert classify(series) == code
    assert fills("brain_tumor", series) == []


@pytest.mark.parametrize("b, expected", [(PHYSICS.b0_max, "CALIBRATION"), (PHYSICS.b0_max + 1, "DTI")])
def test_b0_only_reference_is_no_diffusion(b, expected):
    series = build("diff_mbep2d_AP_64DIR_B0", ScanningSequence="EP", DiffusionBValue=str(b))
    assert classify(series) == expected


# --- What never fills a slot ---------------------------------------------------------------------------

@pytest.mark.parametrize("sop_class, code", [
    ("1.2.840.10008.5.1.4.1.1.66", "NON_IMAGE"),          # raw data
    ("1.2.840.10008.5.1.4.1.1.4.2", "SPECTROSCOPY"),
    ("1.2.840.10008.5.1.4.1.1.11.1", "NON_IMAGE"),        # presentation state
    ("1.2.840.10008.5.1.4.1.1.88.22", "REPORT"),
    ("1.2.840.10008.5.1.4.1.1.7", "SCREEN_CAPTURE"),
    ("1.3.46.670589.11.0.0.12.4", "NON_IMAGE"),           # a private (Philips) object
])
def test_only_image_objects_fill_a_slot_whatever_the_description(sop_class, code):
    series = build("t1_mprage_sag_post_Gd", SOPClassUID=sop_class)
    assert classify(series) == code
    assert fills("brain_tumor", series) == []


def test_an_image_object_fills_its_slot():
    assert fills("brain_tumor", build("t1_mprage_sag_post_Gd")) == ["T1_CONTRAST"]


@pytest.mark.parametrize("description, tags, code", [
    ("gre_field_mapping", {}, "CALIBRATION"),
    ("B0map", {}, "CALIBRATION"),
    ("localizer", {}, "LOCALIZER"),
    ("ep2d_perf", {"ScanningSequence": "EP"}, "PERFUSION"),
    ("Series 9", {"ScanningSequence": "EP", "SequenceName": "*epfid2d1_64", "ContrastBolusAgent": "Gadovist",
                  "NumberOfTemporalPositions": "50"}, "PERFUSION"),    # first-pass perfusion by physics
    ("Series 10", {"ScanningSequence": "EP", "SequenceName": "*epfid2d1_64", "NumberOfTemporalPositions": "50"},
     "FMRI"),                                                           # BOLD by physics
    ("Series 11", {"ScanningSequence": "EP", "SequenceName": "epse2d1_90"}, "CALIBRATION"),  # SE-EPI, no diffusion
    ("gre_field_magph", {"ScanningSequence": "GR", "EchoTime": "5.19"}, "CALIBRATION"),     # dual-echo map
])
def test_maps_perfusion_and_planning_fill_no_slot(description, tags, code):
    series = build(description, **tags)
    assert classify(series) == code
    assert fills("brain_tumor", series) == fills("cardiac", series) == []


def test_bolus_tracker_fills_no_phase():
    series = build("PreMonitoring", modality="CT", ContrastBolusStartTime="100000", AcquisitionTime="100035")
    assert classify(series) == "BOLUS_TRACKING"
    assert fills("liver_cancer", series) == []


# --- Contrast phases: named only where the header says when ---------------------------------------------

def _window(phase: str) -> tuple[float, float]:
    return PHYSICS.phase_windows[phase]


def _clock(seconds: float) -> str:
    total = 10 * 3600 + seconds
    return f"{int(total // 3600):02d}{int(total % 3600 // 60):02d}{total % 60:09.6f}"


@pytest.mark.parametrize("delay, expected", [
    (_window("ARTERIAL")[0], "ARTERIAL"), (_window("ARTERIAL")[1], "ARTERIAL"),
    (_window("PORTAL_VENOUS")[0], "PORTAL_VENOUS"), (_window("PORTAL_VENOUS")[1], "PORTAL_VENOUS"),
    (_window("DELAYED")[0], "DELAYED"), (_window("DELAYED")[1], "DELAYED"),
    ((_window("ARTERIAL")[1] + _window("PORTAL_VENOUS")[0]) / 2, None),   # between two windows
    (_window("DELAYED")[1] + 1, None),                                        # after the last
])
def test_ct_phase_from_injection_timing(delay, expected):
    series = build("Abdomen 1.0 B30f", modality="CT", ContrastBolusAgent="Omnipaque 350",
                   ContrastBolusStartTime=_clock(0), AcquisitionTime=_clock(delay))
    assert classify(series) == expected


def test_no_timing_names_no_phase():
    series = build("Abdomen 1.0 B30f", modality="CT", ContrastBolusAgent="Omnipaque 350", AcquisitionTime=_clock(70))
    assert classify(series) is None
    assert fills("liver_cancer", series) == []


def test_dynamic_series_is_dce_and_its_timing_names_its_phases():
    delays = [0, 30, 70, 200]
    timed = build("t1_vibe_fs_tra_dyn", images=4, ScanningSequence="GR", RepetitionTime="4.5", EchoTime="2.1",
                  ContrastBolusStartTime=_clock(0), **GADOLINIUM,
                  per_image=lambda i: {"TemporalPositionIdentifier": str(i + 1), "AcquisitionTime": _clock(delays[i])})
    assert classify(timed) == "DCE"
    assert fills("liver_cancer", timed) == ["DCE", "ARTERIAL", "PORTAL_VENOUS", "DELAYED"]


def test_dynamic_series_without_timing_is_dce_only():
    untimed = build("t1_vibe_fs_tra_dyn", images=4, ScanningSequence="GR", RepetitionTime="4.5", EchoTime="2.1",
                    per_image=lambda i: {"TemporalPositionIdentifier": str(i + 1), "TriggerTime": str(i * 20000)})
    assert classify(untimed) == "DCE"
    assert fills("liver_cancer", untimed) == fills("breast", untimed) == ["DCE"]  # no phase named


def test_injection_before_midnight_scan_after():
    image = ImageFacts(source="x", modality="CT", series_uid="1", contrast_start_time="235950",
                       acquisition_time="000030", series_description="Abdomen")
    (series,) = SeriesFacts.group([image]).values()
    assert slots.injection_delays(series) == [40.0]


# --- The decisions are data -----------------------------------------------------------------------

def test_required_codes_come_from_the_policy():
    from rules import sequences
    assert sequences.REQUIRED == POLICY.required_codes
    for table in POLICY.raw["required"].values():
        assert set(table["sequences"]) <= set(POLICY.required_codes)


def test_a_policy_verdict_moved_in_the_file_moves_the_rule():
    text = policy_file.POLICY_FILE.read_text("utf-8").replace('date_unknown = "review"', 'date_unknown = "redo"')
    assert policy_file.parse(text).verdict("age", "date_unknown") == "redo"
    with pytest.raises(PolicyError, match="date_unknown"):
        policy_file.parse(text.replace('date_unknown = "redo"', 'date_unknown = "maybe"'))


def test_policy_refuses_a_required_code_that_is_not_a_sequence_code():
    text = policy_file.POLICY_FILE.read_text("utf-8").replace('sequences = ["CINE", "LGE"]', 'sequences = ["CINE", "LGE2"]')
    with pytest.raises(PolicyError, match="LGE2"):
        policy_file.parse(text)


def test_physics_file_refuses_an_inverted_range():
    text = sequence_physics.PHYSICS_FILE.read_text("utf-8").replace("ti_min = 1500.0", "ti_min = 5000.0")
    with pytest.raises(PolicyError, match="inversion.flair"):
        sequence_physics.parse(text)


def test_physics_file_refuses_a_missing_table():
    text = sequence_physics.PHYSICS_FILE.read_text("utf-8").replace("[cine]", "[cinema]")
    with pytest.raises(PolicyError):
        sequence_physics.parse(text)


def test_physics_limits_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PHYSICS.spin_echo_t1.tr_max = 1.0  # type: ignore[misc]
