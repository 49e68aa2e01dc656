"""The sample: an upload of invented scans to try the checker without patient data (`scanpass sample`, `./run demo`).

`upload` writes the folder; `scans` builds the invented DICOM files it holds, which the tests build their fixtures with.
"""
from bot.sample.upload import write_sample

__all__ = ["write_sample"]
