"""How fast, and in how much memory, `scanpass check` reads a large CT study, beside dcmtk and pydicom.

    .venv/bin/python benchmarks/check_speed.py                 # 3,000 files of each study, best of 3
    .venv/bin/python benchmarks/check_speed.py --keep          # keep the generated studies for the next run
    .venv/bin/python benchmarks/check_speed.py --also-10k      # and the 10,000-file memory check
    .venv/bin/python benchmarks/check_speed.py --files 50      # smoke test, a few seconds

Two studies, because the size of a header decides who wins: a reader that
walks element by element pays for every element, one that reads whole files
pays for every byte.

  private   a Siemens-like CT with large vendor private blocks (a CSA header
            and others: about 18 KB of header before the pixel data)
  small     the same CT without private blocks: about 2 KB of header, as many
            CT exports are

Each is 512x512 16-bit pixels (12 bits stored, a noisy phantom, so a zip does
not compress it absurdly), three series, one StudyInstanceUID, written under
<tempdir>/scanpass-bench/ as a folder (ct-N-vV/, ctsmall-N-vV/) and as a zip of
it, never into the repository. A study this script generated is removed after
the run unless --keep is given; one found complete from an earlier --keep run is
reused and left where it is (--fresh writes it anew).

The zip is ZIP_DEFLATED: that is what Windows' "compressed folder", macOS'
Archive Utility and most PACS/CD export tools write, so the checker pays for
inflating every header it reads, as it will with real uploads. It is written at
level 1, not those tools' level 6: on these noisy pixels level 6 is about ten
times slower to write (some 100 ms a file against 8) for a zip 4% smaller, and
inflating is equally fast either way, so the level changes the generation time,
not what is measured.

The measurements, each a child process timed by wall clock from start to exit
(interpreter start-up and the directory walk included), run in turns so a slow
moment of the machine does not land on one tool only:

  pydicom dcmread loop     a plain single-process loop of
                           dcmread(path, stop_before_pixels=True) touching the
                           tags the checker reads: what anyone would write first
  dcmdump, 1 process       `dcmdump -q +sb 7fe0,0010 +P tag ...` printing the
                           tags the checker reads (the CT ones; MR/PET-only tags
                           are absent from these files), stopping before the
                           pixel data as the checker does; all files passed to
                           one process by `find | xargs -0`
  dcmdump, N processes     the same split by `xargs -P N` into N equal batches,
                           one process per batch: N is what `scanpass check`
                           uses (the CPUs it may run on, at most 4), so both
                           use the same cores and pay N process start-ups. The
                           ratios and targets are against this row, the fair one.
  scanpass check folder    `scanpass check FOLDER --format json`
  scanpass check zip       `scanpass check ZIP --format json` (dcmdump cannot
                           read a zip: its row is the same files as a folder,
                           so the zip's ratio also counts inflating)
  one file, json / text    `scanpass check FILE` on one file of the study, with
                           --format json and as the text checklist: start-up
                           and imports, most of what a one-file check costs

The files are read once before any timing so every tool finds them in the OS
cache. Seconds are the best of --repeat runs; peak RSS is the highest of those
runs, as the sum of the RSS of the process and all its live descendants sampled
every 20 ms (pages that processes share, as forked workers do, count once in
each of them, so this errs high), next to the peak RSS of the largest single process (its VmHWM,
the figure ru_maxrss reports, read from /proc: wait4's ru_maxrss would include
the memory of this script, which every child inherits until it execs). On Linux
the peak summed PSS is shown too: shared pages divided among their sharers, the
tree's real share of RAM. The RSS targets are judged on the summed RSS.

Targets: folder and zip each at most the time of dcmdump on N processes
(ratio <= 1.0), a one-file check under 0.25 s, peak RSS under 250 MB, and (with
--also-10k) no higher for 10,000 files than for 3,000.

Exit code 0 when everything ran, whether targets were met or MISSED; 2 when
scanpass did not print JSON saying files.dicom == N; 1 when the benchmark
itself could not run (a reference failed, no disk space).
"""
from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # importing tests.factory must not leave __pycache__ in the repository

