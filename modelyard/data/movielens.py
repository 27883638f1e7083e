"""MovieLens-100k from the atomic files RecBole ships (``recbole/dataset_example/ml-100k``).

RecBole is installed ``--no-deps`` only for these files, so it is located, never imported
(importing it pulls dependencies that are not installed).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from modelyard.data.progress import progress
from modelyard.data.spec import DatasetSpec
from modelyard.errors import DataError
from modelyard.settings import Settings

# table -> (atomic file, columns kept, named as in the file header without their ":type")
_TABLES = {
    "interactions": ("ml-100k.inter", ("user_id", "item_id", "rating", "timestamp")),
    "users": ("ml-100k.user", ("user_id", "age", "gender", "occupation", "zip_code")),
    "items": ("ml-100k.item", ("item_id", "movie_title", "release_year", "class")),
}
_RENAMES = {"movie_title": "title", "class": "genres"}
_DTYPES = {
    "user_id": "int32",
    "item_id": "int32",
    "rating": "int8",
    "timestamp": "int64",
    "age": "int16",
}


@dataclass(frozen=True, eq=False)
class MovieLens:
    """Ratings 1-5 with user features and item features (``genres`` is a ``|``-joined string)."""

    interactions: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    digest: str


def read_atomic(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """Read one RecBole atomic file (tab-separated, header ``name:type``) into typed columns."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [header.split(":", 1)[0] for header in frame.columns]
    absent = set(columns) - set(frame.columns)
    if absent:
        raise DataError(f"{path} lacks the columns {sorted(absent)}")
    frame = frame[list(columns)].rename(columns=_RENAMES)
    if "release_year" in frame:
        # Two items have no year ("unkonwn", "V" upstream): keep them, as missing.
        frame["release_year"] = pd.to_numeric(frame["release_year"], errors="coerce").astype("Int16")
    if "genres" in frame:
        frame["genres"] = frame["genres"].str.split().str.join("|")
    return frame.astype({name: dtype for name, dtype in _DTYPES.items() if name in frame})


def recbole_example_folder() -> Path | None:
    """``recbole/dataset_example/ml-100k`` inside the installed package, found without importing it."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "dataset_example" / "ml-100k"


class MovieLensSpec(DatasetSpec):
    name = "movielens-100k"
    package = "PyPI recbole==1.2.1"
    install_command = "pip install --no-deps recbole==1.2.1"
    license = (
        "MovieLens-100k, GroupLens Research (University of Minnesota) terms: research use only, "
        "no commercial use or redistribution without permission, cite Harper & Konstan 2015"
    )
    layout = "the RecBole atomic files ml-100k.inter, ml-100k.user, ml-100k.item"
    required = tuple(file for file, _ in _TABLES.values())

    def default_source(self, settings: Settings) -> Path | None:
        return settings.movielens_source or recbole_example_folder()

    def materialise(self, source: Path, out: Path) -> tuple[dict[str, int], dict[str, Any]]:
        rows = {}
        for table, (file, columns) in progress(list(_TABLES.items()), self.name):
            frame = read_atomic(source / file, columns)
            frame.to_parquet(out / f"{table}.parquet", index=False)
            rows[table] = len(frame)
        return rows, {}

    def read(self, folder: Path, digest: str) -> MovieLens:
        tables = {table: pd.read_parquet(folder / f"{table}.parquet") for table in _TABLES}
        return MovieLens(**tables, digest=digest)
