"""retry-job claim tokens, receipt outcomes, served shortlist slots

Revision ID: 0002
Revises: 0001

- ``retry_jobs.claim_token``: the token of the claim that holds a job in
  ``processing``; claiming and recording an outcome are compare-and-sets on it.
- ``receipts.outcome``: what the exchange decided about a receipt (billable or
  why not, verification status), as a JSON document.
- ``served_slots``: every (intent, offer, partner) the exchange shortlisted, so
  that receipt verification can ask whether a receipt names a real placement.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('retry_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=64), nullable=True))
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.Text(), nullable=True))
    op.create_table(
        'served_slots',
        sa.Column('intent_id', sa.String(length=200), nullable=False),
        sa.Column('offer_id', sa.String(length=200), nullable=False),
        sa.Column('partner_id', sa.String(length=200), nullable=False),
        sa.Column('campaign_id', sa.String(length=200), nullable=False),
        sa.Column('served_at_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('intent_id', 'offer_id', 'partner_id'),
    )


def downgrade() -> None:
    op.drop_table('served_slots')
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_column('outcome')
    with op.batch_alter_table('retry_jobs', schema=None) as batch_op:
        batch_op.drop_column('claim_token')
