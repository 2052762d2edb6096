"""Room on each page of `bus_deliveries` for its leases to be updated in place.

A consumer leases a delivery by setting `locked_until`: a new version of the row. When the
page has no room for it, PostgreSQL writes it elsewhere and adds an entry to both indexes
for it; with room, it stays on the page (a HOT update) and no index changes. Measured at
1,000 msg/s in the embedded layout: 43 % of the leases were HOT with the default fill, 100 %
with pages half filled. The rows live for seconds, so the table stays small either way.

Revision ID: 0027_bus_deliveries_fillfactor
Revises: 0026_messages_wa_id_partial
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027_bus_deliveries_fillfactor"
down_revision: str | None = "0026_messages_wa_id_partial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE bus_deliveries SET (fillfactor = 50)")


def downgrade() -> None:
    op.execute("ALTER TABLE bus_deliveries RESET (fillfactor)")
