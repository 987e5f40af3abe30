"""Alembic environment: runs on the connection the store hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import meshlake.catalog.event_models
import meshlake.catalog.ml_models
import meshlake.catalog.operation_models
import meshlake.catalog.product_models
import meshlake.catalog.storage_models
import meshlake.catalog.token_models
from meshlake.catalog.models import Base
from meshlake.storage.crawler.state import CRAWLER_METADATA

# Importing the model modules registers their tables on Base (for autogenerate).
_MODELS = (
    meshlake.catalog.event_models,
    meshlake.catalog.ml_models,
    meshlake.catalog.operation_models,
    meshlake.catalog.product_models,
    meshlake.catalog.storage_models,
    meshlake.catalog.token_models,
)
target_metadata = [Base.metadata, CRAWLER_METADATA]


def run() -> None:
    """Run the migrations on the store's connection (or a URL for autogenerate)."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        url = context.config.attributes.get("connection_url") or context.config.get_main_option(
            "sqlalchemy.url"
        )
        engine = create_engine(str(url))
        with engine.begin() as conn:
            context.configure(
                connection=conn,
                target_metadata=target_metadata,
                version_table="ml_alembic_version",
                render_as_batch=True,
            )
            context.run_migrations()
        return
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table="ml_alembic_version",
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
