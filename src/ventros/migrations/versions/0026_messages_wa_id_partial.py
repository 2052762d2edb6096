"""The index of messages by WhatsApp id leaves out messages without one.

The ingest asks which of a batch's external ids a channel has stored, one probe of
`uq_messages_channel_id_external_id` per id. With statistics taken while the table was
small (a fresh database under its first burst: a new install's first campaign, every
benchmark), the planner rated a scan of `ix_messages_channel_id_wa_id` on the channel alone,
filtering the external id, as cheap as the probe, and took it because it needs nothing from
the outer side: every probe then read every message of the channel (measured: 170 ms a batch
at 10,000 messages, growing with each message stored). A partial index on `wa_id IS NOT
NULL` cannot serve that query, so the probe is the only index path left; the lookup by
WhatsApp id (`wa_id = :x`) still uses it.

Revision ID: 0026_messages_wa_id_partial
Revises: 0025_session_timeouts
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026_messages_wa_id_partial"
down_revision: str | None = "0025_session_timeouts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP INDEX ix_messages_channel_id_wa_id")
    op.execute(
        "CREATE INDEX ix_messages_channel_id_wa_id ON messages (channel_id, wa_id) "
        "WHERE wa_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_messages_channel_id_wa_id")
    op.execute("CREATE INDEX ix_messages_channel_id_wa_id ON messages (channel_id, wa_id)")
