"""Where the farm keeps its data on this machine when the user does not say."""

from __future__ import annotations

import os

import platformdirs

APP_NAME = "tuning-farm"


def data_dir() -> str:
    """The farm's data folder: `$FARM_DATA_DIR`, else the user's data directory."""
    return os.environ.get("FARM_DATA_DIR") or platformdirs.user_data_dir(APP_NAME)


def default_db_uri() -> str:
    """The tuning database used when `--db` is not given: `$FARM_DB`, else `<data dir>/tuning-db`."""
    return os.environ.get("FARM_DB") or os.path.join(data_dir(), "tuning-db")