import argparse
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GENERATOR_VERSION = 2  # bump when the generated study changes, so old caches are not reused
ROWS = COLUMNS = 512
SAMPLE_INTERVAL = 0.02
XARGS_CHARS = 1_000_000  # command line for xargs: 10,000 paths in one dcmdump call
RSS_LIMIT_MB = 250
DCMDUMP_TARGET = 1.0  # scanpass time / dcmdump time on as many processes, folder and zip alike
ONE_FILE_TARGET = 0.25  # seconds for `scanpass check FILE`
KINDS = ("private", "small")
TEN_K = 10_000
TEN_K_NOISE_MB = 5  # the 10k peak may exceed the smaller study's by this much (allocator noise) and still pass

# The tags the checker reads (rules/header.py NEEDED_KEYWORDS, minus MR/PET-only ones); the pydicom
# loop touches each and dcmdump prints each.
TAGS = (
    "SpecificCharacterSet ImageType SOPClassUID StudyDate SeriesDate AcquisitionDate ContentDate "
    "AcquisitionTime Modality Manufacturer InstitutionName StudyDescription SeriesDescription PatientWeight "
    "ContrastBolusAgent BodyPartExamined SliceThickness ProtocolName StudyInstanceUID SeriesInstanceUID "
    "SeriesNumber NumberOfFrames"
).split()

PYDICOM_LOOP = r"""
import os, sys
import pydicom
keywords = sys.argv[2].split()
count = 0
for root, dirs, files in os.walk(sys.argv[1]):
    for name in files:
        ds = pydicom.dcmread(os.path.join(root, name), stop_before_pixels=True)
        for keyword in keywords:
            getattr(ds, keyword, None)
        count += 1
print(count)
"""


class BenchError(Exception):
    """The benchmark cannot go on; `code` is the exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- the study


@dataclass
class Study:
    files: int
    kind: str  # "private": large vendor private blocks; "small": about 2 KB headers
    folder: Path
    zip: Path
    marker: Path
    folder_bytes: int = 0
    zip_bytes: int = 0
    generated: bool = False  # by this run (so removed at the end unless --keep)

    @property
    def one_file(self) -> Path:
        return self.folder / "SE001" / "IM00001"

    def header_bytes(self) -> int:
        """Where the pixel data starts in the first file: the header's size."""
        with open(self.one_file, "rb") as fp:
            head = fp.read(1 << 20)
        return head.find(b"\xe0\x7f\x10\x00")


def study_for(cache: Path, files: int, kind: str) -> Study:
    stem = f"{'ct' if kind == 'private' else 'ctsmall'}-{files}-v{GENERATOR_VERSION}"
    return Study(files, kind, cache / stem, cache / f"{stem}.zip", cache / f"{stem}.json")


def count_files(folder: Path) -> int:
    return sum(len(names) for _, _, names in os.walk(folder))


def reusable(study: Study) -> bool:
    try:
        info = json.loads(study.marker.read_text())
    except (OSError, ValueError):
        return False
    if info.get("files") != study.files or info.get("version") != GENERATOR_VERSION:
        return False
    if not study.folder.is_dir() or not study.zip.is_file() or study.zip.stat().st_size != info.get("zip_bytes"):
        return False
    if count_files(study.folder) != study.files:
        return False
    study.folder_bytes, study.zip_bytes = info["folder_bytes"], info["zip_bytes"]
    return True


def remove(study: Study) -> None:
    shutil.rmtree(study.folder, ignore_errors=True)
    for path in (study.zip, study.zip.with_suffix(".zip.part"), study.marker):
        path.unlink(missing_ok=True)


def series_plan(files: int) -> list[tuple[int, float, str, str, str]]:
    """(images, slice thickness, description, kernel, contrast) for the three series of the study."""
    thin = round(files * 0.55)
    medium = round(files * 0.30)
    return [
        (thin, 1.0, "Thorax 1.0 B70f", "B70f", ""),
        (medium, 2.0, "Thorax 2.0 I30f", "I30f\\3", ""),
        (files - thin - medium, 5.0, "Abdomen 5.0 B30f", "B30f", "Ultravist 370"),
    ]


