"""Number and hash the entries written before the chain existed, in chain order.

Each portfolio's entries (and the entries without a portfolio) are chained in the order they
were written: created_at, then id. The hashes use the canonical form of
governance.decision_log, the one `verify_decision_log` recomputes. The JSON values are
normalized to that form first (a no-op for what the services wrote), and a naive timestamp
cannot exist (USE_TZ). Runs before migration 0004 makes the table append-only.
"""

from django.db import migrations


def backfill(apps, schema_editor):
    from governance.decision_log import HASHED_FIELDS, canonical_value, entry_hash_of
    from governance.models import GENESIS_HASH

    decision_log = apps.get_model("governance", "DecisionLog")
    heads: dict = {}
    entries = decision_log.objects.using(schema_editor.connection.alias).order_by(
        "portfolio_id", "created_at", "id"
    )
    for entry in entries.iterator(chunk_size=2000):
        sequence, previous = heads.get(entry.portfolio_id, (0, GENESIS_HASH))
        entry.inputs = canonical_value(entry.inputs)
        entry.outputs = canonical_value(entry.outputs)
        entry.policy_verdicts = canonical_value(entry.policy_verdicts)
        entry.sequence = sequence + 1
        entry.previous_hash = previous
        entry.entry_hash = entry_hash_of({name: getattr(entry, name) for name in HASHED_FIELDS})
        entry.save(
            update_fields=[
                "inputs",
                "outputs",
                "policy_verdicts",
                "sequence",
                "previous_hash",
                "entry_hash",
            ]
        )
        heads[entry.portfolio_id] = (entry.sequence, entry.entry_hash)


class Migration(migrations.Migration):
    dependencies = [("governance", "0002_decision_chain_policies_recommendations")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
