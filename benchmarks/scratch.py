"""A database of a benchmark's own in the local PostgreSQL, seeded with the sample generator."""

from __future__ import annotations

from typing import Any

from retail_etl.local import sample
from retail_etl.local.postgres import LocalPostgres
from retail_etl.settings import LocalEnvironment, SourceDb


class Scratch:
    """Database `name`, created empty (dropped first if a killed benchmark left it)."""

    def __init__(self, pg: LocalPostgres, stack: LocalEnvironment, name: str) -> None:
        self.pg, self.name = pg, name
        with pg.connect(database="postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {self.name}")
        s = stack.source
        self.source = SourceDb(s.host, s.port, self.name, s.user, s.password)

    def seed(self, spec: sample.SampleSpec) -> None:
        with self.pg.connect(database=self.name) as conn:
            sample.seed(conn, spec)

    def rows(self, query: str, params: Any = ()) -> list[tuple[Any, ...]]:
        with self.pg.connect(database=self.name) as conn:
            return [tuple(r) for r in conn.execute(query, params).fetchall()]

    def drop(self) -> None:
        with self.pg.connect(database="postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
