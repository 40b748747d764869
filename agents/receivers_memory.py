"""Remember decisions as they are recorded, without governance knowing about memory.

A post_save receiver on DecisionLog (connected in AgentsConfig.ready) enqueues
`memory_remember_decisions_task` with `transaction.on_commit`: the task runs only if the
entry's transaction commits, and the web request never loads the embedding model. The log
is append-only and written only by `decision_record`, so "a row was created" is exactly
"a decision was recorded"; nothing else is decided here (the rules are in
agents/memory_decisions.py). Entries of kinds that are not remembered enqueue nothing.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save

from agents.memory import enqueue_on_commit
from agents.memory_decisions import decision_is_remembered

DISPATCH_UID = "agents.memory.remember_decision"


def remember_decision_on_commit(
    sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if not created or raw:
        return
    if not decision_is_remembered(
        kind=instance.kind, portfolio_id=instance.portfolio_id, outputs=instance.outputs
    ):
        return
    from agents.tasks.memory import memory_remember_decisions_task

    enqueue_on_commit(memory_remember_decisions_task, [instance.pk])


def connect() -> None:
    post_save.connect(
        remember_decision_on_commit, sender="governance.DecisionLog", dispatch_uid=DISPATCH_UID
    )
