from shared.alembic_env import run_env
from shared.auth.tables import SCHEMA, ApiKey

run_env(ApiKey.metadata, SCHEMA)
