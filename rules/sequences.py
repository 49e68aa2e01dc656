"""Which sequence (or contrast phase) a series is, from its header.

`classify(series)` returns:

* a required-sequence code (`REQUIRED`) when the series is recognised as one;
* another upper-case code when the series is known to be something else
  (`LOCALIZER`, `ADC`, `MIP`, `PD`, `NON_CONTRAST`, ...) -- these never fill a slot;
* `None` when the header does not say. A required code is never guessed.

Evidence is read from every field that carries it: SeriesDescription (and
ProtocolName where it describes the series), the scanner's sequence name,
ImageType, ScanningSequence, SequenceVariant, ScanOptions, TE/TR/TI,
b-values (standard and private), DiffusionDirectionality, ContrastBolusAgent,
temporal positions and cardiac phases.

Rule order (first match wins):

1. non-images and screen captures (SOP class, ImageType SCREEN SAVE, dose reports)
2. localizers, calibration and bolus-tracking scans
3. derived images: ADC, FA, tensor, parameter maps, subtraction, MIP, MPR/VR
4. CT: contrast phase names (ARTERIAL / PORTAL_VENOUS / DELAYED), NON_CONTRAST, else None
5. MR: spectroscopy, diffusion (DTI / DWI), fMRI, MRA and flow, perfusion vs DCE,
   SWI, MRCP, cardiac (LGE, CINE), contrast phase names, DCE, then the weighting
   (FLAIR / STIR / T2* / T2 / PD / T1, with T1 + contrast -> T1_CONTRAST).
"""
from __future__ import annotations

import re

from rules import policy as policy_file
from rules import sequence_physics, slots
from rules.facts import SeriesFacts
from rules.sequence_names import (
    ADC, AGENT_NONE, B0_ONLY, EPI_WORDS, TRACTOGRAPHY, ARTERIAL, BOLUS_TRACKING, BSSFP, CALIBRATION, CARDIAC_BODY_PARTS, CARDIAC_CONTEXT, CINE,
    CONTRAST, CONTRAST_RAW, DCE, DELAYED, DERIVED_MARKERS, DIFFUSION, EXPONENTIAL, FA, FLAIR_WORDS, FMRI,
    HEPATOBILIARY, LGE, LGE_CARDIAC_ONLY, LOCALIZER, MAP_WORDS, MIP, MRA, MRCP, NEURO_BODY_PARTS, NON_CONTRAST,
    NON_IMAGE_MODALITIES, PD_WORDS, PERFUSION, PORTAL, RENDER, SCREEN, SPECTROSCOPY, STIR_WORDS, SUBTRACTION,
    SWI, T1_FAMILY, T1_GRE_FAMILY, T2STAR_GRE, T2STAR_WORDS, T2_FAMILY, TAGGING, TENSOR, TIRM, TRANSITIONAL,
    POST, SIEMENS_DIFFUSION, SIEMENS_TRACE, T1_CONTRAST_SUFFIX, T2_STAR_RAW, Evidence,
)


POLICY = policy_file.load()
PHYSICS = sequence_physics.load()
REQUIRED = POLICY.required_codes  # the codes that fill a slot, read from the policy


