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
import unicodedata
from functools import lru_cache

from rules.facts import SeriesFacts

REQUIRED = (
    "T1",
    "T2",
    "FLAIR",
    "DWI",
    "T1_CONTRAST",
    "CINE",
    "LGE",
    "DCE",
    "ARTERIAL",
    "PORTAL_VENOUS",
    "DELAYED",
)

# --- Signal physics, not acceptance policy --------------------------------------------
# Typical parameter ranges of each contrast weighting (ms). They only decide a weighting
# when the names are silent, or overrule names that contradict the physics.
T1_TR_MAX = 800.0  # spin-echo T1: short TR ...
T1_TE_MAX = 30.0  # ... and short TE
T2_TR_MIN = 2000.0  # spin-echo T2: long TR ...
T2_TE_MIN = 70.0  # ... and long TE
PD_TR_MIN = 1500.0  # proton density: long TR, short TE
PD_TE_MAX = 40.0
FLAIR_TI_MIN, FLAIR_TI_MAX = 1500.0, 3500.0  # fluid nulling inversion (1.5 T - 3 T, 2D and 3D)
FLAIR_TR_MIN = 4500.0
FLAIR_TE_MIN = 60.0
STIR_TI_MIN, STIR_TI_MAX = 80.0, 300.0  # fat nulling inversion
T1_IR_TI_MIN, T1_IR_TI_MAX = 400.0, 1300.0  # T1 FLAIR, MPRAGE, IR-FSPGR (BRAVO)
T2STAR_TE_MIN = 15.0  # gradient echo with a long TE is T2*-weighted
T2STAR_TR_MIN = 100.0
CINE_PHASES_MIN = 10  # a cine loop has many cardiac phases; parameter-only threshold
CINE_PHASES_WITH_NAME = 5  # fewer suffice when the name says bSSFP
DYNAMIC_PHASES_MIN = 2  # NumberOfTemporalPositions above 1 means repeated (dynamic) acquisition

SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
MR_SPECTROSCOPY_SOP = "1.2.840.10008.5.1.4.1.1.4.2"
NON_IMAGE_MODALITIES = {"SR": "REPORT", "DOC": "REPORT", "KO": "NON_IMAGE", "PR": "NON_IMAGE", "REG": "NON_IMAGE",
                        "SEG": "NON_IMAGE", "RTSTRUCT": "NON_IMAGE", "RTPLAN": "NON_IMAGE", "RTDOSE": "NON_IMAGE"}
AGENT_NONE = {"", "none", "no", "n/a", "na", "nil", "null", "0", "-", "--", "无", "無", "нет", "ninguno", "nenhum",
              "kein", "keine", "aucun", "sin", "non", "unenhanced", "not used"}
CARDIAC_BODY_PARTS = {"HEART", "CARDIAC", "CHEST_HEART", "CORONARY"}
NEURO_BODY_PARTS = {"HEAD", "BRAIN", "SKULL", "CSPINE", "TSPINE", "LSPINE", "SPINE", "NECK", "HEADNECK"}

# --- Vocabulary ------------------------------------------------------------------------
# Pattern syntax (see _Evidence.has): "word" a whole token; "two words" consecutive tokens;
# "re:..." a regex matching a whole token; "~abc" a substring of the text with every
# separator removed (catches CamelCase like "DarkFluid"); non-ASCII text a substring of
# the text; "=word" a whole non-ASCII token.

SCREEN = ("screen", "screensave", "screen save", "screenshot", "snapshot", "dose report", "dose info", "doseinfo",
          "~dosereport", "patient protocol", "~patientprotocol", "~phoenixzipreport", "exam summary", "~secondarycapture",
          "secondary capture", "report", "剂量报告", "截图")
LOCALIZER = ("loc", "locs", "locator", "~localiz", "~localis", "~scout", "~topogram", "topo", "~surview", "~scanogram",
             "~survey", "pilot", "tripilot", "3pl", "3 plane", "three plane", "plane loc", "localizador", "localisateur",
             "定位像", "定位", "локалайзер", "разметк", "скаут")
