"""The world's objects in memory (dicts keyed by id, per kind) and their write-through to
``<state_dir>/lab.sqlite``: changed objects are marked dirty and written in one
transaction by ``commit``, with the id counters."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .common import ID_BASE


class Store:
    def __init__(self, state_dir: Path):
        self.objs: dict[str, dict[int, dict]] = {k: {} for k in ID_BASE}
        self.counters = dict(ID_BASE)
        self.dirty: set = set()
        self.cache: dict = {}  # answers valid until the next commit (lab.api.base.paginate)
        self.db = sqlite3.connect(state_dir / "lab.sqlite", check_same_thread=False,
                                  isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS objects (kind TEXT, id INTEGER, data TEXT,"
                        " PRIMARY KEY (kind, id))")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")

    def load(self) -> None:
        """Read every object and the id counters back (each kind ordered by id)."""
        for kind, oid, data in self.db.execute("SELECT kind, id, data FROM objects"):
            if kind in self.objs:
                self.objs[kind][oid] = json.loads(data)
        for key, value in self.db.execute("SELECT key, value FROM meta"):
            if key.startswith("counter:"):
                self.counters[key[8:]] = int(value)
        for kind in self.objs:
            self.objs[kind] = dict(sorted(self.objs[kind].items()))

    def new_id(self, kind: str) -> int:
        self.counters[kind] += 1
        return self.counters[kind]

    def put(self, kind: str, obj: dict) -> dict:
        self.objs[kind][obj["id"]] = obj
        self.dirty.add((kind, obj["id"]))
        return obj

    def touch(self, kind: str, oid: int) -> None:
        self.dirty.add((kind, oid))

    def remove(self, kind: str, oid: int) -> None:
        self.objs[kind].pop(oid, None)
        self.dirty.add((kind, oid))

    def commit(self) -> None:
        """Write dirty objects and counters to SQLite (one transaction)."""
        if not self.dirty:
            return
        self.cache.clear()
        cur = self.db.cursor()
        cur.execute("BEGIN")
        for kind, oid in self.dirty:
            obj = self.objs[kind].get(oid)
            if obj is None:
                cur.execute("DELETE FROM objects WHERE kind=? AND id=?", (kind, oid))
            else:
                cur.execute("INSERT OR REPLACE INTO objects VALUES (?,?,?)",
                            (kind, oid, json.dumps(obj)))
        for kind, value in self.counters.items():
            cur.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (f"counter:{kind}", str(value)))
        cur.execute("COMMIT")
        self.dirty.clear()

    def clear(self) -> None:
        """Forget every object and restart the counters (written by the next commit)."""
        for kind in self.objs:
            for oid in list(self.objs[kind]):
                self.dirty.add((kind, oid))
            self.objs[kind].clear()
        self.counters = dict(ID_BASE)

    def close(self) -> None:
        self.db.close()