def phantoms(np, rng, count: int = 8):
    """A few CT-like slices as stored values (HU + 1024, 12 bits): air, a body, lungs, a spine, soft tissue."""
    yy, xx = np.mgrid[0:ROWS, 0:COLUMNS].astype(np.float32)
    slices = []
    for index in range(count):
        scale = 1.0 - 0.03 * index
        image = np.full((ROWS, COLUMNS), 24, np.float32)  # air, about -1000 HU
        outside = (xx - 255.5) ** 2 + (yy - 255.5) ** 2 > 256**2  # beyond the reconstructed field of view
        body = ((xx - 256) / (220 * scale)) ** 2 + ((yy - 260) / (165 * scale)) ** 2 < 1
        image[body] = 1024 + 40
        for cx in (170, 342):
            lung = ((xx - cx) / (70 * scale)) ** 2 + ((yy - 245) / (100 * scale)) ** 2 < 1
            image[lung] = 1024 - 850
        spine = (xx - 256) ** 2 + (yy - 360) ** 2 < (28 * scale) ** 2
        image[spine] = 1024 + 700
        image += rng.normal(0, 6, image.shape).astype(np.float32)  # smooth structure, then per-file noise
        slices.append((image.astype(np.int16), outside))
    return slices


def csa_blob(rng, size: int) -> bytes:
    """Bytes shaped like a Siemens CSA header: 'SV10', then name/VR/value records padded with zeros."""
    out = bytearray(b"SV10\x04\x03\x02\x01")
    names = [b"EchoLinePosition", b"SliceMeasurementDuration", b"ImaCoilString", b"SliceNormalVector", b"CsiGridshiftVector", b"TablePositionOrigin"]
    i = 0
    while len(out) < size:
        out += names[i % len(names)].ljust(64, b"\x00") + b"\x01\x00\x00\x00FD\x00\x00" + rng.bytes(12) + bytes(12)
        i += 1
    return bytes(out[:size])


def generate(study: Study) -> None:
    """Write the study as a folder, then as a deflated zip of that folder, then the marker saying both are complete."""
    try:
        _generate(study)
    except BaseException:
        remove(study)  # never leave half a study behind
        raise