CALIBRATION = ("~calibration", "cal", "asset cal", "pure cal", "~refscan", "ref scan", "sense ref", "~coilsurvey",
               "~b0map", "~b1map", "b0 map", "b1 map", "~fieldmap", "field map", "~fieldmapping", "shim",
               "ti scout", "~tiscout", "ti finder", "~tifinder", "look locker", "~looklocker", "cine ir", "noise")
BOLUS_TRACKING = ("monitoring", "~premonitoring", "~smartprep", "bolus", "~bolustrack", "care bolus", "bolus tracking",
                  "~test bolus", "testbolus", "监测", "团注")
ADC = ("adc", "dadc", "eadc", "re:adc.*", "re:.*adc", "apparent diffusion", "~apparentdiffusion", "~expadc",
       "表观扩散", "表观弥散", "=икд", "ицд")
EXPONENTIAL = ("exp", "exponential", "expo")  # an exponential ADC map, when the series is diffusion
FA = ("fa", "colfa", "colorfa", "color fa", "fractional anisotropy", "~fractionalanisotropy", "各向异性")
TENSOR = ("tensor", "dti", "re:dti\\d*", "re:\\d+dir", "tractography", "张量", "тензор", "=дти")
MAP_WORDS = ("map", "maps", "mapping", "t1map", "t2map", "t2starmap", "t2smap", "r2star", "r2s", "molli", "shmolli",
             "ktrans", "kep", "iauc", "auc", "washin", "wash in", "washout", "wash out", "cbf", "cbv", "rcbf",
             "rcbv", "mtt", "ttp", "tmax", "pei", "mte", "ff", "pdff", "fatfraction", "fat fraction", "iodine",
             "vnc", "virtual non contrast", "t1rho", "re:t1rho.*", "re:t[12]map.*", "伪彩", "参数图")
SUBTRACTION = ("sub", "re:sub\\d+", "subs", "subtraction", "subtracted", "subtr", "~subtraction", "减影",
               "вычитани", "sustraccion", "soustraction", "subtraktion")
MIP = ("re:(?:mips?|minip|tmip)\\d*", "maximum intensity", "minimum intensity", "最大密度投影", "最小密度投影",
       "mip cor", "mip sag")
RENDER = ("mpr", "mprs", "re:mpr\\d*", "reformat", "reformats", "reformatted", "~reformat", "curved", "cpr", "vr", "vrt",
          "volume rendering", "ssd", "重组", "мпр")
DERIVED_MARKERS = {"MIP", "MINIP", "MPR", "MPR THICK", "REFORMATTED", "PROJECTION IMAGE", "CURVED", "CSA MPR",
                   "VOLUME RENDERING", "VR", "CSA 3D EDITOR", "SSD"}

DIFFUSION = ("dwi", "dw", "diff", "diffusion", "dwibs", "ivim", "isodwi", "trace", "tracew", "mddw", "resolve",
             "re:dwi.*", "re:ep2d_?diff.*", "re:b\\d{2,4}", "re:\\d{2,4}b", "re:b\\d{2,4}t", "multib", "multi b",
             "focus dwi", "~diffusion", "弥散", "扩散", "=дви", "диффуз", "difusion", "difusao", "الانتشار")
FMRI = ("bold", "fmri", "rsfmri", "resting state", "rs fmri", "ep2d bold", "~restingstate", "task", "静息态",
        "功能成像", "功能磁共振")
MRA = ("tof", "tof3d", "re:tof.*", "mra", "re:.*mra", "angio", "angiography", "~angio", "mrv", "venography", "cemra",
       "tricks", "4dtrak", "4d trak", "inhance", "timslip", "qflow", "flow", "venc", "re:pc\\d?d?", "ce mra",
       "血管成像", "血管造影", "ангио")
PERFUSION = ("perf", "perfusion", "~perfusion", "re:ep2d_?perf.*", "dsc", "pwi", "asl", "pcasl", "pasl", "3dasl",
             "arterial spin", "灌注", "перфуз", "perfusao")
DCE = ("dce", "dyn", "re:dyn[a-z0-9]*", "dynamic", "dynamics", "re:dinami[a-z]*", "re:dynami[a-z]*", "twist", "disco",
       "grasp", "mph", "multiphase", "multi phase", "dynaview", "dynaviews", "tricks dyn", "动态增强", "动态",
       "динамич")
