"""Agent runs (what an agent was asked, what it did, what it cost) and agent memory."""

from agents.models.memory import MemoryItem, MemoryKind
from agents.models.runs import AgentRun, RunKind, RunStatus, RunTrigger

__all__ = ["AgentRun", "MemoryItem", "MemoryKind", "RunKind", "RunStatus", "RunTrigger"]
