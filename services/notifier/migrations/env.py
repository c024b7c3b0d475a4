from services.notifier.store import SCHEMA, TABLES
from shared.alembic_env import run_env

run_env(TABLES[0].metadata, SCHEMA)
