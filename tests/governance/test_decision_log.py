"""The decision log: canonical form, hash chain per portfolio, append-only in the database,
verification (`verify_decision_log`) that names the first bad entry, and the exports."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from governance.decision_log import (
    GENESIS_HASH,
    Problem,
    canonical_entry,
    canonical_value,
    chains_verify,
    entry_hash_of,
)
from governance.models import DecisionKind, DecisionLog
from governance.services import decision_record
from tests.factories import PortfolioFactory, UserFactory

pytestmark = pytest.mark.django_db

TABLE = "governance_decisionlog"


def record(portfolio, summary: str = "Something decided", **kwargs) -> DecisionLog:
    kwargs.setdefault("kind", DecisionKind.KPI_CHANGE)
    kwargs.setdefault("actor", None)
    kwargs.setdefault("subject", "portfolio:x")
    return decision_record(portfolio=portfolio, summary=summary, **kwargs)


def tamper(sql: str, params: list | None = None) -> None:
    """What an attacker with superuser rights does: disable the guard, write, re-enable."""
    with connection.cursor() as cursor:
        # Inside the test's transaction, the deferred foreign-key checks of earlier inserts
        # would forbid ALTER TABLE; run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        cursor.execute(sql, params or [])
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")


def verify(*args: str) -> tuple[str, str | None]:
    """verify_decision_log's output, and its error (None when every chain verified)."""
    out = io.StringIO()
    try:
        call_command("verify_decision_log", *args, stdout=out)
    except CommandError as error:
        return out.getvalue(), str(error)
    return out.getvalue(), None


# --- canonical form and chain ------------------------------------------------------------------


def test_entry_hash_is_sha256_of_the_documented_canonical_json():
    portfolio = PortfolioFactory()
    actor = UserFactory(username="ana")

    entry = record(
        portfolio,
        "Approved",
        actor=actor,
        kind=DecisionKind.APPROVAL,
        subject="recommendation:1",
        rationale="Überzeugend",
        inputs={"b": 1, "a": [Decimal("1.50"), 2.0, 0.25]},
        confidence=Decimal("0.65"),
    )

    created = entry.created_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    expected = (
        f'{{"actor_id":{actor.pk},"actor_label":"ana","confidence":"0.650",'
        f'"created_at":"{created}","inputs":{{"a":["1.50",2,0.25],"b":1}},"kind":"approval",'
        f'"outputs":{{}},"policy_verdicts":[],"portfolio_id":{portfolio.pk},'
        f'"previous_hash":"{GENESIS_HASH}","rationale":"Überzeugend",'
        '"subject":"recommendation:1","summary":"Approved"}'
    )
    assert entry.entry_hash == hashlib.sha256(expected.encode()).hexdigest()
    stored = DecisionLog.objects.values(
        *["portfolio_id", "kind", "actor_id", "actor_label", "subject", "summary", "rationale"],
        *["inputs", "outputs", "confidence", "policy_verdicts", "created_at", "previous_hash"],
    ).get(pk=entry.pk)
    assert canonical_entry(stored) == expected.encode()


def test_each_portfolio_has_its_own_chain_and_entries_without_one_form_the_global_chain():
    first, second = PortfolioFactory(), PortfolioFactory()

    a1, b1, a2, g1, g2 = (
        record(first),
        record(second),
        record(first),
        record(None),
        record(None),
    )

    assert [(e.sequence, e.previous_hash) for e in (a1, a2)] == [
        (1, GENESIS_HASH),
        (2, a1.entry_hash),
    ]
    assert (b1.sequence, b1.previous_hash) == (1, GENESIS_HASH)
    assert [(e.sequence, e.previous_hash) for e in (g1, g2)] == [
        (1, GENESIS_HASH),
        (2, g1.entry_hash),
    ]
    results = chains_verify()
    assert {key: (r.entries, r.ok) for key, r in results.items()} == {
        first.pk: (2, True),
        second.pk: (1, True),
        None: (2, True),
    }
    assert results[first.pk].head_hash == a2.entry_hash


def test_stored_values_are_the_normalized_ones_that_were_hashed():
    entry = record(
        None,
        inputs={
            "when": dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC),
            "day": dt.date(2026, 3, 1),
            "amount": Decimal("12.30"),
            "big": 1e20,
            "ratio": 0.1,
            "ids": (3, 1),
            7: "int key",
        },
    )

    entry.refresh_from_db()
    assert entry.inputs == {
        "when": "2026-03-01T12:00:00.000000Z",
        "day": "2026-03-01",
        "amount": "12.30",
        "big": 100000000000000000000,
        "ratio": 0.1,
        "ids": [3, 1],
        "7": "int key",
    }
    assert chains_verify(portfolio_ids=[None])[None].ok


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object()])
def test_values_json_cannot_carry_are_refused_before_anything_is_written(value):
    with pytest.raises((ValueError, TypeError)):
        record(None, inputs={"x": value})

    assert not DecisionLog.objects.exists()


