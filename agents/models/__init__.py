"""Agent runs (what an agent was asked, what it did, what it cost) and agent memory."""

from agents.models.memory import MemoryItem, MemoryKind
from agents.models.runs import AgentBudget, AgentRun, RunKind, RunStatus, RunTrigger

__all__ = [
    "AgentBudget",
    "AgentRun",
    "MemoryItem",
    "MemoryKind",
    "RunKind",
    "RunStatus",
    "RunTrigger",
]
