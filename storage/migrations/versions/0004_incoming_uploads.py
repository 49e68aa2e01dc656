"""incoming uploads

Revision ID: 0004
Revises: 0003

Resumable uploads on their way in, shared by every `scanpass serve` instance (they were JSON files
beside the partial file, and the one-writer guard lived in one process's memory): the owner and its
case (erased with it), the committed offset, the writer's lease, and the channel's answer.

"""
from collections.abc import Sequence
from typing import Union

from alembic import op
import sqlalchemy as sa


revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('incoming_uploads',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('via', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('length', sa.BigInteger(), nullable=False),
    sa.Column('committed', sa.BigInteger(), nullable=False),
    sa.Column('writer', sa.String(length=32), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answer', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_incoming_uploads_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incoming_uploads'))
    )
    with op.batch_alter_table('incoming_uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incoming_uploads_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_incoming_uploads_owner'), ['owner'], unique=False)
        batch_op.create_index(batch_op.f('ix_incoming_uploads_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('incoming_uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incoming_uploads_created_at'))
        batch_op.drop_index(batch_op.f('ix_incoming_uploads_owner'))
        batch_op.drop_index(batch_op.f('ix_incoming_uploads_case_id'))
    op.drop_table('incoming_uploads')
