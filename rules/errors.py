"""The project's one base exception."""


class ScanPassError(Exception):
    """Base of every error ScanPass raises on purpose."""