def _generate(study: Study) -> None:
    import numpy as np
    from pydicom.uid import generate_uid

    sys.path.insert(0, str(REPO))
    from tests.factory import make_dataset, write

    remove(study)
    need = study.files * (ROWS * COLUMNS * 2 + 40_000) * 19 // 10  # folder + a zip of ~0.9 of it
    free = shutil.disk_usage(study.folder.parent).free
    if free < need:
        raise BenchError(f"not enough space in {study.folder.parent}: {need / 1e9:.1f} GB needed, {free / 1e9:.1f} GB free")
    study.folder.mkdir(parents=True)

    rng = np.random.default_rng(20261101 + study.files)
    bases = phantoms(np, rng)
    pool = rng.normal(0, 14, ROWS * COLUMNS + 65_536).astype(np.int16)  # per-file noise, a different window each file
    series_csa = csa_blob(rng, 12 * 1024)
    study_uid, frame_uid = generate_uid(), generate_uid()
    started = time.perf_counter()
    counter = 0
    for number, (images, thickness, description, kernel, contrast) in enumerate(series_plan(study.files), start=1):
        series_uid = generate_uid()
        for index in range(images):
            offset = (counter * 7_919) % 65_536
            base, outside = bases[counter % len(bases)]
            image = np.clip(base + pool[offset : offset + ROWS * COLUMNS].reshape(ROWS, COLUMNS), 0, 4095)
            image[outside] = 0  # padding, -1024 HU, as scanners write it
            pixels = image.astype("<u2").tobytes()
            z = -100.0 - index * thickness
            ds = make_dataset(
                "CT",
                study_uid=study_uid,
                series_uid=series_uid,
                study_date="20261101",
                pixels=pixels,
                rows=ROWS,
                columns=COLUMNS,
                ImageType=["ORIGINAL", "PRIMARY", "AXIAL", "CT_SOM5 SPI"],
                StudyTime="093012.000000",
                SeriesTime=f"0931{number:02d}.000000",
                AcquisitionDate="20261101",
                ContentDate="20261101",
                AcquisitionTime="093105.123456",
                AccessionNumber="A2026110100042",
                StudyID="1",
                ManufacturerModelName="SOMATOM Definition AS+",
                StationName="CTAWP00001",
                SoftwareVersions="syngo CT VA48A",
                SeriesDescription=description,
                ProtocolName="ThoraxAbdomen_Routine",
                SeriesNumber=number,
                InstanceNumber=index + 1,
                AcquisitionNumber=2,
                SliceThickness=f"{thickness:.1f}",
                KVP="120",
                XRayTubeCurrent=210,
                Exposure=140,
                ConvolutionKernel=kernel,
                ContrastBolusAgent=contrast or None,
                PatientPosition="FFS",
                FrameOfReferenceUID=frame_uid,
                ImagePositionPatient=["-250.0", "-220.0", f"{z:.1f}"],
                ImageOrientationPatient=["1", "0", "0", "0", "1", "0"],
                SliceLocation=f"{z:.1f}",
                PixelSpacing=["0.78125", "0.78125"],
                RescaleIntercept="-1024",
                RescaleSlope="1",
                RescaleType="HU",
                WindowCenter=["-600", "40"],
                WindowWidth=["1200", "400"],
                PatientName="DOE^JANE",
                PatientID="P2026110100042",
                PatientBirthDate="19640512",
                PatientSex="F",
                PatientAge="062Y",
                ReferringPhysicianName="SMITH^JOHN",
                OperatorsName="TECH^ONE",
                DeviceSerialNumber="81234",
                DataCollectionDiameter="500",
                ReconstructionDiameter="400",
                DistanceSourceToDetector="1085.6",
                DistanceSourceToPatient="595",
                GantryDetectorTilt="0",
                TableHeight="150",
                RotationDirection="CW",
                FilterType="FLAT",
                GeneratorPower=25,
                FocalSpots=["1.2"],
                PositionReferenceIndicator="",
                SamplesPerPixel=1,
                PhotometricInterpretation="MONOCHROME2",
                BitsAllocated=16,
                BitsStored=12,
                HighBit=11,
                PixelRepresentation=0,
                LossyImageCompression="00",
            )
            if study.kind == "private":
                add_siemens_blocks(ds, z, series_csa)
            counter += 1
            write(ds, study.folder / f"SE{number:03d}" / f"IM{counter:05d}")
            if counter % 500 == 0:
                print(f"  generated {counter}/{study.files} files ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    study.folder_bytes = sum(p.stat().st_size for p in study.folder.rglob("*") if p.is_file())

    part = study.zip.with_suffix(".zip.part")
    print("  zipping (deflate) ...", file=sys.stderr)
    with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:  # why level 1: see the top
        for path in sorted(p for p in study.folder.rglob("*") if p.is_file()):
            zf.write(path, f"{study.folder.name}/{path.relative_to(study.folder).as_posix()}")
    os.replace(part, study.zip)
    study.zip_bytes = study.zip.stat().st_size
    study.marker.write_text(
        json.dumps({"files": study.files, "version": GENERATOR_VERSION, "folder_bytes": study.folder_bytes, "zip_bytes": study.zip_bytes})
    )
    study.generated = True
    print(f"  done in {time.perf_counter() - started:.0f} s", file=sys.stderr)



def add_siemens_blocks(ds, z: float, series_csa: bytes) -> None:
    """The vendor private blocks of the "private" study: about 16 KB of header a file."""
    from tests.factory import add_private_block

    coad = ds.private_block(0x0019, "SIEMENS CT VA0  COAD", create=True)
    coad.add_new(0x10, "DS", "4.5")
    coad.add_new(0x13, "DS", "0.6")
    coad.add_new(0x92, "DS", f"{z:.1f}")
    coad.add_new(0xB0, "DS", "1.2")
    med = ds.private_block(0x0021, "SIEMENS MED", create=True)
    med.add_new(0x11, "DS", ["0", "0"])
    med.add_new(0x30, "SH", "CT-Thorax")
    add_private_block(ds, 0x0029, "SIEMENS CSA HEADER", size=4 * 1024)  # 0029,xx10 image info, random bytes
    csa = ds.private_block(0x0029, "SIEMENS CSA HEADER")
    csa.add_new(0x09, "LO", "20061201")
    csa.add_new(0x18, "CS", "CT")
    csa.add_new(0x19, "LO", "20061201")
    csa.add_new(0x20, "OB", series_csa)  # series info, the same in every file
    medcom = ds.private_block(0x0029, "SIEMENS MEDCOM HEADER2", create=True)
    medcom.add_new(0x60, "LO", "com")


def warm(study: Study) -> float:
    """Read every byte of the folder and the zip once, so all tools find them in the OS cache; returns seconds."""
    started = time.perf_counter()
    buffer = bytearray(1 << 20)
    paths = [Path(root) / name for root, _, names in os.walk(study.folder) for name in names] + [study.zip]
    for path in paths:
        with open(path, "rb", buffering=0) as fp:
            while fp.readinto(buffer):
                pass
    return time.perf_counter() - started


# --------------------------------------------------------------------------- measuring


class TreeSampler(threading.Thread):
    """Memory of a process and all its live descendants, sampled every SAMPLE_INTERVAL.

    `peak` is the highest sum of their RSS; `largest` the highest RSS of any one of
    them (its VmHWM on Linux, so peaks between two samples count too); `pss` the
    highest sum of their PSS (Linux only, else 0). Not the
    ru_maxrss of wait4(): a child forked from this script inherits this script's
    high-water mark, so every tool would seem to need at least what the harness uses.
    """

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.largest, self.pss, self.samples = pid, 0, 0, 0, 0
        self.done = threading.Event()
        self.method = "proc" if os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children") else "psutil"
        if self.method == "psutil":
            try:
                import psutil  # noqa: F401
            except ImportError:
                self.method = "none"

    def run(self) -> None:
        measure = {"proc": self._proc_tree, "psutil": self._psutil_tree}.get(self.method)
        while measure is not None:
            total, largest, pss = measure()
            self.peak, self.largest, self.pss = max(self.peak, total), max(self.largest, largest), max(self.pss, pss)
            self.samples += 1
            if self.done.wait(SAMPLE_INTERVAL):
                break

    def _proc_tree(self) -> tuple[int, int]:
        """From /proc: each process' VmRSS, VmHWM and Pss, descendants from every thread's children list."""
        total = largest = pss = 0
        pending = [self.pid]
        while pending:
            pid = pending.pop()
            try:
                with open(f"/proc/{pid}/status", "rb") as fp:
                    status = fp.read()
                for tid in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{tid}/children", "rb") as fp:
                        pending.extend(int(child) for child in fp.read().split())
            except (OSError, ValueError):
                continue  # gone between two reads
            fields = dict(line.split(b":", 1) for line in status.splitlines() if line.startswith((b"VmRSS", b"VmHWM")))
            if b"VmRSS" not in fields:  # zombies have none
                continue
            total += int(fields[b"VmRSS"].split()[0]) * 1024
            largest = max(largest, int(fields[b"VmHWM"].split()[0]) * 1024)
            try:
                with open(f"/proc/{pid}/smaps_rollup", "rb") as fp:
                    rollup = fp.read()
                pss += int(rollup.split(b"\nPss:", 1)[1].split()[0]) * 1024
            except (OSError, IndexError, ValueError):
                pass
        return total, largest, pss

    def _psutil_tree(self) -> tuple[int, int]:
        import psutil

        try:
            root = psutil.Process(self.pid)
            processes = [root] + root.children(recursive=True)
        except psutil.Error:
            return 0, 0, 0
        sizes = []
        for process in processes:
            try:
                sizes.append(process.memory_info().rss)
            except psutil.Error:
                pass
        return sum(sizes), max(sizes, default=0), 0


@dataclass
class Run:
    seconds: float
    tree_peak: int  # bytes, highest summed RSS of the process tree
    largest_process: int  # bytes, highest RSS of one process of the tree
    tree_pss: int  # bytes, highest summed PSS of the process tree (0: not known)
    returncode: int
    stdout: str
    stderr: str


def run_measured(command: list[str], cwd: Path) -> Run:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd)
        # Popen returns once the child has exec'd, so the first sample sees the tool, not a copy of this script.
        sampler = TreeSampler(process.pid)
        sampler.start()
        returncode = process.wait()
        seconds = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    return Run(seconds, sampler.peak, sampler.largest, sampler.pss, returncode, stdout, stderr)


