"""Test fixtures build DICOM on the fly with the sample's generator of invented scans (bot/sample/scans.py; no patient data)."""
from bot.sample.scans import SOP_CLASSES, SeriesSpec, add_private_block, make_dataset, write, write_study  # noqa: F401
