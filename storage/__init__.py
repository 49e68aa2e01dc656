"""Storage: settings, the schema (sqlmodel + alembic) and the repository that loads and saves cases.

    from storage import Repository, Settings
    repository = Repository.from_settings(Settings.from_env()).open()
"""
from storage.config import Settings
from storage.errors import CaseFull, ConfigurationError, ConsentRequired, NestedStep, StorageError, UploadTooLarge
from storage.repository import Repository
from storage.schema import make_engine, migrate

__all__ = ["CaseFull", "ConfigurationError", "ConsentRequired", "NestedStep", "Repository", "Settings", "StorageError",
           "UploadTooLarge", "make_engine", "migrate"]
