"""Replies as the outbox keeps them (JSON), and back. A reply is a template message name, its parameters
and its buttons; it is rendered in the reader's locale only when it is shown."""
from __future__ import annotations

from dialogs.events import Choice, Reply


def reply_to_json(reply: Reply) -> dict:
    return {"message": reply.message, "params": reply.params,
            "buttons": [[{"data": c.data, "label": c.label, "value": c.value} for c in row] for row in reply.buttons]}


def reply_from_json(data: dict) -> Reply:
    return Reply(data["message"], dict(data.get("params") or {}),
                 tuple(tuple(Choice(**choice) for choice in row) for row in data.get("buttons") or ()))
