"""hosts the admin trusted for Autodiscover, on attempts and connections

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("attempts", "connections"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("confirmed_hosts", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in ("attempts", "connections"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("confirmed_hosts")