class _Series:
    """A series with the text evidence of one pass (description or protocol name)."""

    def __init__(self, series: SeriesFacts, words: Evidence):
        self.series = series
        self.first = series.first
        self.words = words
        self.image_types = set(series.image_types) | set(series.first.image_type)
        self.scanning = set(series.first.scanning_sequence)
        if "IR" in series.first.scan_options:  # some vendors flag the inversion pulse in ScanOptions
            self.scanning.add("IR")
        self.sequence_name = series.first.sequence_name.strip().lower()
        self.variants = set(series.first.sequence_variant)

    def has(self, *patterns: str) -> bool:
        return self.words.has(*patterns)

    # Parameter evidence -------------------------------------------------------------

    @property
    def diffusion_weighted(self) -> bool:
        """Some image has a b-value above the nominal b0 (a "b0" of 5 s/mm2 carries no diffusion contrast)."""
        return self.max_b > PHYSICS.b0_max

    @property
    def max_b(self) -> float:
        values = set(self.series.b_values) | set(self.first.b_values)
        return max(values) if values else 0.0

    @property
    def dynamic(self) -> bool:
        positions = self.first.temporal_positions or 0
        least = PHYSICS.dynamic_phases_min
        return positions >= least or len(self.series.temporal_positions) >= least

    @property
    def cardiac_phases(self) -> int:
        return max(self.first.cardiac_phases or 0, len(self.series.trigger_times))

    @property
    def agent_given(self) -> bool:
        return self.first.contrast_agent.strip().lower() not in AGENT_NONE

    @property
    def cardiac_context(self) -> bool:
        if self.neuro:  # a gated brain or spine series (CSF flow) is still not cardiac
            return False
        return (
            self.first.body_part.replace(" ", "") in CARDIAC_BODY_PARTS
            or self.has(*CARDIAC_CONTEXT)
            or (self.first.cardiac_phases or 0) > 1
            or bool({"CG", "PPG"} & set(self.first.scan_options))  # cardiac or pulse gating
        )

    @property
    def neuro(self) -> bool:
        return self.first.body_part.replace(" ", "") in NEURO_BODY_PARTS

    def contrast(self) -> bool:
        """Contrast was given before this series, and nothing in the name says otherwise."""
        if self.has(*NON_CONTRAST):
            return False
        named = self.has(*CONTRAST) or bool(CONTRAST_RAW.search(self.words.raw) or POST.search(self.words.joined))
        named = named or any(T1_CONTRAST_SUFFIX.fullmatch(suffix) for suffix in self.words.t1_tokens() if suffix)
        return named or self.agent_given


# --- Public API ---------------------------------------------------------------------------


def classify(series: SeriesFacts) -> str | None:
    """The sequence code of a series (see the module doc); None when the header does not say."""
    first = series.first
    primary = _Series(series, Evidence(first.series_description or _protocol_if_series_level(first), first.sequence_name))
    code = _classify(primary)
    if code is None and first.series_description and _protocol_if_series_level(first):
        code = _classify(_Series(series, Evidence(first.protocol_name, first.sequence_name)))
    return code


def is_localizer(series: SeriesFacts) -> bool:
    """Scouts, topograms, surviews and MR localizers: images for planning, not for reading."""
    first = series.first
    if "LOCALIZER" in series.image_types or "LOCALIZER" in first.image_type:
        return True
    words = Evidence(first.series_description or first.protocol_name, first.sequence_name)
    return words.has(*LOCALIZER)


def is_auxiliary(series: SeriesFacts) -> bool:
    """Series nobody reads as diagnostic images: localizers, calibration, bolus tracking, screen captures, reports."""
    return is_localizer(series) or classify(series) in {
        "LOCALIZER", "CALIBRATION", "BOLUS_TRACKING", "SCREEN_CAPTURE", "REPORT", "NON_IMAGE"}


def _protocol_if_series_level(first) -> str:
    """ProtocolName when it names this series. GE (MR and CT) and CT in general store the exam's protocol
    there ("BRAIN W/WO", "Liver 3 phase"), which would leak one series' words into every series."""
    if first.modality != "MR" or _is_ge(first.manufacturer):
        return ""
    return first.protocol_name


def _is_canon(manufacturer: str) -> bool:
    name = manufacturer.upper()
    return "TOSHIBA" in name or "CANON" in name


def _is_ge(manufacturer: str) -> bool:
    name = manufacturer.upper().replace(".", "")
    return name == "GE" or name.startswith(("GE ", "GEMS", "GE_", "GENERAL ELECTRIC"))


# --- The rules ------------------------------------------------------------------------------


def _classify(s: _Series) -> str | None:
    modality = s.first.modality
    for rule in (_non_image, _localizer_or_calibration, _derived):
        code = rule(s)
        if code:
            return code
    if modality == "CT":
        return _ct_phase(s)
    if modality == "MR" or (not modality and (s.scanning or s.first.echo_time is not None)):
        return _mr(s)
    return None


def _non_image(s: _Series) -> str | None:
    first = s.first
    if first.modality in NON_IMAGE_MODALITIES:
        return NON_IMAGE_MODALITIES[first.modality]
    code = slots.non_image_code(first.sop_class_uid, POLICY)
    if code:
        return code
    if first.modality in {"SC", "OT"}:
        return "SCREEN_CAPTURE"
    if "SCREEN SAVE" in s.image_types or "SCREENSHOT" in s.image_types or s.has(*SCREEN):
        return "SCREEN_CAPTURE"
    return None


