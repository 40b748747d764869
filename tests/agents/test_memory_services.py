"""Remembering: idempotent, validated, batch-embedded; supersession; agent runs; refresh."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from agents.memory import (
    RiskToRemember,
    memory_refresh,
    memory_remember,
    memory_remember_later,
    memory_remember_run,
    memory_supersede,
)
from agents.models import AgentRun, MemoryItem, MemoryKind, RunKind, RunTrigger
from agents.tasks.memory import memory_remember_task

pytestmark = pytest.mark.django_db


def remember(portfolio, text, source_id, **extra):
    return memory_remember(
        portfolio=portfolio,
        kind=extra.pop("kind", MemoryKind.DECISION),
        text=text,
        source_type="test",
        source_id=source_id,
        **extra,
    )


def test_remembering_the_same_source_twice_changes_nothing(world, embedding_model):
    first = remember(world.own, "Decision: freeze scope until the audit.", "s1")

    with mock.patch.object(
        type(embedding_model), "embed_documents", side_effect=AssertionError("embedded again")
    ):
        second = remember(world.own, "A different text for the same source.", "s1")

    assert second.pk == first.pk
    assert MemoryItem.objects.get().text == "Decision: freeze scope until the audit."


def test_remembered_vectors_are_normalized_and_whitespace_is_collapsed(world, embedding_model):
    item = remember(world.own, "  Decision:\n\n freeze   scope.  ", "s1")
    item.refresh_from_db()

    assert item.text == "Decision: freeze scope."
    assert sum(value * value for value in item.embedding) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "gossip"}, "kind"),
        ({"text": "   "}, "text"),
        ({"source_type": ""}, "source_type"),
        ({"source_id": "x" * 65}, "source_id"),
        ({"created_at": timezone.now().replace(tzinfo=None)}, "created_at"),
    ],
)
def test_bad_input_is_refused_with_a_field_error_and_nothing_stored(world, changes, field):
    arguments = {
        "portfolio": world.own,
        "kind": MemoryKind.RISK,
        "text": "Risk: vendor delay.",
        "source_type": "test",
        "source_id": "s1",
        **changes,
    }

    with pytest.raises(ValidationError) as error:
        memory_remember(**arguments)

    assert field in error.value.message_dict
    assert not MemoryItem.objects.exists()


def test_supersede_marks_only_items_of_the_same_portfolio_and_keeps_the_first_successor(
    world, embedding_model
):
    old = remember(world.own, "Decision: wait for the supplier.", "old")
    foreign = remember(world.foreign, "Decision: wait for the carrier.", "foreign")
    new = remember(world.own, "Decision: switch supplier.", "new")
    newest = remember(world.own, "Decision: build it in-house.", "newest")

    marked = memory_supersede(older=[old, foreign.pk, ("test", "new")], newer=newest)
    again = memory_supersede(older=[old], newer=new)

    old.refresh_from_db()
    foreign.refresh_from_db()
    assert marked == 2  # old and new; the foreign item is out of reach
    assert again == 0
    assert old.superseded_by == newest
    assert foreign.superseded_by is None


def make_run(world, *, kind=RunKind.RISK_SCAN, project=None, key=""):
    return AgentRun.objects.create(
        kind=kind,
        portfolio=world.own,
        project=project if kind == RunKind.RISK_SCAN else None,
        trigger=RunTrigger.SCHEDULE,
        status="succeeded",
        idempotency_key=key or f"run-{AgentRun.objects.count()}",
        finished_at=timezone.now(),
    )


def test_a_run_remembers_its_summary_and_risks_and_the_next_run_supersedes_them(
    world, embedding_model
):
    first = make_run(world, project=world.own_project)
    items = memory_remember_run(
        run=first,
        summary="PAY is at risk: aging work and a vendor delay on the terminals.",
        risks=[
            RiskToRemember(key="aging_wip", text="Risk: 7 items in progress for over 20 days."),
            RiskToRemember(key="vendor", text="Risk: the terminal vendor is two weeks late."),
        ],
    )
    second = make_run(world, project=world.own_project)
    later = memory_remember_run(
        run=second,
        summary="PAY recovers; the vendor delivered.",
        risks=[RiskToRemember(key="aging_wip", text="Risk: 5 items in progress for 20 days.")],
    )
    other_project = make_run(world, project=world.sibling_project)
    memory_remember_run(run=other_project, summary="CARD is on track.")

    summary, aging, vendor = (MemoryItem.objects.get(pk=item.pk) for item in items)
    assert [item.kind for item in items] == [
        MemoryKind.RUN_SUMMARY,
        MemoryKind.RISK,
        MemoryKind.RISK,
    ]
    assert (summary.source_type, summary.source_id) == ("agent_run", str(first.pk))
    assert aging.source_id == f"{first.pk}#aging_wip"
    assert summary.project == world.own_project
    assert summary.superseded_by_id == later[0].pk
    assert aging.superseded_by_id == later[1].pk
    assert vendor.superseded_by is None  # not flagged again: still the latest word on it
    assert MemoryItem.objects.get(source_id=str(other_project.pk)).superseded_by is None
    assert MemoryItem.objects.get(pk=later[0].pk).superseded_by is None


def test_a_retried_run_remembers_nothing_twice(world, embedding_model):
    run = make_run(world, kind=RunKind.PORTFOLIO_REVIEW)
    memory_remember_run(run=run, summary="Portfolio review: all green.")

    memory_remember_run(run=run, summary="Portfolio review: all green.")

    assert MemoryItem.objects.count() == 1


def test_remember_later_validates_now_and_embeds_in_the_task_after_commit(
    world, django_capture_on_commit_callbacks, embedding_model
):
    with pytest.raises(ValidationError):
        memory_remember_later(
            portfolio=world.own, kind="gossip", text="x", source_type="t", source_id="1"
        )

    with (
        mock.patch.object(memory_remember_task, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        memory_remember_later(
            portfolio=world.own,
            kind=MemoryKind.RETROSPECTIVE,
            text="Retrospective: smaller stories flowed better.",
            source_type="retrospective",
            source_id="sprint-12",
            project=world.own_project,
        )
        assert not MemoryItem.objects.exists()
    (payload,), _ = delay.call_args
    memory_remember_task(payload)

    item = MemoryItem.objects.get()
    assert (item.kind, item.source_id, item.project) == (
        MemoryKind.RETROSPECTIVE,
        "sprint-12",
        world.own_project,
    )


def test_refresh_drops_what_the_viewer_may_not_see_and_marks_newly_superseded_items(
    world, embedding_model, django_assert_num_queries
):
    from agents.memory import memory_recall

    mine = remember(world.own, "Decision: the supplier slipped; we waited.", "mine")
    remember(world.foreign, "Decision: the supplier slipped; we waited too.", "theirs")
    stored = [item.as_dict() for item in memory_recall(user=world.admin, query="supplier slipped")]
    replacement = remember(world.own, "Decision: we switched supplier.", "new", supersedes=[mine])
    world.viewer.is_authenticated  # noqa: B018
    memory_recall(user=world.viewer, query="fill the permission cache")

    with django_assert_num_queries(1):
        fresh = memory_refresh(user=world.viewer, recalled=stored)

    assert [item.id for item in fresh] == [mine.pk]
    assert fresh[0].superseded is True
    assert fresh[0].superseded_by_id == replacement.pk
    assert memory_refresh(user=world.viewer, recalled=[]) == []