SWI = ("swi", "swan", "swip", "seswi", "swi3d", "venobold", "susceptibility", "~suscept", "磁敏感")
MRCP = ("mrcp", "cholangio", "~cholangio", "胆胰管", "胰胆管", "水成像")
SPECTROSCOPY = ("svs", "spectro", "~spectro", "mrs", "press", "steam", "波谱", "спектр")
CARDIAC_CONTEXT = ("sa", "sax", "short axis", "~shortaxis", "lax", "long axis", "~longaxis", "4ch", "2ch", "3ch",
                   "4cv", "2cv", "3cv", "4 ch", "2 ch", "3 ch", "lvot", "rvot", "cardiac", "heart", "cardio", "myocard",
                   "myocardium", "cmr", "心脏", "心肌", "сердц", "миокард")
LGE = ("lge", "re:lge.*", "psir", "re:psir.*", "mde", "re:.*mde", "late gad", "late gadolinium", "late enhancement",
       "late enh", "delayed enhancement", "delayed enh", "~delayedenhancement", "~lateenhancement", "viability",
       "viab", "realce tardio", "rehaussement tardif", "延迟强化", "心肌延迟", "отсроченное контрастирование",
       "позднее контрастирование", "отсроченного контрастирования")
LGE_CARDIAC_ONLY = ("de", "delayed", "delay", "late", "延迟增强")
CINE = ("cine", "re:cine.*", "retro", "电影", "кино")
BSSFP = ("trufi", "truefisp", "re:trufi.*", "bssfp", "ssfp", "btfe", "sbtfe", "re:s?btfe.*", "bffe", "fiesta", "trsg",
         "true ssfp", "truessfp", "balanced", "tfi", "re:tfi2d.*")
TAGGING = ("tag", "tagging", "grid", "spamm")

ARTERIAL = ("arterial", "art", "arteriel", "arterielle", "arteriell", "arteriale", "arteriosa", "arterial phase",
            "eap", "lap", "hap", "ap", "aphase", "artphase", "~arterialphase", "early arterial", "late arterial",
            "动脉期", "动脉相", "动脉早期", "动脉晚期", "артериальн", "артер", "شرياني", "الشرياني")
PORTAL = ("portal", "portalvenous", "portovenous", "portvenous", "portale", "portalvenos", "portalvenoes", "pv", "pvp",
          "pvph", "venous", "ven", "venos", "venoso", "venosa", "veineux", "veineuse", "portal venous",
          "~portalvenous", "门脉期", "门静脉期", "门脉相", "静脉期", "静脉相", "门脉", "портальн", "венозн",
          "портовен", "البابي", "وريدي")
DELAYED = ("delayed", "delay", "dely", "equilibrium", "equil", "eq", "equilibre", "equilibrio", "late", "latephase",
           "dp", "tardif", "tardive", "tardia", "tardio", "spat", "spaet", "spatphase", "spaetphase",
           "re:(3|4|5|6|7|8|10)min", "3 min", "4 min", "5 min", "10 min", "延迟期", "延迟相", "延时期", "延迟",
           "延时", "平衡期", "отсроч", "равновес", "متأخر", "المتأخر")
HEPATOBILIARY = ("hbp", "hepatobiliary", "re:(15|20|25)min", "15 min", "20 min", "肝胆期", "гепатобилиарн")
TRANSITIONAL = ("transitional", "移行期")

NON_CONTRAST = ("pre", "precontrast", "pre contrast", "pregad", "pre gad", "pre gd", "noncontrast", "non contrast",
                "non con", "noncon", "nonenhanced", "non enhanced", "unenhanced", "plain", "native", "nativ",
                "nc", "ncct", "w o", "wo", "without", "sin contraste", "sem contraste", "sans injection",
                "sans contraste", "ohne", "ohne km", "fase basal", "mask", "平扫", "增强前", "非增强", "без контраст",
                "натив", "бесконтраст", "بدون")