def test_confidence_outside_0_to_1_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        record(None, confidence=Decimal("1.2"))


def test_canonical_value_turns_integral_floats_into_integers_so_jsonb_round_trips():
    assert canonical_value({"a": 2.0, "b": -0.0, "c": 2.5}) == {"a": 2, "b": 0, "c": 2.5}


def test_a_long_summary_is_cut_to_the_column_and_still_verifies():
    entry = record(None, "x" * 900)

    assert len(entry.summary) == 500
    assert chains_verify()[None].ok


def test_entries_are_timestamped_in_chain_order():
    portfolio = PortfolioFactory()
    entries = [record(portfolio) for _ in range(5)]

    times = [entry.created_at for entry in entries]
    assert times == sorted(times)


def test_a_failed_change_takes_its_entry_with_it():
    portfolio = PortfolioFactory()

    def failing_change() -> None:
        with transaction.atomic():
            record(portfolio)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()

    assert not DecisionLog.objects.exists()
    assert record(portfolio).sequence == 1


# --- append-only in the database -----------------------------------------------------------------


def test_the_database_refuses_to_update_an_entry():
    entry = record(PortfolioFactory())

    with pytest.raises(DatabaseError, match="append-only: UPDATE"), transaction.atomic():
        DecisionLog.objects.filter(pk=entry.pk).update(summary="rewritten")

    entry.refresh_from_db()
    assert entry.summary == "Something decided"


def test_the_database_refuses_to_delete_an_entry():
    entry = record(PortfolioFactory())

    with pytest.raises(DatabaseError, match="append-only: DELETE"), transaction.atomic():
        DecisionLog.objects.filter(pk=entry.pk).delete()

    assert DecisionLog.objects.filter(pk=entry.pk).exists()


def test_a_role_that_is_not_a_superuser_cannot_truncate_the_log():
    record(PortfolioFactory())
    role = f"pmo_app_{connection.settings_dict['NAME']}"[:60]

    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" NOSUPERUSER')
        # TRUNCATE ... CASCADE needs the right on every table that references the log.
        cursor.execute(
            f'GRANT TRUNCATE ON {TABLE}, governance_approval, agents_agentrun TO "{role}"'
        )
        # The deferred foreign-key checks of the insert would refuse any TRUNCATE first.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f'SET ROLE "{role}"')
        try:
            with pytest.raises(DatabaseError, match="append-only: TRUNCATE"), transaction.atomic():
                cursor.execute(f"TRUNCATE {TABLE} CASCADE")
        finally:
            cursor.execute("RESET ROLE")

    assert DecisionLog.objects.count() == 1


# --- verification: tampering directly in SQL is detected and named -------------------------


@pytest.fixture
def chain():
    portfolio = PortfolioFactory(slug="payments-chain", name="Payments chain")
    return portfolio, [record(portfolio, f"Decision {index}") for index in range(1, 6)]


def test_an_untouched_log_verifies(chain):
    output, error = verify()

    assert error is None
    assert "payments-chain: 5 entries, head #5" in output
    assert "verified" in output


def test_a_changed_entry_is_named_as_content_changed(chain):
    _, entries = chain
    victim = entries[2]
    tamper(f"UPDATE {TABLE} SET summary = 'Nothing to see' WHERE id = %s", [victim.pk])

    output, error = verify()

    assert error is not None
    assert f"entry #{victim.pk} (sequence 3): content changed" in error
    assert "FAILED" in output
    fault = chains_verify()[victim.portfolio_id].fault
    assert (fault.entry_id, fault.sequence, fault.problem) == (
        victim.pk,
        3,
        Problem.CONTENT_CHANGED,
    )


@pytest.mark.parametrize(
    "column_sql",
    [
        "rationale = 'added later'",
        "confidence = 0.999",
        "inputs = '{\"forged\": true}'::jsonb",
        "actor_label = 'someone else'",
        "created_at = created_at - interval '1 day'",
        "kind = 'approval'",
        "previous_hash = repeat('a', 64)",
    ],
)
def test_any_changed_hashed_field_is_detected(chain, column_sql):
    _, entries = chain
    tamper(f"UPDATE {TABLE} SET {column_sql} WHERE id = %s", [entries[1].pk])

    fault = chains_verify()[entries[1].portfolio_id].fault

    assert (fault.entry_id, fault.problem) == (entries[1].pk, Problem.CONTENT_CHANGED)


