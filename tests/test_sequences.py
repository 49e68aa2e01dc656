"""Sequence recognition: each vendor's naming, other languages, parameters, and what never fills a slot."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pydicom
import pytest
from pydicom.uid import generate_uid

from rules.facts import ImageFacts, SeriesFacts
from rules.sequences import REQUIRED, classify, is_auxiliary, is_localizer
from tests.factory import make_dataset

SIEMENS = "SIEMENS"
GE = "GE MEDICAL SYSTEMS"
PHILIPS = "Philips Medical Systems"
CANON = "CANON_MEC"
TOSHIBA = "TOSHIBA_MEC"
UIH = "UIH"
HITACHI = "Hitachi Medical Corporation"
NEUSOFT = "Neusoft Medical Systems"

SE_T1 = {"ScanningSequence": "SE", "RepetitionTime": "550", "EchoTime": "12"}
SE_T2 = {"ScanningSequence": "SE", "RepetitionTime": "4500", "EchoTime": "100"}
IR_FLAIR = {"ScanningSequence": ["SE", "IR"], "RepetitionTime": "9000", "EchoTime": "110", "InversionTime": "2500"}
IR_T1_FLAIR = {"ScanningSequence": ["SE", "IR"], "RepetitionTime": "2200", "EchoTime": "20", "InversionTime": "860"}
IR_STIR = {"ScanningSequence": ["SE", "IR"], "RepetitionTime": "4000", "EchoTime": "60", "InversionTime": "150"}
GR_3D_T1 = {"ScanningSequence": "GR", "RepetitionTime": "4.5", "EchoTime": "2.1", "MRAcquisitionType": "3D"}
EPI_DWI = {"ScanningSequence": "EP", "RepetitionTime": "5000", "EchoTime": "80", "DiffusionBValue": "1000"}
HEART = {"BodyPartExamined": "HEART"}
DYNAMIC = {"NumberOfTemporalPositions": "6"}
GADOLINIUM = {"ContrastBolusAgent": "Gadovist"}


def build(
    description: str | None,
    *,
    modality: str = "MR",
    manufacturer: str = SIEMENS,
    images: int = 1,
    per_image: Callable[[int], dict[str, Any]] | None = None,
    **tags: Any,
) -> SeriesFacts:
    """One series of `images` files with the given SeriesDescription and tags (no body part unless given)."""
    series_uid = generate_uid()
    facts = []
    for index in range(images):
        extra = {"BodyPartExamined": None, **tags, **(per_image(index) if per_image else {})}
        ds = make_dataset(modality, series_uid=series_uid, SeriesDescription=description, Manufacturer=manufacturer,
                          InstanceNumber=index + 1, **extra)
        facts.append(ImageFacts.from_dataset(ds, f"IM{index}"))
    (series,) = SeriesFacts.group(facts).values()
    return series


def cine_phases(index: int) -> dict[str, Any]:
    return {"TriggerTime": str(index * 40.0)}


def row(manufacturer: str, description: str | None, expected: str | None, **tags: Any):
    return pytest.param(manufacturer, description, tags, expected, id=f"{manufacturer.split()[0]}:{description}->{expected}")


def check(manufacturer: str, description: str | None, tags: dict[str, Any], expected: str | None) -> None:
    tags = dict(tags)
    images = tags.pop("images", 1)
    per_image = tags.pop("per_image", None)
    modality = tags.pop("modality", "MR")
    series = build(description, modality=modality, manufacturer=manufacturer, images=images, per_image=per_image, **tags)
    assert classify(series) == expected


# --- Each vendor's naming, for each required MR sequence ------------------------------------

SIEMENS_ROWS = [
    row(SIEMENS, "t1_se_tra", "T1", **SE_T1),
    row(SIEMENS, "t1_mprage_sag_p2_iso", "T1"),
    row(SIEMENS, "t1_fl2d_tra", "T1"),
    row(SIEMENS, "t1_vibe_fs_tra_bh", "T1"),
    row(SIEMENS, "t2_tse_tra_p2", "T2", **SE_T2),
    row(SIEMENS, "t2_tse_blade_tra", "T2"),
    row(SIEMENS, "haste_tra_mbh", "T2"),
    row(SIEMENS, "t2_tirm_tra_dark-fluid", "FLAIR", **IR_FLAIR),
    row(SIEMENS, "t2_spc_da-fl_sag_p2_iso", "FLAIR"),
    row(SIEMENS, "t2_tirm_tra_darkfluid_3mm", "FLAIR"),
    row(SIEMENS, "ep2d_diff_mddw_3scan_trace_p2", "DWI"),
    row(SIEMENS, "ep2d_diff_tra_TRACEW", "DWI", ImageType=["DERIVED", "PRIMARY", "DIFFUSION", "TRACEW", "ND"]),
    row(SIEMENS, "ep2d_diff_resolve_tra", "DWI"),
    row(SIEMENS, "t1_mprage_sag_p2_iso_post", "T1_CONTRAST"),
    row(SIEMENS, "t1_se_tra_KM", "T1_CONTRAST", **SE_T1),
    row(SIEMENS, "t1_vibe_fs_tra_post_Gd", "T1_CONTRAST"),
    row(SIEMENS, "trufi_cine_sa_retro", "CINE"),
    row(SIEMENS, "cine_ssfp_4ch", "CINE"),
    row(SIEMENS, "tfl_psir_sa", "LGE", **HEART),
    row(SIEMENS, "DE_TFL_SA", "LGE"),
    row(SIEMENS, "tfl_LGE_4ch_MAG", "LGE"),
    row(SIEMENS, "t1_twist_tra_dyn", "DCE"),
    row(SIEMENS, "t1_vibe_tra_dyn", "DCE"),
    row(SIEMENS, "fl3d_dynaVIEWS_tra", "DCE"),
    row(SIEMENS, "t1_vibe_fs_tra_art", "ARTERIAL"),
    row(SIEMENS, "t1_vibe_fs_tra_pv", "PORTAL_VENOUS"),
    row(SIEMENS, "t1_vibe_fs_tra_5min", "DELAYED"),
]

GE_ROWS = [
    row(GE, "Ax T1 FSE", "T1", **SE_T1),
    row(GE, "Sag T1 FLAIR", "T1", **IR_T1_FLAIR),  # GE's T1 FLAIR is T1-weighted
    row(GE, "Sag 3D BRAVO", "T1"),
    row(GE, "Ax 3D FSPGR", "T1"),
    row(GE, "Ax LAVA-Flex", "T1"),
    row(GE, "Ax T2 FRFSE", "T2", **SE_T2),
    row(GE, "Ax T2 PROPELLER", "T2"),
    row(GE, "Cor SSFSE", "T2"),
    row(GE, "Ax T2 FLAIR", "FLAIR", **IR_FLAIR),
    row(GE, "Sag CUBE FLAIR", "FLAIR"),
    row(GE, "Ax DWI 1000b", "DWI"),
    row(GE, "ASSET DWI", "DWI"),
    row(GE, "FOCUS DWI", "DWI"),
    row(GE, "Ax T1 FSE +C", "T1_CONTRAST"),
    row(GE, "Sag T1 FLAIR +C", "T1_CONTRAST", **IR_T1_FLAIR),
    row(GE, "Ax 3D BRAVO POST", "T1_CONTRAST"),
    row(GE, "Ax LAVA-Flex +C", "T1_CONTRAST"),
    row(GE, "FIESTA Cine SA", "CINE"),
    row(GE, "FIESTA 4CH", "CINE", images=20, per_image=cine_phases),
    row(GE, "MDE SA", "LGE"),
    row(GE, "2D MDE PSIR", "LGE"),
    row(GE, "Delayed Enhancement SAX", "LGE"),
    row(GE, "Ax DISCO", "DCE"),
    row(GE, "Ax VIBRANT MPh", "DCE"),
    row(GE, "Ax LAVA Multiphase", "DCE"),
    row(GE, "Ax LAVA-Flex +C arterial", "ARTERIAL"),
    row(GE, "Ax LAVA +C PV", "PORTAL_VENOUS"),
    row(GE, "Ax LAVA +C 3 min delay", "DELAYED"),
]

PHILIPS_ROWS = [
    row(PHILIPS, "T1W_SE", "T1", **SE_T1),
    row(PHILIPS, "T1W_3D_TFE", "T1"),
    row(PHILIPS, "sT1W_3D_TFE", "T1"),
    row(PHILIPS, "THRIVE", "T1"),
    row(PHILIPS, "T1W_mDIXON", "T1"),
    row(PHILIPS, "T2W_TSE", "T2", **SE_T2),
    row(PHILIPS, "sT2W_TSE_SPAIR", "T2"),
    row(PHILIPS, "T2W_FLAIR", "FLAIR", **IR_FLAIR),
    row(PHILIPS, "3D_FLAIR_VISTA", "FLAIR"),
    row(PHILIPS, "DWI_SENSE", "DWI"),
    row(PHILIPS, "dwi b1000", "DWI"),
    row(PHILIPS, "DWIBS", "DWI"),
    row(PHILIPS, "T1W_SE_Gd", "T1_CONTRAST"),
    row(PHILIPS, "sT1W_3D_TFE +C", "T1_CONTRAST"),
    row(PHILIPS, "T1W_3D_TFE_CE", "T1_CONTRAST"),
    row(PHILIPS, "THRIVE_post", "T1_CONTRAST"),
    row(PHILIPS, "cine_BTFE_SA", "CINE"),
    row(PHILIPS, "sBTFE_4CH", "CINE", images=8, per_image=cine_phases),
    row(PHILIPS, "LGE_PSIR_SENSE", "LGE"),
    row(PHILIPS, "3D_LGE", "LGE"),
    row(PHILIPS, "Dyn_eTHRIVE", "DCE"),
    row(PHILIPS, "DCE_THRIVE", "DCE"),
    row(PHILIPS, "THRIVE_art", "ARTERIAL"),
    row(PHILIPS, "eTHRIVE_portal", "PORTAL_VENOUS"),
    row(PHILIPS, "eTHRIVE_delay", "DELAYED"),
]

CANON_ROWS = [
    row(CANON, "T1_SE_TRA", "T1", **SE_T1),
    row(TOSHIBA, "Quick3D_T1_tra", "T1"),
    row(CANON, "T1_FFE", "T1"),
    row(CANON, "T2_FSE_TRA", "T2", **SE_T2),
    row(TOSHIBA, "FASE_cor", "T2"),
    row(CANON, "FLAIR_TRA", "FLAIR", **IR_FLAIR),
    row(CANON, "DWI_b1000", "DWI"),
    row(TOSHIBA, "DWI", "DWI"),
    row(CANON, "T1_SE_Gd", "T1_CONTRAST"),
    row(TOSHIBA, "Quick 3D +C", "T1_CONTRAST"),
    row(CANON, "Cine TrueSSFP SA", "CINE"),
    row(CANON, "TrueSSFP 4ch", "CINE", images=12, per_image=cine_phases),
    row(CANON, "LGE_SA", "LGE"),
    row(CANON, "DE SA", "LGE", **HEART),
    row(CANON, "Quick3D dynamic", "DCE"),
    row(CANON, "Quick3D arterial", "ARTERIAL"),
    row(CANON, "Quick3D portal", "PORTAL_VENOUS"),
    row(CANON, "Quick3D equilibrium", "DELAYED"),
]

UIH_ROWS = [
    row(UIH, "t1_gre_fsp_tra", "T1"),
    row(UIH, "t1_gre_fsp_3d_sag_iso", "T1"),
    row(UIH, "t1_quick3d_tra", "T1"),
    row(UIH, "t2_fse_tra", "T2", **SE_T2),
    row(UIH, "t2_flair_tra", "FLAIR", **IR_FLAIR),
    row(UIH, "dwi_epi_tra_b1000", "DWI"),
    row(UIH, "t1_gre_fsp_tra+c", "T1_CONTRAST"),
    row(UIH, "t1_fse_sag+C", "T1_CONTRAST"),
    row(UIH, "cine_bssfp_sa", "CINE"),
    row(UIH, "psir_lge_sa", "LGE"),
    row(UIH, "t1_quick3d_dyn", "DCE"),
    row(UIH, "t1_quick3d_tra_art", "ARTERIAL"),
    row(UIH, "t1_quick3d_tra_pv", "PORTAL_VENOUS"),
    row(UIH, "t1_quick3d_tra_delay", "DELAYED"),
]

HITACHI_ROWS = [
    row(HITACHI, "T1W SE", "T1", **SE_T1),
    row(HITACHI, "3D RSSG", "T1"),
    row(HITACHI, "T2W FSE", "T2", **SE_T2),
    row(HITACHI, "FLAIR", "FLAIR", **IR_FLAIR),
    row(HITACHI, "DWI b1000", "DWI"),
    row(HITACHI, "T1W SE +Gd", "T1_CONTRAST"),
    row(HITACHI, "TRSG cine SA", "CINE"),
    row(HITACHI, "IR-TRSG LGE", "LGE"),
    row(HITACHI, "TIGRE dynamic", "DCE"),
    row(HITACHI, "TIGRE arterial", "ARTERIAL"),
    row(HITACHI, "TIGRE venous", "PORTAL_VENOUS"),
    row(HITACHI, "TIGRE delayed", "DELAYED"),
]

NEUSOFT_ROWS = [
    row(NEUSOFT, "T1WI", "T1"),
    row(NEUSOFT, "T2WI", "T2"),
    row(NEUSOFT, "T2 FLAIR", "FLAIR"),
    row(NEUSOFT, "DWI", "DWI"),
    row(NEUSOFT, "T1WI+C", "T1_CONTRAST"),
    row(NEUSOFT, "Cine SA", "CINE"),
    row(NEUSOFT, "LGE", "LGE"),
    row(NEUSOFT, "DCE", "DCE"),
    row(NEUSOFT, "GRE T2*", "T2_STAR"),
]


@pytest.mark.parametrize(
    "manufacturer, description, tags, expected",
    SIEMENS_ROWS + GE_ROWS + PHILIPS_ROWS + CANON_ROWS + UIH_ROWS + HITACHI_ROWS + NEUSOFT_ROWS,
)
def test_vendor_naming(manufacturer, description, tags, expected):
    check(manufacturer, description, tags, expected)


def test_every_vendor_table_covers_every_mr_required_code():
    mr_required = set(REQUIRED)
    for table in (SIEMENS_ROWS, GE_ROWS, PHILIPS_ROWS, CANON_ROWS, UIH_ROWS, HITACHI_ROWS):
        assert mr_required <= {param.values[3] for param in table}, table[0].values[0]


# --- Other languages ------------------------------------------------------------------------

LANGUAGE_ROWS = [
    # Chinese
    row(SIEMENS, "T1加权", "T1"),
    row(SIEMENS, "T2加权", "T2"),
    row(UIH, "T2水抑制", "FLAIR"),
    row(UIH, "液体衰减反转恢复", "FLAIR"),
    row(UIH, "弥散加权成像", "DWI"),
    row(NEUSOFT, "扩散加权", "DWI"),
    row(UIH, "T1增强", "T1_CONTRAST"),
    row(NEUSOFT, "增强T1WI", "T1_CONTRAST"),
    row(UIH, "T1WI增强前", "T1"),
    row(UIH, "心脏电影", "CINE"),
    row(UIH, "心肌延迟强化", "LGE"),
    row(UIH, "动态增强", "DCE"),
    row(UIH, "动脉期", "ARTERIAL", modality="CT"),
    row(UIH, "门静脉期 1.25mm", "PORTAL_VENOUS", modality="CT"),
    row(NEUSOFT, "门脉期", "PORTAL_VENOUS", modality="CT"),
    row(UIH, "延迟期", "DELAYED", modality="CT"),
    row(NEUSOFT, "平衡期 5mm", "DELAYED", modality="CT"),
    row(UIH, "平扫 5mm", "NON_CONTRAST", modality="CT"),
    # Russian (Cyrillic Т in Т1/Т2)
    row(SIEMENS, "Т1 ВИ", "T1"),
    row(SIEMENS, "Т2 ВИ", "T2"),
    row(SIEMENS, "ДВИ", "DWI"),
    row(SIEMENS, "Диффузия", "DWI"),
    row(SIEMENS, "Т1 с контрастом", "T1_CONTRAST"),
    row(SIEMENS, "Т1 без контраста", "T1"),
    row(SIEMENS, "Артериальная фаза", "ARTERIAL", modality="CT"),
    row(SIEMENS, "Портальная фаза", "PORTAL_VENOUS", modality="CT"),
    row(SIEMENS, "Венозная фаза", "PORTAL_VENOUS", modality="CT"),
    row(SIEMENS, "Отсроченная фаза", "DELAYED", modality="CT"),
    row(SIEMENS, "Нативная фаза", "NON_CONTRAST", modality="CT"),
    # Spanish
    row(GE, "Difusión", "DWI"),
    row(GE, "T1 con contraste", "T1_CONTRAST"),
    row(GE, "T1 sin contraste", "T1"),
    row(GE, "Fase arterial", "ARTERIAL", modality="CT"),
    row(GE, "Fase portal", "PORTAL_VENOUS", modality="CT"),
    row(GE, "Fase tardía", "DELAYED", modality="CT"),
    row(GE, "Sin contraste", "NON_CONTRAST", modality="CT"),
    # Portuguese
    row(PHILIPS, "Difusão", "DWI"),
    row(PHILIPS, "T1 pós-contraste", "T1_CONTRAST"),
    row(PHILIPS, "Fase venosa", "PORTAL_VENOUS", modality="CT"),
    row(PHILIPS, "Fase de equilíbrio", "DELAYED", modality="CT"),
    # French
    row(SIEMENS, "Diffusion axiale", "DWI"),
    row(SIEMENS, "T1 gado", "T1_CONTRAST"),
    row(SIEMENS, "T1 après injection", "T1_CONTRAST"),
    row(SIEMENS, "Temps artériel", "ARTERIAL", modality="CT"),
    row(SIEMENS, "Temps portal", "PORTAL_VENOUS", modality="CT"),
    row(SIEMENS, "Temps tardif", "DELAYED", modality="CT"),
    row(SIEMENS, "Sans injection", "NON_CONTRAST", modality="CT"),
    # German
    row(SIEMENS, "T1 mit KM", "T1_CONTRAST"),
    row(SIEMENS, "T1 nativ", "T1"),
    row(SIEMENS, "T1 ohne KM", "T1"),
    row(SIEMENS, "Arteriell 1.0", "ARTERIAL", modality="CT"),
    row(SIEMENS, "Portalvenös 1.0", "PORTAL_VENOUS", modality="CT"),
    row(SIEMENS, "Spätphase 5.0", "DELAYED", modality="CT"),
    row(SIEMENS, "Nativ 5.0 B30f", "NON_CONTRAST", modality="CT"),
    # Arabic
    row(GE, "تصوير بالانتشار", "DWI"),
    row(GE, "المرحلة الشريانية", "ARTERIAL", modality="CT"),
    row(GE, "المرحلة البابية", "PORTAL_VENOUS", modality="CT"),
    row(GE, "المرحلة المتأخرة", "DELAYED", modality="CT"),
    row(GE, "بدون صبغة", "NON_CONTRAST", modality="CT"),
    # full-width characters typed on Chinese keyboards
    row(UIH, "Ｔ２ＷＩ", "T2"),
]


@pytest.mark.parametrize("manufacturer, description, tags, expected", LANGUAGE_ROWS)
def test_other_languages(manufacturer, description, tags, expected):
    check(manufacturer, description, tags, expected)


# --- CT contrast phases (liver multiphase) -----------------------------------------------------

CT_ROWS = [
    row(SIEMENS, "Arterial 1.0 Br40", "ARTERIAL", modality="CT"),
    row(SIEMENS, "Venous 1.0 B30f", "PORTAL_VENOUS", modality="CT"),
    row(SIEMENS, "PV 3.0 B30f", "PORTAL_VENOUS", modality="CT"),
    row(SIEMENS, "Delayed 5.0 B30f", "DELAYED", modality="CT"),
    row(GE, "ART 1.25mm", "ARTERIAL", modality="CT"),
    row(GE, "PORTAL VENOUS 2.5mm", "PORTAL_VENOUS", modality="CT"),
    row(GE, "3 MIN DELAY", "DELAYED", modality="CT"),
    row(GE, "NON CON 5mm", "NON_CONTRAST", modality="CT"),
    row(PHILIPS, "Arterial Phase 1mm", "ARTERIAL", modality="CT"),
    row(PHILIPS, "Venous Phase 1mm", "PORTAL_VENOUS", modality="CT"),
    row(PHILIPS, "Delayed phase 5mm", "DELAYED", modality="CT"),
    row(PHILIPS, "Pre contrast 5mm", "NON_CONTRAST", modality="CT"),
    row(CANON, "ART 0.5", "ARTERIAL", modality="CT"),
    row(CANON, "PVP 0.5", "PORTAL_VENOUS", modality="CT"),
    row(CANON, "DELAY 5.0", "DELAYED", modality="CT"),
    row(CANON, "Plain 5.0", "NON_CONTRAST", modality="CT"),
    row(UIH, "Arterial_1.0mm", "ARTERIAL", modality="CT"),
    row(UIH, "Portal_1.0mm", "PORTAL_VENOUS", modality="CT"),
    row(UIH, "Equilibrium 5mm", "DELAYED", modality="CT"),
    row(NEUSOFT, "EAP 1.0", "ARTERIAL", modality="CT"),
    row(HITACHI, "Late arterial 1.25", "ARTERIAL", modality="CT"),
    row(HITACHI, "Equil 5.0", "DELAYED", modality="CT"),
    row(SIEMENS, "Liver 5 min", "DELAYED", modality="CT"),
    # unknowns: no phase, or two phases named
    row(SIEMENS, "Body 1.0", None, modality="CT"),
    row(SIEMENS, "Abdomen 5.0 B30f", None, modality="CT", ContrastBolusAgent="Omnipaque 350"),
    row(SIEMENS, "Post contrast 5mm", None, modality="CT"),
    row(GE, "Arterial/Portal 5mm", None, modality="CT"),
    row(SIEMENS, "Lung 1.0 B70f", None, modality="CT"),
    # not phases
    row(SIEMENS, "Topogram 0.6 T20s", "LOCALIZER", modality="CT"),
    row(GE, "Scout", "LOCALIZER", modality="CT"),
    row(PHILIPS, "Surview", "LOCALIZER", modality="CT"),
    row(CANON, "Scanogram", "LOCALIZER", modality="CT"),
    row(SIEMENS, "PreMonitoring", "BOLUS_TRACKING", modality="CT"),
    row(GE, "SmartPrep", "BOLUS_TRACKING", modality="CT"),
    row(SIEMENS, "MIP Arterial 10mm", "MIP", modality="CT"),
    row(SIEMENS, "VRT Arterial", "MPR", modality="CT"),
    row(GE, "Portal venous Cor 3mm", "MPR", modality="CT", ImageType=["DERIVED", "SECONDARY", "REFORMATTED"]),
    row(SIEMENS, "Patient Protocol", "SCREEN_CAPTURE", modality="CT"),
    row(GE, "Dose Report", "SCREEN_CAPTURE", modality="CT", ImageType=["DERIVED", "SECONDARY", "SCREEN SAVE"]),
    row(SIEMENS, "CTA Aorta 1.0", "CTA", modality="CT"),
]


@pytest.mark.parametrize("manufacturer, description, tags, expected", CT_ROWS)
def test_ct_phases(manufacturer, description, tags, expected):
    check(manufacturer, description, tags, expected)


def test_ct_exam_protocol_name_does_not_name_a_phase():
    series = build("Body 1.0", modality="CT", ProtocolName="Liver 3 phase arterial")
    assert classify(series) is None


# --- Parameters decide when names are silent, and overrule names that contradict them ---------

PARAMETER_ROWS = [
    row(SIEMENS, "Series 3", "T1", **SE_T1),
    row(SIEMENS, "Series 4", "T2", **SE_T2),
    row(SIEMENS, "Series 5", "FLAIR", **IR_FLAIR),
    row(SIEMENS, "Series 6", "STIR", **IR_STIR),
    row(SIEMENS, "Series 7", "PD", ScanningSequence="SE", RepetitionTime="3000", EchoTime="20"),
    row(SIEMENS, "Series 8", "T1", ScanningSequence=["GR", "IR"], RepetitionTime="2300", EchoTime="2.3", InversionTime="900"),
    row(SIEMENS, "Series 9", "DWI", **EPI_DWI),
    row(SIEMENS, "Series 10", "DWI", ScanningSequence="EP", ImageType=["DERIVED", "PRIMARY", "DIFFUSION", "TRACEW"]),
    row(SIEMENS, "Series 11", "DWI", SequenceName="*ep_b1000t"),
    row(SIEMENS, "Series 12", "DWI", ScanningSequence="EP", DiffusionDirectionality="ISOTROPIC"),
    row(SIEMENS, "Series 13", "T1_CONTRAST", **SE_T1, **GADOLINIUM),
    row(SIEMENS, "Series 14", "T1", **SE_T1, ContrastBolusAgent="NONE"),
    row(SIEMENS, "Series 15", "CINE", ScanningSequence="GR", RepetitionTime="3.2", EchoTime="1.4",
        CardiacNumberOfImages="25", images=25, per_image=cine_phases),
    row(SIEMENS, "t1_vibe_tra", "DCE", **GR_3D_T1, **DYNAMIC),
    row(SIEMENS, "Series 17", "DCE", **GR_3D_T1, **DYNAMIC, **GADOLINIUM),
    row(SIEMENS, "Series 18", "T2_STAR", ScanningSequence="GR", RepetitionTime="600", EchoTime="20"),
    row(GE, "2CH", "CINE", ScanningSequence="GR", RepetitionTime="3.5", EchoTime="1.5", images=20, per_image=cine_phases),
    row(GE, "2CH flow", "FLOW", ScanningSequence="GR", RepetitionTime="5", EchoTime="2.5", images=20, per_image=cine_phases),
    # names backed or contradicted by parameters
    row(SIEMENS, "t2_tirm_cor", "STIR", **IR_STIR),
    row(SIEMENS, "t2_tirm_tra", "FLAIR", **IR_FLAIR),
    row(GE, "Sag FLAIR", "T1", **IR_T1_FLAIR),
    row(SIEMENS, "t2_tse_tra", "FLAIR", **IR_FLAIR),
    row(SIEMENS, "t2_tse_tra", None, **SE_T1),
    row(SIEMENS, "t1_se_tra", None, **SE_T2),
    row(SIEMENS, "pd_t2_tse_tra", "T2", **SE_T2),
    row(SIEMENS, "pd_t2_tse_tra", "PD", ScanningSequence="SE", RepetitionTime="3000", EchoTime="15"),
    # not enough to tell
    row(SIEMENS, "Series 20", None, ScanningSequence="SE", RepetitionTime="1000", EchoTime="50"),
    row(SIEMENS, "Series 21", None, **GR_3D_T1),
    row(SIEMENS, "Series 22", None, ScanningSequence="EP", RepetitionTime="2000", EchoTime="30"),
    row(SIEMENS, "Series 23", None, ScanningSequence=["GR", "IR"], RepetitionTime="700", EchoTime="1.5", InversionTime="300",
        **HEART),
]


@pytest.mark.parametrize("manufacturer, description, tags, expected", PARAMETER_ROWS)
def test_parameters(manufacturer, description, tags, expected):
    check(manufacturer, description, tags, expected)


def test_private_b_values_alone_mean_diffusion():
    image = ImageFacts(source="x", modality="MR", series_uid="1", manufacturer=GE, b_values=(0.0, 1000.0),
                       scanning_sequence=("EP",))
    (series,) = SeriesFacts.group([image]).values()
    assert classify(series) == "DWI"


def test_private_b_value_does_not_turn_a_named_t2_into_diffusion():
    image = ImageFacts(source="x", modality="MR", series_uid="1", manufacturer=GE, series_description="Ax T2 FSE",
                       b_values=(500.0,), scanning_sequence=("SE",))
    (series,) = SeriesFacts.group([image]).values()
    assert classify(series) == "T2"


def test_temporal_positions_per_image_make_a_dynamic_series():
    series = build("t1_vibe_fs_tra", images=4, per_image=lambda i: {"TemporalPositionIdentifier": str(i + 1)}, **GR_3D_T1)
    assert classify(series) == "DCE"


# --- Never a required slot: derived, captured, planning images -------------------------------

NEVER_REQUIRED_ROWS = [
    row(SIEMENS, "ep2d_diff_mddw_3scan_trace_p2_ADC", "ADC", ImageType=["DERIVED", "PRIMARY", "DIFFUSION", "ADC", "ND"]),
    row(SIEMENS, "Series 7", "ADC", ImageType=["DERIVED", "PRIMARY", "DIFFUSION", "ADC"], **EPI_DWI),
    row(GE, "Apparent Diffusion Coefficient (mm2/s)", "ADC"),
    row(PHILIPS, "dADC", "ADC"),
    row(PHILIPS, "eADC", "ADC"),
    row(SIEMENS, "ep2d_diff_b1000_EXP", "ADC"),
    row(UIH, "ADC图", "ADC"),
    row(SIEMENS, "ИКД карта", "ADC"),
    row(SIEMENS, "ep2d_diff_mddw_20_p2_FA", "FA"),
    row(SIEMENS, "ep2d_diff_mddw_20_p2_ColFA", "FA"),
    row(SIEMENS, "Series 9", "FA", ImageType=["DERIVED", "PRIMARY", "DIFFUSION", "FA"]),
    row(SIEMENS, "DTI_32dir", "DTI"),
    row(SIEMENS, "ep2d_diff_mddw_20_p2_TENSOR", "TENSOR", ImageType=["DERIVED", "PRIMARY", "DIFFUSION", "TENSOR"]),
    row(SIEMENS, "t1_fl3d_cor_post_MIP", "MIP"),
    row(GE, "Ax T1 +C", "MIP", ImageType=["DERIVED", "SECONDARY", "PROJECTION IMAGE"]),
    row(SIEMENS, "SWI_mIP", "MIP"),
    row(SIEMENS, "t1_mprage_sag_p2_iso_MPR_Cor", "MPR"),
    row(GE, "Ax T1 +C", "MPR", ImageType=["DERIVED", "SECONDARY", "REFORMATTED"]),
    row(SIEMENS, "t1_mprage_post", "MPR", ImageType=["DERIVED", "SECONDARY", "MPR", "CSA MPR"]),
    row(SIEMENS, "t1_fl3d_dyn_SUB", "SUBTRACTION"),
    row(GE, "VIBRANT Sub1", "SUBTRACTION"),
    row(UIH, "动态增强减影", "SUBTRACTION"),
    row(PHILIPS, "Series 30", "SUBTRACTION", ImageType=["DERIVED", "PRIMARY", "SUBTRACTION"]),
    row(SIEMENS, "PhoenixZIPReport", "SCREEN_CAPTURE"),
    row(SIEMENS, "Screen Save", "SCREEN_CAPTURE"),
    row(SIEMENS, "localizer", "LOCALIZER"),
    row(SIEMENS, "AAHead_Scout_32ch-head-coil", "LOCALIZER"),
    row(GE, "3Pl Loc", "LOCALIZER"),
    row(PHILIPS, "Survey_32ch_HeadCoil", "LOCALIZER"),
    row(UIH, "定位像", "LOCALIZER"),
    row(SIEMENS, "tfl_loc", "LOCALIZER"),
    row(SIEMENS, "Series 1", "LOCALIZER", ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"]),
    row(SIEMENS, "T1 map", "PARAMETER_MAP"),
    row(SIEMENS, "MOLLI_T1map_SAX", "PARAMETER_MAP"),
    row(PHILIPS, "T2_MAP", "PARAMETER_MAP"),
    row(SIEMENS, "Series 40", "PARAMETER_MAP", ImageType=["DERIVED", "PRIMARY", "T1 MAP"]),
    row(SIEMENS, "DCE Ktrans", "PARAMETER_MAP"),
    row(SIEMENS, "rCBV", "PARAMETER_MAP"),
    row(SIEMENS, "T1rho_sag", "PARAMETER_MAP"),
    row(SIEMENS, "MinIP 10mm", "MIP"),
    row(SIEMENS, "MoCoSeries", "PARAMETER_MAP"),
    row(SIEMENS, "t1_vibe_dixon_tra_F", "DIXON_FAT"),
    row(GE, "ASSET Calibration", "CALIBRATION"),
    row(SIEMENS, "TI_Scout", "CALIBRATION", **HEART),
    row(GE, "Cine IR", "CALIBRATION", **HEART),
    row(SIEMENS, "gre_field_mapping", "CALIBRATION"),
]


@pytest.mark.parametrize("manufacturer, description, tags, expected", NEVER_REQUIRED_ROWS)
def test_never_fills_a_required_slot(manufacturer, description, tags, expected):
    assert expected not in REQUIRED
    check(manufacturer, description, tags, expected)


def test_secondary_capture_sop_class_is_a_screen_capture():
    series = build("T1 +C key image", modality="SC")
    assert classify(series) == "SCREEN_CAPTURE"


def test_diffusion_trace_with_adc_in_the_same_name_is_the_map():
    assert classify(build("ep2d_diff_TRACEW_ADC")) == "ADC"


# --- Known non-required MR sequences ------------------------------------------------------------

OTHER_MR_ROWS = [
    row(SIEMENS, "t2_swi_tra", "SWI"),
    row(GE, "Ax SWAN", "SWI"),
    row(PHILIPS, "SWIp", "SWI"),
    row(SIEMENS, "ep2d_bold_moco", "FMRI"),
    row(SIEMENS, "ep2d_perf", "PERFUSION", ScanningSequence="EP"),
    row(GE, "Perfusion DSC", "PERFUSION"),
    row(GE, "3D ASL (pcasl)", "PERFUSION"),
    row(SIEMENS, "arterial spin labeling", "PERFUSION"),
    row(SIEMENS, "t1_vibe_perfusion_tra", "DCE"),
    row(SIEMENS, "tof_3d_multi-slab", "MRA"),
    row(SIEMENS, "fl3d_twist_mra", "MRA"),
    row(SIEMENS, "flow_AAo_venc150", "FLOW"),
    row(SIEMENS, "t2_fl2d_tra_hemo", "T2_STAR"),
    row(PHILIPS, "T2*W_FFE", "T2_STAR"),
    row(SIEMENS, "pd_tse_fs_cor", "PD"),
    row(SIEMENS, "t2_stir_cor", "STIR"),
    row(SIEMENS, "svs_se_30", "SPECTROSCOPY"),
    row(GE, "3D MRCP", "MRCP"),
    row(GE, "Ax LAVA pre", "T1"),
    row(SIEMENS, "t1_vibe_fs_tra_pre", "T1"),
    row(SIEMENS, "tagging_sa", "TAGGING", **HEART),
    row(SIEMENS, "hbp 20min", "HEPATOBILIARY"),
]


@pytest.mark.parametrize("manufacturer, description, tags, expected", OTHER_MR_ROWS)
def test_other_mr_sequences(manufacturer, description, tags, expected):
    check(manufacturer, description, tags, expected)


# --- Unknown: the checker says so rather than guess ------------------------------------------------

UNKNOWN_ROWS = [
    row(SIEMENS, "Series 5", None),
    row(SIEMENS, None, None),
    row(GE, "Ax", None),
    row(GE, "3D FIESTA", None),  # bSSFP without cardiac evidence: inner ear, fetal...
    row(SIEMENS, "t2_tirm_cor", None),  # FLAIR or STIR: no inversion time to tell
    row(SIEMENS, "late", None),
    row(SIEMENS, "AP", None),
    row(SIEMENS, "tfl_psir", None, BodyPartExamined="HEAD"),  # a brain PSIR is not cardiac LGE
    row(SIEMENS, "fl3d", None),
    row(SIEMENS, "Cor", None),
    row(SIEMENS, "PET WB", None, modality="PT"),
    row(GE, "Liver", None, modality="US"),
]


@pytest.mark.parametrize("manufacturer, description, tags, expected", UNKNOWN_ROWS)
def test_unknown(manufacturer, description, tags, expected):
    check(manufacturer, description, tags, expected)


# --- Words with another meaning ---------------------------------------------------------------------

HOMONYM_ROWS = [
    row(SIEMENS, "T1 post fossa", "T1"),  # posterior fossa, not post-contrast
    row(SIEMENS, "T1 C-spine", "T1"),
    row(GE, "Ax T1 FS +C delayed", "T1_CONTRAST", BodyPartExamined="HEAD"),  # a brain has no liver phases
    row(SIEMENS, "Fase 1", None),  # Spanish/Portuguese "phase", not Canon's FASE
    row(SIEMENS, "Chest AP", None, modality="CT"),  # antero-posterior, not arterial phase
    row(SIEMENS, "Liver AP", "ARTERIAL", modality="CT", BodyPartExamined="ABDOMEN"),
    row(SIEMENS, "Basal ganglia", None, modality="CT"),
    row(SIEMENS, "Fase basal", "NON_CONTRAST", modality="CT"),
    row(GE, "Ax LAVA-Flex FAT", "DIXON_FAT"),
    row(GE, "Ax LAVA-Flex WATER +C", "T1_CONTRAST"),
    row(SIEMENS, "CSI in-phase", "T1"),  # chemical shift imaging, not spectroscopy
    row(SIEMENS, "t1_fl2d_exp", "T1"),  # "exp" is an exponential ADC only in a diffusion series
    row(SIEMENS, "MRCP 3D cholangiography", "MRCP"),  # "angio" inside "cholangiography"
    row(GE, "Delayed SA", "LGE", ScanOptions=["CG"]),  # cardiac gating: delayed enhancement
    row(GE, "Delayed", None, ScanOptions=["CG"], BodyPartExamined="HEAD"),
    row(TOSHIBA, "T2_FSE_COR", "T2", ImageType=["DERIVED", "SECONDARY", "OTHER"]),  # Toshiba marks originals DERIVED\SECONDARY
]


@pytest.mark.parametrize("manufacturer, description, tags, expected", HOMONYM_ROWS)
def test_homonyms(manufacturer, description, tags, expected):
    check(manufacturer, description, tags, expected)


# --- ProtocolName: used where it names the series, ignored where it names the exam -------------

def test_protocol_name_names_the_series_on_siemens():
    assert classify(build("Series 5", ProtocolName="t2_tse_tra")) == "T2"
    assert classify(build(None, ProtocolName="ep2d_diff_3scan_trace")) == "DWI"


def test_ge_protocol_name_is_the_exam_and_leaks_nothing():
    assert classify(build("Ax T1", manufacturer=GE, ProtocolName="BRAIN W/WO CONTRAST")) == "T1"
    assert classify(build("Series 5", manufacturer=GE, ProtocolName="ROUTINE BRAIN DWI")) is None


# --- is_localizer / is_auxiliary ------------------------------------------------------------------

@pytest.mark.parametrize(
    "description, image_type, modality, expected",
    [
        ("Topogram 0.6 T20s", None, "CT", True),
        ("Scout", None, "CT", True),
        ("Surview", None, "CT", True),
        ("Scanogram", None, "CT", True),
        ("定位像", None, "CT", True),
        ("Series 1", ["ORIGINAL", "PRIMARY", "LOCALIZER"], "CT", True),
        ("localizer", None, "MR", True),
        ("Abdomen 1.0 B30f", None, "CT", False),
        ("Arterial 1.0", None, "CT", False),
    ],
)
def test_is_localizer(description, image_type, modality, expected):
    tags = {"ImageType": image_type} if image_type else {}
    assert is_localizer(build(description, modality=modality, **tags)) is expected


def test_is_auxiliary():
    assert is_auxiliary(build("PreMonitoring", modality="CT"))
    assert is_auxiliary(build("Dose Report", modality="CT", ImageType=["DERIVED", "SECONDARY", "SCREEN SAVE"]))
    assert not is_auxiliary(build("Venous 1.0 B30f", modality="CT"))


def test_required_codes():
    assert REQUIRED == ("T1", "T2", "FLAIR", "DWI", "T1_CONTRAST", "CINE", "LGE", "DCE", "ARTERIAL", "PORTAL_VENOUS",
                        "DELAYED")


def test_bad_values_do_not_raise():
    image = ImageFacts(source="x", modality="MR", series_uid="1", series_description="\x00\ufffd???", echo_time=float("nan"))
    (series,) = SeriesFacts.group([image]).values()
    assert classify(series) is None


# --- The real files pydicom ships -------------------------------------------------------------------

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
KNOWN = {
    "MR_small": {None, "T2"},  # Toshiba spin echo, TR 4000 TE 240: T2-weighted, no description (every encoding)
    "MR_truncated": {None, "T2"},
    "CT_small.dcm": {None},  # contrast given, no phase named
    "693_J2KI.dcm": {"NON_CONTRAST"},  # "5/5mm Plain"
    "examples_overlay.dcm": {"MPR"},  # an MPR collection of a dynamic VIBE
    "liver_1frame.dcm": {"NON_IMAGE"},  # a segmentation named "Liver Segmentation"
    "reportsi.dcm": {"REPORT"},
}


def _real_files() -> list[Path]:
    return sorted(TEST_FILES.glob("*.dcm")) if TEST_FILES.is_dir() else []


@pytest.mark.parametrize("path", _real_files(), ids=lambda path: path.name)
def test_real_pydicom_files(path: Path):
    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
        image = ImageFacts.from_dataset(ds, path.name)
    except Exception:  # files pydicom ships to test its own error paths
        pytest.skip("pydicom cannot read this file's header")
    (series,) = SeriesFacts.group([image]).values()
    code = classify(series)
    known = next((codes for name, codes in KNOWN.items() if path.name.startswith(name)), None)
    if known is not None:
        assert code in known
    else:
        # none of the others (US, NM, RT, SC, SR...) is an MR or CT series with a named sequence
        assert code not in REQUIRED
