"""discovery sources

Revision ID: 0004
Revises: 0003

- ``discovery_sources``: the approved registries and directories (the seed's
  ``discoverySources``), one row per ``source_id``; real_test seeds only these.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'discovery_sources',
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('source_id', sa.String(length=200), nullable=False),
        sa.Column('doc', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('seq'),
        sa.UniqueConstraint('source_id'),
    )


def downgrade() -> None:
    op.drop_table('discovery_sources')