CONTRAST = ("gd", "gad", "gado", "gadolinium", "gadolinio", "gadovist", "dotarem", "magnevist", "prohance", "multihance",
            "primovist", "eovist", "contrast", "contraste", "kontrast", "~kontrastmittel", "km", "mdc", "ce", "cet1",
            "postcontrast", "post contrast", "postgad", "postgd", "enh", "enhanced", "injection", "injecte",
            "inj", "iv contrast", "增强", "造影剂", "对比剂", "контраст", "=ку", "постконтраст", "صبغة",
            "بالصبغة", "تباين")
CONTRAST_RAW = re.compile(r"\+\s*(?:c|gd|gad|gado|contrast|km|ce|mdc|dtpa)(?![a-z])|(?<![a-z0-9])(?:c|gd)\s*\+")

FLAIR_WORDS = ("flair", "re:.*flair", "~darkfluid", "dark fluid", "da fl", "fluid attenuated", "~fluidattenuated",
               "水抑制", "液体衰减", "флэр")
STIR_WORDS = ("stir", "re:stir.*", "re:.*stir")
T2STAR_WORDS = ("t2star", "t2s", "t2 star", "medic", "merge", "hemo", "t2ffe", "re:t2\\*?w?ffe",
                "梯度回波")
T2STAR_GRE = ("fl2d", "fl3d", "gre", "ffe", "fe", "de2d", "fgre", "mge", "megre", "swi")
T2_FAMILY = ("haste", "ssfse", "frfse", "ssh tse", "single shot", "re:haste.*", "rare")
T1_FAMILY = ("mprage", "re:mprage.*", "mp2rage", "bravo", "fspgr", "spgr", "irfspgr", "vibe", "re:.*vibe", "starvibe",
             "lava", "re:lava.*", "lavaflex", "thrive", "ethrive", "re:e?thrive.*", "quick3d", "quick 3d", "vibrant",
             "tigre", "rssg", "gre fsp", "fsp", "3d tfe", "flash", "mdixon", "dixon", "inphase", "opposed", "opp",
             "in opp", "in out", "dual echo", "ip op", "in phase", "out phase", "out of phase", "opposed phase")
T1_GRE_FAMILY = ("vibe", "re:.*vibe", "lava", "re:lava.*", "thrive", "re:e?thrive.*", "quick3d", "quick 3d", "vibrant",
                 "tigre", "fl3d", "re:fl3d.*", "fspgr", "spgr", "gre fsp", "3d tfe", "disco", "twist", "grasp")
PD_WORDS = ("re:(s|3d)?pd(w|wi|we|fs|tse|fse|spair|spir|fatsat|space|spc)?", "proton density", "质子密度",
            "протонн")
TIRM = ("tirm", "re:tirm.*", "tir", "ir")

_T1_TOKEN = re.compile(r"(?:s|e|r|x|3d|2d|ax|sag|cor|tra)?t1(?!\d|rho|map|star|mol)([a-z0-9]*)")
_T2_TOKEN = re.compile(r"(?:s|e|r|x|3d|2d|ax|sag|cor|tra)?t2(?!\d|map|star)([a-z0-9]*)")
_T1_CONTRAST_SUFFIX = re.compile(r".*(?:gd|gad|ce|post|km|enh|plusc)$|c$")
_SIEMENS_DIFFUSION = re.compile(r"^\*?(?:re|ep|ez)_?b\d+")
_SIEMENS_TRACE = re.compile(r"^\*?(?:re|ep|ez)_?b\d+t")
_TOKEN = re.compile(r"[a-z0-9]+|[^\W\d_a-z]+")
_CYRILLIC_T = re.compile(r"т(?=[12](?![0-9]))")
_T2_STAR_RAW = re.compile(r"t2\s*\*|t2\s*star")
_POST = re.compile(r" post (?!fossa )")  # "post" is post-contrast, "post fossa" the posterior fossa


