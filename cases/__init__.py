"""The case core: the only place that opens a step's transaction, stores a file, asks for a job and
records a message for a patient or a coordinator. Every channel and every worker goes through it.

    core = CaseCore(repository, settings, queue)
    locale, replies = core.step("web:abc", Button("files:done"))   # replies to show now; jobs asked for
    core.outbox.newer("web:abc", after=0)                            # what the jobs answered since
"""
from cases.core import CaseCore
from cases.messages import reply_from_json, reply_to_json

__all__ = ["CaseCore", "reply_from_json", "reply_to_json"]
