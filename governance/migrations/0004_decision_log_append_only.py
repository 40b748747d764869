"""Make the decision log's chain columns required, index it for search, and make it
append-only in the database.

Triggers (PostgreSQL):
- BEFORE UPDATE and BEFORE DELETE, for each row: always refused, whoever asks. A superuser
  can still `ALTER TABLE ... DISABLE TRIGGER` (that is what the tamper tests do);
  `verify_decision_log` then names what was changed.
- BEFORE TRUNCATE: refused unless the current role is a superuser. Django's `flush` (which
  transactional tests run between tests) truncates every table; it runs as the superuser in
  development and tests, and a superuser could disable the trigger anyway. An application
  role that is not a superuser cannot truncate the log.
"""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations, models

FUNCTION = "governance_decision_log_append_only"

CREATE = f"""
CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper) THEN
            RETURN NULL;
        END IF;
    END IF;
    RAISE EXCEPTION 'the decision log is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a new decision instead; entries are never changed or removed.';
END;
$$;
CREATE TRIGGER decision_log_no_update BEFORE UPDATE ON governance_decisionlog
    FOR EACH ROW EXECUTE FUNCTION {FUNCTION}();
CREATE TRIGGER decision_log_no_delete BEFORE DELETE ON governance_decisionlog
    FOR EACH ROW EXECUTE FUNCTION {FUNCTION}();
CREATE TRIGGER decision_log_no_truncate BEFORE TRUNCATE ON governance_decisionlog
    FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}();
"""

DROP = f"""
DROP TRIGGER IF EXISTS decision_log_no_truncate ON governance_decisionlog;
DROP TRIGGER IF EXISTS decision_log_no_delete ON governance_decisionlog;
DROP TRIGGER IF EXISTS decision_log_no_update ON governance_decisionlog;
DROP FUNCTION IF EXISTS {FUNCTION}();
"""


class Migration(migrations.Migration):
    dependencies = [("governance", "0003_decision_chain_backfill")]

    operations = [
        migrations.AlterField(
            model_name="decisionlog",
            name="entry_hash",
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name="decisionlog",
            name="previous_hash",
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name="decisionlog",
            name="sequence",
            field=models.PositiveBigIntegerField(
                help_text="Position in the portfolio's chain (or the global chain), from 1"
            ),
        ),
        migrations.AddIndex(
            model_name="decisionlog",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.search.SearchVector(
                    "summary", "rationale", "subject", "actor_label", config="english"
                ),
                name="decision_search",
            ),
        ),
        migrations.AddConstraint(
            model_name="decisionlog",
            constraint=models.UniqueConstraint(
                condition=models.Q(("portfolio__isnull", False)),
                fields=("portfolio", "sequence"),
                name="decision_sequence_in_portfolio",
            ),
        ),
        migrations.AddConstraint(
            model_name="decisionlog",
            constraint=models.UniqueConstraint(
                condition=models.Q(("portfolio__isnull", True)),
                fields=("sequence",),
                name="decision_sequence_global",
            ),
        ),
        migrations.AddConstraint(
            model_name="decisionlog",
            constraint=models.CheckConstraint(
                condition=models.Q(("sequence__gte", 1)), name="decision_sequence_positive"
            ),
        ),
        migrations.RunSQL(CREATE, DROP),
    ]
