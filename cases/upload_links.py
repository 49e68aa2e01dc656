"""One-time upload links (`/u/TOKEN`) for a patient whose file is too large for their channel."""
from __future__ import annotations

from storage import Repository, Settings
from storage.upload_tokens import UploadTokens


def upload_link(repository: Repository, settings: Settings, chat: str) -> str:
    """A new one-time upload link for the chat's case (blocking: call it in a worker thread)."""
    token = UploadTokens(repository).issue(chat)
    return f"{settings.public_url.rstrip('/')}/u/{token}"
