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


def data_folder_db(db: str | None, folder: str) -> str:
    """The tuning database of a data folder: `db`, else `$FARM_DB`, else `<folder>/tuning-db` (as `farm serve` uses)."""
    db = db or os.environ.get("FARM_DB") or os.path.join(folder, "tuning-db")
    return db if "://" in db else os.path.abspath(db)