def _localizer_or_calibration(s: _Series) -> str | None:
    if s.has(*CALIBRATION):  # before localizers: a cardiac "TI scout" is a calibration, not a scout
        return "CALIBRATION"
    if "LOCALIZER" in s.image_types or s.has(*LOCALIZER):
        return "LOCALIZER"
    if s.first.modality == "MR" and s.has(*B0_ONLY) and not (s.has(*DIFFUSION) or s.has(*TENSOR) or s.diffusion_weighted):
        return "CALIBRATION"  # "B0" outside a diffusion series is a B0 (field) map
    if s.first.modality == "CT" and s.has(*BOLUS_TRACKING):
        return "BOLUS_TRACKING"
    return None


def _derived(s: _Series) -> str | None:
    types = s.image_types
    derived = "DERIVED" in types
    secondary = "SECONDARY" in types
    if "ADC" in types or "EADC" in types or ("DIFFUSION" in types and "EXP" in types):
        return "ADC"
    if s.has(*ADC) or (s.has(*EXPONENTIAL) and (s.has(*DIFFUSION) or s.max_b > 0 or "DIFFUSION" in types)):
        return "ADC"
    functional = "FMRI" in types or s.has(*FMRI)  # "task-fa" in a BOLD name is no FA map
    if "FA" in types or (s.has(*FA) and not functional):
        return "FA"
    if any(t.startswith("TENSOR") for t in types) or ((derived or secondary) and s.has("tensor")):
        return "TENSOR"  # a map computed from a tensor acquisition (Siemens names it <protocol>_TENSOR)
    if s.has(*TRACTOGRAPHY):
        return "TRACTOGRAPHY"
    if "ASL" in types and not types & {"RCBF", "CBF"}:
        return "PERFUSION"  # arterial spin labelling, label-control subtraction included
    if (
        any(t in types for t in ("MAP", "RCBF", "CBF", "RCBV", "CBV", "MTT", "TTP", "T1 MAP", "T2 MAP", "T2_STAR MAP", "T1MAP", "T2MAP", "R2STAR", "FF", "FAT FRACTION"))
        or s.has(*MAP_WORDS)
    ):
        return "PARAMETER_MAP"
    if s.has("dixon", "mdixon", "re:.*dixon", "~dixon", "flex", "ideal") and (s.has("f", "fat", "fat only", "fp") or "FAT" in types):
        return "DIXON_FAT"
    if "PROJECTION IMAGE" in types or any(t.startswith(("MIP", "MINIP")) for t in types) or s.has(*MIP):
        return "MIP"
    if "SUBTRACTION" in types or "SUB" in types or s.has(*SUBTRACTION):
        return "SUBTRACTION"
    if (derived or secondary) and types & DERIVED_MARKERS:
        return "MPR"
    if s.has(*RENDER) or {token for token in s.words.tokens if not token.isdigit()} == {"3d"}:
        return "MPR"  # a series called just "3D" is a rendering
    return None


ARTERIAL_STRONG = tuple(word for word in ARTERIAL if word != "ap")
DELAYED_STRONG = tuple(word for word in DELAYED if word != "late")


def _phase(s: _Series, *, vague_words: bool) -> str | None:
    """The one contrast phase the text names; None when none or several are named.

    `vague_words` admits the bare "AP" (arterial phase, but also antero-posterior) and "late".
    """
    found = set()
    if s.has(*ARTERIAL_STRONG) or (vague_words and s.has("ap")):
        found.add("ARTERIAL")
    if s.has(*PORTAL):
        found.add("PORTAL_VENOUS")
    # "late arterial" is arterial, not a second phase
    if s.has(*DELAYED_STRONG) or (vague_words and s.has("late") and not found):
        found.add("DELAYED")
    if s.has(*HEPATOBILIARY):
        found.discard("DELAYED")  # "delayed 20 min" with a liver-specific agent is the hepatobiliary phase
        found.add("HEPATOBILIARY")
    if s.has(*TRANSITIONAL) and not found:
        found.add("TRANSITIONAL")
    return found.pop() if len(found) == 1 else None