def _normalise(text: str) -> str:
    """Lower case, accents and full-width forms folded, Cyrillic "Т1"/"Т2" read as Latin."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _CYRILLIC_T.sub("t", text)


@lru_cache(maxsize=None)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@lru_cache(maxsize=None)
def _pattern(pattern: str) -> tuple[str, str]:
    """A vocabulary pattern as (kind, normalised text); see the pattern syntax above."""
    if pattern.startswith("re:"):
        return "regex", pattern[3:]
    if pattern.startswith("~"):
        return "compact", pattern[1:].replace(" ", "")
    if pattern.startswith("="):
        return "token", _normalise(pattern[1:])
    if not pattern.isascii():
        return "substring", _normalise(pattern)
    if " " in pattern:
        return "phrase", f" {pattern} "
    return "token", pattern


class _Evidence:
    """The words one text offers, with matching helpers (see the pattern syntax above)."""

    def __init__(self, *parts: str):
        self.raw = _normalise(" | ".join(part for part in parts if part))
        self.tokens = tuple(_TOKEN.findall(self.raw))
        self.token_set = frozenset(self.tokens)
        self.joined = " " + " ".join(self.tokens) + " "
        self.compact = re.sub(r"[^a-z0-9]", "", self.raw)

    def has(self, *patterns: str) -> bool:
        return any(self._match(pattern) for pattern in patterns)

    def _match(self, pattern: str) -> bool:
        kind, text = _pattern(pattern)
        if kind == "token":
            return text in self.token_set
        if kind == "phrase":
            return text in self.joined
        if kind == "substring":
            return text in self.raw
        if kind == "compact":
            return text in self.compact
        regex = _regex(text)
        return any(regex.fullmatch(token) for token in self.tokens)

    def t1_tokens(self) -> list[str]:
        """Suffixes of tokens naming T1 weighting ("t1", "t1w", "st1w", "t1fs", "t1c"...); not T1 maps or T1rho."""
        return [m.group(1) for token in self.tokens if (m := _T1_TOKEN.fullmatch(token))]

    def t2_tokens(self) -> list[str]:
        return [m.group(1) for token in self.tokens if (m := _T2_TOKEN.fullmatch(token))]


class _Series:
    """A series with the text evidence of one pass (description or protocol name)."""

    def __init__(self, series: SeriesFacts, words: _Evidence):
        self.series = series
        self.first = series.first
        self.words = words
        self.image_types = set(series.image_types) | set(series.first.image_type)
        self.scanning = set(series.first.scanning_sequence)
        if "IR" in series.first.scan_options:  # some vendors flag the inversion pulse in ScanOptions
            self.scanning.add("IR")
        self.sequence_name = series.first.sequence_name.strip().lower()

    def has(self, *patterns: str) -> bool:
        return self.words.has(*patterns)

    # Parameter evidence -------------------------------------------------------------

    @property
    def max_b(self) -> float:
        values = set(self.series.b_values) | set(self.first.b_values)
        return max(values) if values else 0.0

    @property
    def dynamic(self) -> bool:
        positions = self.first.temporal_positions or 0
        return positions >= DYNAMIC_PHASES_MIN or len(self.series.temporal_positions) >= DYNAMIC_PHASES_MIN

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
        named = self.has(*CONTRAST) or bool(CONTRAST_RAW.search(self.words.raw) or _POST.search(self.words.joined))
        named = named or any(_T1_CONTRAST_SUFFIX.fullmatch(suffix) for suffix in self.words.t1_tokens() if suffix)
        return named or self.agent_given


# --- Public API ---------------------------------------------------------------------------


def classify(series: SeriesFacts) -> str | None:
    """The sequence code of a series (see the module doc); None when the header does not say."""
    first = series.first
    primary = _Series(series, _Evidence(first.series_description or _protocol_if_series_level(first), first.sequence_name))
    code = _classify(primary)
    if code is None and first.series_description and _protocol_if_series_level(first):
        code = _classify(_Series(series, _Evidence(first.protocol_name, first.sequence_name)))
    return code


def is_localizer(series: SeriesFacts) -> bool:
    """Scouts, topograms, surviews and MR localizers: images for planning, not for reading."""
    first = series.first
    if "LOCALIZER" in series.image_types or "LOCALIZER" in first.image_type:
        return True
    words = _Evidence(first.series_description or first.protocol_name, first.sequence_name)
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
    sop = first.sop_class_uid
    if sop == SECONDARY_CAPTURE_PREFIX or sop.startswith(SECONDARY_CAPTURE_PREFIX + ".") or first.modality in {"SC", "OT"}:
        return "SCREEN_CAPTURE"
    if "SCREEN SAVE" in s.image_types or "SCREENSHOT" in s.image_types or s.has(*SCREEN):
        return "SCREEN_CAPTURE"
    return None


def _localizer_or_calibration(s: _Series) -> str | None:
    if s.has(*CALIBRATION):  # before localizers: a cardiac "TI scout" is a calibration, not a scout
        return "CALIBRATION"
    if "LOCALIZER" in s.image_types or s.has(*LOCALIZER):
        return "LOCALIZER"
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
    if "FA" in types or s.has(*FA):
        return "FA"
    if "TENSOR" in types:
        return "DTI"
    if (
        any(t in types for t in ("MAP", "T1 MAP", "T2 MAP", "T2_STAR MAP", "T1MAP", "T2MAP", "R2STAR", "FF", "FAT FRACTION"))
        or s.has(*MAP_WORDS)
    ):
        return "PARAMETER_MAP"
    if s.has("dixon", "mdixon", "re:.*dixon", "~dixon", "flex", "ideal") and (s.has("f", "fat", "fat only", "fp") or "FAT" in types):
        return "DIXON_FAT"
    if "SUBTRACTION" in types or "SUB" in types or s.has(*SUBTRACTION):
        return "SUBTRACTION"
    if "PROJECTION IMAGE" in types or any(t.startswith(("MIP", "MINIP")) for t in types) or s.has(*MIP):
        return "MIP"
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
    if s.has("cta", "angio", "angiography", "~angio", "ccta", "coronary", "血管成像"):
        return "CTA"
    if s.has(*NON_CONTRAST):
        return "NON_CONTRAST"
    return None


def _mr(s: _Series) -> str | None:
    for rule in (_mr_special, _mr_diffusion, _mr_function_and_vessels, _mr_cardiac, _mr_dynamic):
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
    if s.first.sop_class_uid == MR_SPECTROSCOPY_SOP or s.has(*SPECTROSCOPY) or re.match(r"^\*?(svs|csi)", s.sequence_name):
        return "SPECTROSCOPY"
    return None


def _mr_diffusion(s: _Series) -> str | None:
    if s.has(*TENSOR):
        return "DTI"
    named = s.has(*DIFFUSION) or bool(_SIEMENS_DIFFUSION.match(s.sequence_name))
    trace = bool({"TRACEW", "TRACE", "ISODWI"} & s.image_types) or bool(_SIEMENS_TRACE.match(s.sequence_name))
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
    if bssfp and (s.cardiac_phases >= CINE_PHASES_WITH_NAME or (cardiac and s.cardiac_phases > 1)):
        return "CINE"
    if s.cardiac_phases >= CINE_PHASES_MIN and _cine_by_parameters(s):
        return "CINE"
    return None


def _cine_by_parameters(s: _Series) -> bool:
    """Many cardiac phases of a plain gradient-echo series: a cine, unless anything points elsewhere."""
    if "IR" in s.scanning or "EP" in s.scanning or "SE" in s.scanning:
        return False
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
    if _T2_STAR_RAW.search(s.words.raw) or s.has(*T2STAR_WORDS) or t2_gre:
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
    if "IR" in scanning and ti:
        if FLAIR_TI_MIN <= ti <= FLAIR_TI_MAX and (tr or 0) >= FLAIR_TR_MIN and te >= FLAIR_TE_MIN:
            return "FLAIR"
        if STIR_TI_MIN <= ti <= STIR_TI_MAX and te >= PD_TE_MAX and "GR" not in scanning:
            return "STIR"
        if T1_IR_TI_MIN <= ti <= T1_IR_TI_MAX and te < T1_TE_MAX and not s.cardiac_context:
            return "T1"
        return None
    if tr is None:
        return None
    if "SE" in scanning and "GR" not in scanning:
        if tr <= T1_TR_MAX and te <= T1_TE_MAX:
            return "T1"
        if tr >= T2_TR_MIN and te >= T2_TE_MIN:
            return "T2"
        if tr >= PD_TR_MIN and te <= PD_TE_MAX:
            return "PD"
        return None
    if "GR" in scanning and te >= T2STAR_TE_MIN and tr >= T2STAR_TR_MIN:
        return "T2_STAR"
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