def test_a_deleted_entry_is_named_as_a_sequence_gap(chain):
    _, entries = chain
    tamper(f"DELETE FROM {TABLE} WHERE id = %s", [entries[1].pk])

    _, error = verify()

    assert error is not None
    assert f"entry #{entries[2].pk} (sequence 3): missing entry" in error
    assert "sequence 2 not found" in error


def test_deleted_entries_renumbered_to_close_the_gap_are_still_caught(chain):
    _, entries = chain
    tamper(f"DELETE FROM {TABLE} WHERE id = %s", [entries[1].pk])
    tamper(
        f"UPDATE {TABLE} SET sequence = sequence - 1 WHERE portfolio_id = %s AND sequence > 2",
        [entries[0].portfolio_id],
    )

    fault = chains_verify()[entries[0].portfolio_id].fault

    assert (fault.entry_id, fault.problem) == (entries[2].pk, Problem.REORDERED)


def test_reordered_entries_are_named_as_a_previous_hash_mismatch(chain):
    _, entries = chain
    first, second = entries[1], entries[2]
    # Swap their sequence numbers (through a free number: the pair is unique).
    tamper(f"UPDATE {TABLE} SET sequence = 1000 WHERE id = %s", [first.pk])
    tamper(f"UPDATE {TABLE} SET sequence = 2 WHERE id = %s", [second.pk])
    tamper(f"UPDATE {TABLE} SET sequence = 3 WHERE id = %s", [first.pk])

    _, error = verify()

    assert error is not None
    assert f"entry #{second.pk} (sequence 2): reordered" in error
    assert f"does not match entry #{entries[0].pk} (sequence 1)" in error


def test_an_entry_rewritten_with_a_recomputed_hash_breaks_the_next_link(chain):
    _, entries = chain
    victim = entries[1]
    forged = {
        **DecisionLog.objects.values(
            "portfolio_id",
            "kind",
            "actor_id",
            "actor_label",
            "subject",
            "summary",
            "rationale",
            "inputs",
            "outputs",
            "confidence",
            "policy_verdicts",
            "created_at",
            "previous_hash",
        ).get(pk=victim.pk),
        "summary": "Forged",
    }
    tamper(
        f"UPDATE {TABLE} SET summary = 'Forged', entry_hash = %s WHERE id = %s",
        [entry_hash_of(forged), victim.pk],
    )

    fault = chains_verify()[victim.portfolio_id].fault

    assert (fault.entry_id, fault.problem) == (entries[2].pk, Problem.REORDERED)
    assert f"entry #{victim.pk}" in fault.message


def test_verify_checks_one_portfolio_with_its_slug(chain):
    other = PortfolioFactory(slug="other")
    broken = record(other)
    tamper(f"UPDATE {TABLE} SET summary = 'x' WHERE id = %s", [broken.pk])

    output, error = verify("--portfolio", "payments-chain")
    assert error is None
    assert "other" not in output

    _, error = verify("--portfolio", "other")
    assert error is not None


def test_verify_refuses_an_unknown_portfolio():
    _, error = verify("--portfolio", "nope")

    assert error == "No portfolio has the slug 'nope'."


def test_verify_reports_every_broken_chain_but_only_its_first_fault(chain):
    _, entries = chain
    tamper(f"UPDATE {TABLE} SET summary = 'x' WHERE id IN (%s, %s)", [entries[1].pk, entries[3].pk])

    _, error = verify()

    assert f"entry #{entries[1].pk}" in error
    assert f"entry #{entries[3].pk}" not in error


def test_verify_exits_with_status_1_on_failure(chain):
    _, entries = chain
    tamper(f"UPDATE {TABLE} SET summary = 'x' WHERE id = %s", [entries[0].pk])

    with pytest.raises(CommandError) as raised:
        call_command("verify_decision_log", stdout=io.StringIO())

    assert raised.value.returncode == 1


def test_the_exported_json_lines_let_an_auditor_recompute_every_hash(chain, client, world):
    portfolio, entries = chain
    client.force_login(world.admin)

    response = client.get("/decisions/export.jsonl", {"portfolio": portfolio.slug})

    lines = b"".join(response.streaming_content).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["sequence"] for r in records] == [1, 2, 3, 4, 5]
    previous = GENESIS_HASH
    for exported in records:
        document = {
            key: exported[key]
            for key in (
                "portfolio_id",
                "kind",
                "actor_id",
                "actor_label",
                "subject",
                "summary",
                "rationale",
                "inputs",
                "outputs",
                "confidence",
                "policy_verdicts",
                "created_at",
                "previous_hash",
            )
        }
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(text.encode()).hexdigest() == exported["entry_hash"]
        assert exported["previous_hash"] == previous
        previous = exported["entry_hash"]
    assert previous == entries[-1].entry_hash