def _timed_phase(s: _Series) -> str | None:
    """The one phase a single-phase series's own timing names (ContrastBolusStartTime vs AcquisitionTime);
    a dynamic series is DCE, and the slot filling names its phases (rules/slots.py)."""
    if s.dynamic:
        return None
    phases = slots.timed_phases(s.series, PHYSICS)
    return phases[0] if len(phases) == 1 else None


def _ct_phase(s: _Series) -> str | None:
    if s.has("calcium", "ca score", "~cascore", "~calciumscor"):
        return "CALCIUM_SCORE"
    if s.has("perfusion", "perf", "灌注"):
        return "PERFUSION"
    # a bare "AP" or "late" names a phase only with contrast or in an abdominal series ("Chest AP" is not)
    body = s.first.body_part
    phase = _phase(s, vague_words=s.contrast() or any(part in body for part in ("ABD", "LIVER", "PELVIS")))
    if phase:
        return phase
    timed = _timed_phase(s)
    if timed:
        return timed
    if s.has("cta", "angio", "angiography", "~angio", "ccta", "coronary", "血管成像"):
        return "CTA"
    if s.has(*NON_CONTRAST):
        return "NON_CONTRAST"
    return None


def _mr(s: _Series) -> str | None:
    for rule in (_mr_special, _mr_diffusion, _mr_function_and_vessels, _mr_epi, _mr_cardiac, _mr_dynamic):
        code = rule(s)
        if code:
            return code
    code = _mr_weighting(s)
    if code:
        return code
    if s.has(*NON_CONTRAST) and not s.has(*CONTRAST):
        return "NON_CONTRAST"
    if s.has("re:moco.*", "~mocoseries") or "MOCO" in s.image_types:
        return "PARAMETER_MAP"
    return None


def _mr_special(s: _Series) -> str | None:
    if s.has(*SPECTROSCOPY) or re.match(r"^\*?(svs|csi)", s.sequence_name):
        return "SPECTROSCOPY"
    return None


def _mr_diffusion(s: _Series) -> str | None:
    named = s.has(*DIFFUSION) or bool(SIEMENS_DIFFUSION.match(s.sequence_name))
    if (named or s.has(*TENSOR)) and _b0_only(s):
        return "CALIBRATION"  # a b0-only series: the reverse phase-encoding reference of a diffusion scan
    if s.has(*TENSOR):
        return "DTI"
    trace = bool({"TRACEW", "TRACE", "ISODWI"} & s.image_types) or bool(SIEMENS_TRACE.match(s.sequence_name))
    directionality = s.first.diffusion_directionality
    if named or trace or directionality == "ISOTROPIC":
        return "DWI"
    if s.max_b > 0:
        # a b-value above 0 is diffusion weighting, unless the name gives another weighting
        # (vendors' private b-value tags are sometimes filled in other sequences)
        if "EP" in s.scanning or "DIFFUSION" in s.image_types or directionality in {"DIRECTIONAL", "BMATRIX"}:
            return "DWI"
        if not _named_weightings(s):
            return "DWI"
    return None


def _b0_only(s: _Series) -> bool:
    """Named b0 with no b-value above the nominal b0, in the header or the name."""
    if s.diffusion_weighted or not s.has(*B0_ONLY):
        return False
    named_b = [int(token[1:]) for token in s.words.tokens if token.startswith("b") and token[1:].isdigit()]
    return all(b <= PHYSICS.b0_max for b in named_b)


def _mr_epi(s: _Series) -> str | None:
    """An echo-planar series without diffusion weighting, when no name said more: physics decides.

    A gradient-echo EPI (Siemens epfid, GE EP\\GR) is a BOLD time series (FMRI), or a DSC perfusion when a
    contrast agent was given; a spin-echo EPI (Siemens epse) without diffusion weighting is a distortion
    reference (a field map). Neither fills a slot."""
    name = s.sequence_name
    epi = "EP" in s.scanning or bool(re.match(r"^\*?ep(fid|se)", name)) or "EPI" in s.image_types or s.has(*EPI_WORDS)
    # Philips stores an EPI as GR: a long-TE gradient-echo time series without contrast is BOLD all the same
    bold_like = ("GR" in s.scanning and s.dynamic and not s.agent_given and not s.cardiac_context
                 and (s.first.echo_time or 0) >= PHYSICS.t2_star.te_min)
    epi = epi or bold_like
    if not epi or s.diffusion_weighted or _named_weightings(s) - {"T2_STAR"}:
        return None
    gradient_echo = "GR" in s.scanning or name.lstrip("*").startswith("epfid") or "FFE" in s.image_types
    spin_echo = name.lstrip("*").startswith("epse") or ("SE" in s.scanning and "GR" not in s.scanning)
    if (gradient_echo or s.dynamic) and not spin_echo:
        return "PERFUSION" if s.agent_given else ("FMRI" if s.dynamic or not s.has(*T2STAR_WORDS) else None)
    if spin_echo and not s.has(*DIFFUSION) and not s.dynamic:
        return "CALIBRATION"
    return None