@dataclass
class Tool:
    name: str
    command: list[str]
    check: object  # callable(Run) -> str | None: None when the output is right, else what is wrong
    fatal: int = 0  # exit code when the output is wrong (0: note it and go on)
    runs: list[Run] = field(default_factory=list)
    problem: str | None = None

    @property
    def best(self) -> float:
        return min(run.seconds for run in self.runs)

    @property
    def tree_peak(self) -> int:
        return max(run.tree_peak for run in self.runs)

    @property
    def largest_process(self) -> int:
        return max(run.largest_process for run in self.runs)

    @property
    def tree_pss(self) -> int:
        return max(run.tree_pss for run in self.runs)


def tail(text: str, lines: int = 12) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


def pydicom_tool(study: Study) -> Tool:
    def check(run: Run) -> str | None:
        if run.returncode != 0:
            return f"exit code {run.returncode}\n{tail(run.stderr)}"
        if run.stdout.strip() != str(study.files):
            return f"read {run.stdout.strip() or 'nothing'} files, expected {study.files}"
        return None

    return Tool("pydicom dcmread loop", [sys.executable, "-c", PYDICOM_LOOP, str(study.folder), " ".join(TAGS)], check, fatal=1)


def dcmdump_tool(study: Study, dcmdump: str, processes: int) -> Tool:
    """dcmdump printing the tags the checker reads, in `processes` processes of equal batches."""
    from pydicom.datadict import tag_for_keyword

    searches = " ".join(f"+P {tag_for_keyword(k) >> 16:04x},{tag_for_keyword(k) & 0xFFFF:04x}" for k in TAGS)
    batch = -(-study.files // processes)
    script = (f'find "$1" -type f -print0 | xargs -0 -s {XARGS_CHARS} -P {processes} -n {batch} '
              f'{shlex.quote(dcmdump)} -q +sb 7fe0,0010 {searches}')

    def check(run: Run) -> str | None:
        printed = run.stdout.count("(0020,000e)")
        if run.returncode != 0 or printed != study.files:
            return f"exit code {run.returncode}, SeriesInstanceUID printed for {printed} of {study.files} files\n{tail(run.stderr, 5)}"
        return None

    name = "dcmdump, 1 process" if processes == 1 else f"dcmdump, {processes} processes"
    return Tool(name, ["sh", "-c", script, "sh", str(study.folder)], check)


def scanpass_tool(name: str, scanpass: list[str], target: Path, study: Study) -> Tool:
    def check(run: Run) -> str | None:
        try:
            report = json.loads(run.stdout)
            dicom = report["files"]["dicom"]
        except (ValueError, KeyError, TypeError):
            return f"no JSON with files.dicom (exit code {run.returncode})\n  stdout:\n{tail(run.stdout, 5)}\n  stderr:\n{tail(run.stderr)}"
        if dicom != study.files:
            return f"JSON says files.dicom == {dicom}, expected {study.files} (exit code {run.returncode})"
        return None

    return Tool(name, [*scanpass, "check", str(target), "--format", "json"], check, fatal=2)


def one_file_tool(scanpass: list[str], study: Study, output: str) -> Tool:
    def check(run: Run) -> str | None:
        if run.returncode != 0:
            return f"exit code {run.returncode}\n{tail(run.stderr)}"
        if output == "json":
            try:
                dicom = json.loads(run.stdout)["files"]["dicom"]
            except (ValueError, KeyError, TypeError):
                return f"no JSON with files.dicom\n{tail(run.stdout, 5)}"
            if dicom != 1:
                return f"JSON says files.dicom == {dicom}, expected 1"
        elif not run.stdout.strip():
            return "no checklist printed"
        return None

    return Tool(f"one file, {output}", [*scanpass, "check", str(study.one_file), "--format", output], check, fatal=2)


def measure_all(tools: list[Tool], repeat: int, cwd: Path) -> None:
    """Each tool `repeat` times, in turns; a tool whose output is wrong is not run again."""
    for round_ in range(repeat):
        for tool in tools:
            if tool.problem:
                continue
            try:
                run = run_measured(tool.command, cwd)
            except OSError as exc:  # not installed, not executable
                tool.problem = f"cannot start {tool.command[0]}: {exc.strerror or exc}"
                print(f"  {tool.name}: {tool.problem}", file=sys.stderr)
                continue
            tool.problem = tool.check(run)
            if tool.problem is None:
                tool.runs.append(run)
            print(f"  run {round_ + 1}/{repeat} {tool.name:<24} {run.seconds:7.2f} s"
                  + ("" if tool.problem is None else "  WRONG OUTPUT"), file=sys.stderr)


# --------------------------------------------------------------------------- reporting


def mb(value: int) -> float:
    return value / (1 << 20)


def report(study: Study, tools: list[Tool], repeat: int, missing: list[str], processes: int) -> dict[str, float]:
    """Print the table; returns the peak RSS (MB) of the scanpass rows that ran."""
    print()
    print(
        f"{study.kind} study: {study.files} files, header {study.header_bytes() / 1024:.1f} KB a file, "
        f"{study.folder_bytes / 1e9:.2f} GB folder, {study.zip_bytes / 1e9:.2f} GB zip "
        f"(deflated to {study.zip_bytes / max(study.folder_bytes, 1):.0%})  CT 512x512 16-bit, 3 series"
    )
    print(f"seconds: best of {repeat}, wall clock incl. start-up;  memory: highest of {repeat}, process tree summed")
    single = next((t for t in tools if t.name == "dcmdump, 1 process" and t.runs), None)
    fair = next((t for t in tools if t.name == f"dcmdump, {processes} processes" and t.runs), single)
    pydicom_loop = next((t for t in tools if t.name.startswith("pydicom") and t.runs), None)
    references = [(fair, f"vs dcmdump {processes}p" if fair is not single else "vs dcmdump")]
    if single is not None and fair is not single:
        references.append((single, "vs dcmdump 1p"))
    if pydicom_loop is not None:
        references.append((pydicom_loop, "vs pydicom"))
    print(f"{'tool':<24} {'seconds':>8} {'files/s':>9} {'peak RSS MB':>12} {'(largest process)':>17} {'PSS MB':>7} "
          + " ".join(f"{label:>13}" for _, label in references))
    peaks = {}
    for tool in tools:
        if not tool.runs:
            print(f"{tool.name:<24} {'-':>8} {'-':>9} {'-':>12} {'':>17} {'-':>7}   FAILED")
            continue
        one = tool.name.startswith("one file")
        files = 1 if one else study.files
        pss = f"{mb(tool.tree_pss):7.0f}" if tool.tree_pss else f"{'-':>7}"
        versus = [f"{tool.best / ref.best:12.2f}x" if ref is not None and not one else f"{'':>13}" for ref, _ in references]
        line = (f"{tool.name:<24} {tool.best:8.2f} {files / tool.best:9.0f} {mb(tool.tree_peak):12.0f}"
                f" {f'({mb(tool.largest_process):.0f})':>17} {pss} " + " ".join(versus))
        if tool.name.startswith("scanpass"):
            peaks[tool.name] = mb(tool.tree_peak)
            if fair is not None:
                ratio = tool.best / fair.best
                line += f"   target <= {DCMDUMP_TARGET:.1f}x {'OK' if ratio <= DCMDUMP_TARGET else 'MISSED'}"
            line += f", RSS < {RSS_LIMIT_MB} MB {'OK' if mb(tool.tree_peak) < RSS_LIMIT_MB else 'MISSED'}"
        elif one:
            line += f"   target < {ONE_FILE_TARGET:.2f} s {'OK' if tool.best < ONE_FILE_TARGET else 'MISSED'}"
        print(line)
    if fair is not None and fair is not single:
        print(f"(targets against `{fair.name}`: as many processes as scanpass uses; `vs dcmdump 1p` for reference)")
    for note in missing:
        print(note)
    if study.files < 1000:
        print(f"(only {study.files} files: start-up dominates, so the time targets say little here)")
    return peaks


# --------------------------------------------------------------------------- main


def default_scanpass() -> list[str]:
    beside = Path(sys.executable).parent / "scanpass"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("scanpass")
    return [found] if found else ["scanpass"]


def scanpass_processes() -> int:
    """How many processes `scanpass check` reads a large upload with (rules/checker.py: the usable CPUs, at most 4)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, 4))


def bench(study: Study, args: argparse.Namespace, scanpass: list[str]) -> tuple[dict[str, float], int]:
    if not args.fresh and reusable(study):
        print(f"reusing {study.folder} and {study.zip.name}", file=sys.stderr)
    else:
        print(f"generating {study.files} files in {study.folder} ...", file=sys.stderr)
        generate(study)
    print(f"warming the OS cache: read {(study.folder_bytes + study.zip_bytes) / 1e9:.2f} GB in {warm(study):.1f} s", file=sys.stderr)

    processes = scanpass_processes()
    tools = [] if args.no_pydicom else [pydicom_tool(study)]
    missing = []
    dcmdump = shutil.which("dcmdump")
    if dcmdump:
        tools.append(dcmdump_tool(study, dcmdump, 1))
        if processes > 1:
            tools.append(dcmdump_tool(study, dcmdump, processes))
    else:
        missing.append("dcmdump not found (apt-get install dcmtk)")
        print(missing[-1], file=sys.stderr)
    tools += [
        scanpass_tool("scanpass check folder", scanpass, study.folder, study),
        scanpass_tool("scanpass check zip", scanpass, study.zip, study),
        one_file_tool(scanpass, study, "json"),
        one_file_tool(scanpass, study, "text"),
    ]
    measure_all(tools, args.repeat, study.folder.parent)
    peaks = report(study, tools, args.repeat, missing, processes)
    code = 0
    for tool in tools:
        if tool.problem:
            print(f"\n{tool.name}: {tool.problem}")
            print(f"  command: {shlex.join(tool.command)}")
            code = max(code, tool.fatal)
    return peaks, code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=3000, help="files in the study (default 3000; 50 makes a smoke test)")
    parser.add_argument("--also-10k", action="store_true", help=f"also run everything on a {TEN_K:,}-file study and compare scanpass' peak RSS")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool; the best time is reported (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the study this run generates, for the next run to reuse")
    parser.add_argument("--fresh", action="store_true", help="generate the study anew even when a complete one is cached")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "scanpass-bench",
                        help="where studies are written (default: <tempdir>/scanpass-bench)")
    parser.add_argument("--scanpass", default=None, help="the scanpass command (default: the venv's console script)")
    parser.add_argument("--kind", choices=KINDS, action="append", default=None,
                        help="only this study (private: large vendor private blocks; small: ~2 KB headers); repeatable")
    parser.add_argument("--no-pydicom", action="store_true", help="leave out the (slow) pydicom loop")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # the table and the progress on stderr come out in order
    if args.files < 1 or args.repeat < 1:
        parser.error("--files and --repeat must be at least 1")
    cache = args.cache_dir.resolve()
    if cache == REPO or REPO in cache.parents:
        parser.error("--cache-dir must be outside the repository")
    cache.mkdir(parents=True, exist_ok=True)
    scanpass = shlex.split(args.scanpass) if args.scanpass else default_scanpass()

    import pydicom

    dcmdump = shutil.which("dcmdump")
    dcmdump_version = ""
    if dcmdump:
        first = subprocess.run([dcmdump, "--version"], capture_output=True, text=True).stdout.splitlines()
        dcmdump_version = first[0].strip("$ ").replace("dcmtk: ", "") if first else "?"
    print(f"python {sys.version.split()[0]}, pydicom {pydicom.__version__}, {dcmdump_version or 'no dcmdump'}, "
          f"{os.cpu_count()} CPUs; scanpass: {shlex.join(scanpass)}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5:
        print(f"note: load average {load:.2f} before the run: other work on this machine makes the times noisy")

    sizes = [args.files] + ([TEN_K] if args.also_10k and args.files != TEN_K else [])
    kinds = args.kind or list(KINDS)
    studies = [study_for(cache, files, kind) for files in sizes for kind in kinds]
    code = 0
    peaks_by_study = {}
    try:
        for study in studies:
            peaks, study_code = bench(study, args, scanpass)
            peaks_by_study[study.kind, study.files] = peaks
            code = max(code, study_code)
        if len(sizes) == 2:
            small, large = sizes
            print(f"\npeak RSS, {large:,} files vs {small:,} (target: no higher; {TEN_K_NOISE_MB} MB allowed for noise)")
            for kind in kinds:
                for name in ("scanpass check folder", "scanpass check zip"):
                    a, b = peaks_by_study[kind, small].get(name), peaks_by_study[kind, large].get(name)
                    label = f"{kind}: {name}"
                    if a is None or b is None:
                        print(f"  {label:<33} not measured")
                        continue
                    growth = (b - a) / (large - small) * 1000
                    verdict = "OK" if b <= a + TEN_K_NOISE_MB else "MISSED"
                    print(f"  {label:<33} {a:6.0f} MB -> {b:6.0f} MB  ({growth:+.1f} MB per 1,000 files)  {verdict}")
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        code = max(code, exc.code)
    finally:
        for study in studies:
            if study.generated and not args.keep:
                remove(study)
            elif study.folder.exists():
                print(f"(study kept in {study.folder} and {study.zip.name}; --fresh to rewrite it)", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
