"""wallets and the credit ledger

Revision ID: 0003
Revises: 0002

- ``wallets``: one row per workspace, its credits in integer millicredits
  (available may go below zero: what a workspace owes).
- ``credit_ledger``: the append-only ledger of signed entries; the unique
  ``source`` makes every charge (one per receipt) and credit (one promo grant per
  workspace, one per Stripe Checkout Session) happen exactly once.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'wallets',
        sa.Column('workspace_id', sa.String(length=200), nullable=False),
        sa.Column('available_mc', sa.BigInteger(), nullable=False),
        sa.Column('reserved_mc', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('consumed_mc', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('expired_mc', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('updated_at_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('workspace_id'),
    )
    op.create_table(
        'credit_ledger',
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('entry_id', sa.String(length=200), nullable=False),
        sa.Column('workspace_id', sa.String(length=200), nullable=False),
        sa.Column('entry_type', sa.String(length=32), nullable=False),
        sa.Column('source', sa.String(length=400), nullable=False),
        sa.Column('amount_mc', sa.BigInteger(), nullable=False),
        sa.Column('balance_after_mc', sa.BigInteger(), nullable=False),
        sa.Column('doc', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('seq'),
        sa.UniqueConstraint('entry_id'),
        sa.UniqueConstraint('source', name='uq_credit_ledger_source'),
    )
    with op.batch_alter_table('credit_ledger', schema=None) as batch_op:
        batch_op.create_index('ix_credit_ledger_workspace', ['workspace_id', 'seq'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('credit_ledger', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_ledger_workspace')
    op.drop_table('credit_ledger')
    op.drop_table('wallets')
