"""Peak memory of a check of one zip holding many members, over the checker's whole process tree.

    .venv/bin/python benchmarks/many_members.py                    # 200,000 members (the file limit)
    .venv/bin/python benchmarks/many_members.py --members 20000    # a quicker run

The zip's members are one small invented CT image repeated (one series), written once to a
temporary folder. Memory is the resident set of this process plus its worker processes, sampled
every 20 ms while check() runs; the figure is the peak of that sum, and the peak of this process
alone, both minus this process's RSS before the check (the interpreter, pydicom, the checker).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.dont_write_bytecode = True  # importing tests.factory must not leave __pycache__ in the repository

from rules import Answers, check  # noqa: E402
from tests.factory import make_dataset, write  # noqa: E402

MB = 1024 * 1024


def build(path: Path, members: int) -> Path:
    """One series: the same image with its SOP instance UID numbered (same length) per member."""
    dataset = make_dataset("CT", rows=8, columns=8)
    image = write(dataset, path.with_suffix(".dcm")).read_bytes()
    uid = dataset.SOPInstanceUID.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for index in range(members):
            numbered = image.replace(uid, uid[:-7] + b"%07d" % index)
            archive.writestr(f"DICOM/S{index // 1000:04d}/IM{index % 1000:04d}", numbered)
    return path


class Sampler(threading.Thread):
    """The RSS of this process and its children, summed, every 20 ms."""

    def __init__(self):
        super().__init__(daemon=True)
        self.me = psutil.Process()
        self.tree_peak = self.own_peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            own = self.me.memory_info().rss
            tree = own
            for child in self.me.children(recursive=True):
                try:
                    tree += child.memory_info().rss
                except psutil.Error:
                    pass
            self.own_peak, self.tree_peak = max(self.own_peak, own), max(self.tree_peak, tree)
            time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scanpass-many-") as folder:
        archive = build(Path(folder) / "many.zip", args.members)
        before = psutil.Process().memory_info().rss
        sampler = Sampler()
        sampler.start()
        started = time.perf_counter()
        report = check([archive], Answers())
        seconds = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
    files = report.files
    print(f"{args.members:,} members: {files.dicom:,} DICOM, {len(files.unreadable)} unreadable, {seconds:.1f} s")
    print(f"peak RSS over the process tree: {sampler.tree_peak / MB:.0f} MB "
          f"({(sampler.tree_peak - before) / MB:.0f} MB above the {before / MB:.0f} MB before the check)")
    print(f"peak RSS of the checking process alone: {sampler.own_peak / MB:.0f} MB")


if __name__ == "__main__":
    main()
