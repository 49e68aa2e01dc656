"""Test fixtures build DICOM on the fly with the project's generator (no patient data)."""
from rules.dicomgen import SOP_CLASSES, SeriesSpec, add_private_block, make_dataset, write, write_study  # noqa: F401
