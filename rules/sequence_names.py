"""The words of sequence names: each vendor's naming and other languages, and how a text is matched.

Pattern syntax (see `Evidence.has`): "word" a whole token; "two words" consecutive tokens;
"re:..." a regex matching a whole token; "~abc" a substring of the text with every separator
removed (catches CamelCase like "DarkFluid"); non-ASCII text a substring of the text; "=word" a
whole non-ASCII token.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

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
               "ti scout", "~tiscout", "ti finder", "~tifinder", "look locker", "~looklocker", "cine ir", "noise",
               "gre field", "~grefield", "re:b0maps?", "3db0map")
BOLUS_TRACKING = ("monitoring", "~premonitoring", "~smartprep", "bolus", "~bolustrack", "care bolus", "bolus tracking",
                  "~test bolus", "testbolus", "监测", "团注")
ADC = ("adc", "dadc", "eadc", "re:adc.*", "re:.*adc", "apparent diffusion", "~apparentdiffusion", "~expadc",
       "表观扩散", "表观弥散", "=икд", "ицд")
EXPONENTIAL = ("exp", "exponential", "expo")  # an exponential ADC map, when the series is diffusion
FA = ("fa", "colfa", "colorfa", "color fa", "fractional anisotropy", "~fractionalanisotropy", "各向异性")
TENSOR = ("tensor", "dti", "re:dti\\d*", "re:\\d+dir", "re:dir\\d+", "张量", "тензор", "=дти")
TRACTOGRAPHY = ("tractography", "tracts", "fibertracking", "fiber tracking", "~fibertrack", "纤维束", "трактограф")
B0_ONLY = ("b0", "re:b0?_?only")  # a diffusion series named b0 alone is a b0 reference, when no b-value says otherwise
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
FMRI = ("bold", "fmri", "rsfmri", "resting state", "rs fmri", "ep2d bold", "~restingstate", "task", "fcmri", "weisskoff", "静息态",
        "功能成像", "功能磁共振")
MRA = ("tof", "tof3d", "re:tof.*", "mra", "re:.*mra", "angio", "angiography", "~angio", "mrv", "venography", "cemra",
       "tricks", "4dtrak", "4d trak", "inhance", "timslip", "qflow", "flow", "venc", "re:pc\\d?d?", "ce mra",
       "血管成像", "血管造影", "ангио")
PERFUSION = ("perf", "perfusion", "~perfusion", "re:ep2d_?perf.*", "dsc", "pwi", "asl", "pcasl", "pasl", "3dasl", "re:(?:2d|3d)?p?c?asl\\d*",
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
EPI_WORDS = ("epi", "fe epi", "re:ep2d.*", "epirt", "re:epi\\d*")
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
T1_CONTRAST_SUFFIX = re.compile(r".*(?:gd|gad|ce|post|km|enh|plusc)$|c$")
SIEMENS_DIFFUSION = re.compile(r"^\*?(?:re|ep|ez)_?b\d+")
SIEMENS_TRACE = re.compile(r"^\*?(?:re|ep|ez)_?b\d+t")
_TOKEN = re.compile(r"[a-z0-9]+|[^\W\d_a-z]+")
_CYRILLIC_T = re.compile(r"т(?=[12](?![0-9]))")
T2_STAR_RAW = re.compile(r"t2\s*\*|t2\s*star")
POST = re.compile(r" post (?!fossa )")  # "post" is post-contrast, "post fossa" the posterior fossa


def normalise(text: str) -> str:
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
        return "token", normalise(pattern[1:])
    if not pattern.isascii():
        return "substring", normalise(pattern)
    if " " in pattern:
        return "phrase", f" {pattern} "
    return "token", pattern


class Evidence:
    """The words one text offers, with matching helpers (see the pattern syntax above)."""

    def __init__(self, *parts: str):
        self.raw = normalise(" | ".join(part for part in parts if part))
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