def _mr_function_and_vessels(s: _Series) -> str | None:
    if s.has(*FMRI) or "FMRI" in s.image_types:
        return "FMRI"
    if s.has(*MRCP):  # before MRA: "cholangiography" contains "angio"
        return "MRCP"
    if s.has(*MRA) and not s.has("dce", "dyn", "re:dyn[a-z0-9]*"):
        return "FLOW" if s.has("qflow", "flow", "venc") else "MRA"
    if s.has(*PERFUSION) or "PERFUSION" in s.image_types:
        # prostate/breast "perfusion" done as a T1 gradient-echo dynamic is DCE; brain DSC (EPI) and ASL are not
        epi = "EP" in s.scanning or s.has("ep2d", "epi", "re:ep2d.*", "dsc", "asl", "pcasl", "pasl", "3dasl", "arterial spin")
        if not epi and (s.has("dce") or s.words.t1_tokens() or s.has(*T1_GRE_FAMILY)):
            return "DCE"
        return "PERFUSION"
    if s.has(*SWI) or re.match(r"^\*?swi", s.sequence_name) or "SWI" in s.image_types:
        return "SWI"
    return None


def _mr_cardiac(s: _Series) -> str | None:
    cardiac = s.cardiac_context
    if s.has(*TAGGING) and cardiac:
        return "TAGGING"
    if s.has(*LGE) and not (s.neuro and not s.has("lge", "mde")):
        return "LGE"
    if cardiac and s.has(*LGE_CARDIAC_ONLY) and not s.has(*CINE):
        return "LGE"
    if s.has(*CINE):
        return "CINE"
    bssfp = s.has(*BSSFP) or bool(re.match(r"^\*?tfi", s.sequence_name))
    if bssfp and (s.cardiac_phases >= PHYSICS.cine_phases_with_name or (cardiac and s.cardiac_phases > 1)):
        return "CINE"
    if s.cardiac_phases >= PHYSICS.cine_phases_min and _cine_by_parameters(s):
        return "CINE"
    return None


def _cine_by_parameters(s: _Series) -> bool:
    """Many cardiac phases of a plain gradient-echo series: a cine, unless anything points elsewhere."""
    if "IR" in s.scanning or "EP" in s.scanning or "SE" in s.scanning:
        return False
    if (s.first.echo_time or 0) >= PHYSICS.t2_star.te_min:
        return False  # a cine (bSSFP or spoiled GRE) has a short TE; a long-TE time series is BOLD
    if not s.scanning and "GR" not in s.scanning:
        return False
    if {"P", "PHASE", "VELOCITY", "FLOW"} & s.image_types or re.search(r"_v\d*", s.sequence_name):
        return False
    return not (_named_weightings(s) or s.has(*PERFUSION) or s.has(*MRA) or s.has(*DIFFUSION))


def _mr_dynamic(s: _Series) -> str | None:
    t1_gre = bool(s.words.t1_tokens()) or s.has(*T1_GRE_FAMILY)
    # on MR a bare "AP" or "late" names a phase only in a contrast or dynamic T1 gradient-echo series;
    # a brain or spine has no liver phases: "T1 +C delayed" there is a post-contrast T1
    phase = None if s.neuro else _phase(s, vague_words=s.contrast() or s.dynamic or t1_gre)
    if phase:
        return phase
    timed = None if s.neuro or not (t1_gre or s.contrast()) else _timed_phase(s)
    if timed:
        return timed
    if s.has(*DCE):
        return "DCE"
    if s.dynamic and "EP" not in s.scanning and not s.cardiac_context and (t1_gre or (s.contrast() and "GR" in s.scanning)):
        return "DCE"
    return None


