"""partner outreach

Revision ID: 0005
Revises: 0004

- ``outreach_targets``: one row per outreach target of a lead, with the status sends
  compare-and-set on (``claim_token``, ``lease_until_ms``) and the open counts.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'outreach_targets',
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('target_id', sa.String(length=200), nullable=False),
        sa.Column('lead_id', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('claim_token', sa.String(length=64), nullable=True),
        sa.Column('lease_until_ms', sa.BigInteger(), nullable=True),
        sa.Column('open_count', sa.Integer(), server_default='0', nullable=False),
        sa.Column('first_opened_at_ms', sa.BigInteger(), nullable=True),
        sa.Column('last_opened_at_ms', sa.BigInteger(), nullable=True),
        sa.Column('doc', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('seq'),
        sa.UniqueConstraint('target_id'),
    )
    op.create_index('ix_outreach_targets_lead', 'outreach_targets', ['lead_id', 'seq'])
    op.create_index('ix_outreach_targets_status', 'outreach_targets', ['status', 'seq'])


def downgrade() -> None:
    op.drop_index('ix_outreach_targets_status', table_name='outreach_targets')
    op.drop_index('ix_outreach_targets_lead', table_name='outreach_targets')
    op.drop_table('outreach_targets')
