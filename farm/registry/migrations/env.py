"""Alembic environment of the registry: runs online on the connection `farm.registry.database` puts in the config.

There is no alembic.ini: `database.upgrade` builds the `Config` in code and passes an open
connection (already inside the transaction that serialises concurrent upgrades) in
`config.attributes["connection"]`.
"""

from alembic import context

from farm.registry.schema import Base

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=Base.metadata,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