def _named_weightings(s: _Series) -> set[str]:
    found = set()
    t1 = s.words.t1_tokens()
    t2 = s.words.t2_tokens()
    if s.has(*FLAIR_WORDS) or any(suffix.startswith("flair") for suffix in t2):
        found.add("FLAIR")
    if s.has(*STIR_WORDS):
        found.add("STIR")
    t2_gre = any(suffix.startswith(T2STAR_GRE) for suffix in t2) or (t2 and s.has(*T2STAR_GRE))
    if T2_STAR_RAW.search(s.words.raw) or s.has(*T2STAR_WORDS) or t2_gre:
        found.add("T2_STAR")
    if t2 or s.has(*T2_FAMILY) or (_is_canon(s.first.manufacturer) and s.has("fase", "re:fase.*")):
        found.add("T2")  # Canon's FASE (single-shot FSE); elsewhere "fase" is Spanish/Portuguese for phase
    if s.has(*PD_WORDS):
        found.add("PD")
    if t1 or (not t2 and s.has(*T1_FAMILY)):
        found.add("T1")
    return found


def _weighting_by_parameters(s: _Series) -> str | None:
    first = s.first
    tr, te, ti = first.repetition_time, first.echo_time, first.inversion_time
    scanning = s.scanning
    if "EP" in scanning or te is None:
        return None
    p = PHYSICS
    if "IR" in scanning and ti:
        if p.flair.ti_within(ti) and (tr or 0) >= p.flair.tr_min and te >= p.flair.te_min:
            return "FLAIR"
        if p.stir.ti_within(ti) and te >= p.stir.te_min and "GR" not in scanning:
            return "STIR"
        if p.inversion_t1.ti_within(ti) and te < p.inversion_t1.te_max and not s.cardiac_context:
            return "T1"
        return None
    if tr is None:
        return None
    if "SE" in scanning and "GR" not in scanning:
        if tr <= p.spin_echo_t1.tr_max and te <= p.spin_echo_t1.te_max:
            return "T1"
        if tr >= p.spin_echo_t2.tr_min and te >= p.spin_echo_t2.te_min:
            return "T2"
        if tr >= p.spin_echo_pd.tr_min and te <= p.spin_echo_pd.te_max:
            return "PD"
        return None
    if "GR" in scanning and te >= p.t2_star.te_min and tr >= p.t2_star.tr_min:
        return "T2_STAR"
    if "GR" in scanning and "SP" in s.variants and tr <= p.t1_spoiled.tr_max and te <= p.t1_spoiled.te_max:
        return "T1"  # a spoiled gradient echo with short TR and TE (3D T1 GRE: VIBE, SPGR, THRIVE, LAVA)
    return None


def _mr_weighting(s: _Series) -> str | None:
    names = _named_weightings(s)
    params = _weighting_by_parameters(s)
    tirm = s.has(*TIRM) or bool(re.match(r"^\*?(tir|spcir)", s.sequence_name))
    code = _resolve(names, params, tirm)
    if code == "T1" and s.contrast():
        return "T1_CONTRAST"
    return code


def _resolve(names: set[str], params: str | None, tirm: bool) -> str | None:
    """One weighting from what the names say and what the parameters say; None on contradiction."""
    if "FLAIR" in names:
        if "T1" in names:
            return "FLAIR" if params == "FLAIR" else "T1"  # GE "T1 FLAIR" is T1-weighted
        if params == "T1":
            return "T1"
        return None if params == "STIR" else "FLAIR"
    if "T2_STAR" in names:
        return "T2_STAR"
    if "STIR" in names:
        return None if params == "FLAIR" else "STIR"
    if tirm and not names - {"T2"}:
        # Siemens TIRM / an IR sequence: FLAIR or STIR depending on the inversion time
        if params in {"FLAIR", "STIR"}:
            return params
        if names == {"T2"} and params is None:
            return None
    if len(names) > 1:
        return params if params in names else None
    if names == {"T1"}:
        return None if params in {"T2", "FLAIR", "PD", "STIR"} else "T1"
    if names == {"T2"}:
        if params in {"FLAIR", "STIR"}:
            return params
        return None if params in {"T1", "PD"} else "T2"
    if names == {"PD"}:
        return None if params in {"T1", "FLAIR", "STIR"} else ("T2" if params == "T2" else "PD")
    return params
