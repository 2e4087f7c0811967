"""The advice cache: replies on disk in SQLite, JSON values (never pickle), looked up by perceptual-hash distance.

One table, ``advice(id, namespace, hash, value, created)``: ``hash`` the packed perceptual hash of the frames sent
(:func:`agents.advisor.frames.frame_hash`), ``value`` the reply as JSON text. ``namespace`` separates replies that
must not answer each other (another model, task text or action space): the advisor derives it from those. A lookup
returns the stored reply whose hash is nearest to the query's, if it is at most ``max_distance`` bits away; the
hashes of a namespace are held in memory as one uint8 matrix, so a lookup is one vectorised XOR and popcount.

The standard library's ``sqlite3`` is enough here (a cache library such as ``diskcache`` would store pickles by
default). A file that is not an SQLite database, or a row whose value is not JSON, is an error naming the file and
the row, raised when the cache is opened: nothing in it is overwritten.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


class CacheError(ValueError):
    """A cache file that cannot be used; the message names the file (and the row)."""


class AdviceCache:
    """Replies keyed by perceptual hash; ``get`` by Hamming distance, ``put`` appends.

    Args:
        path: the SQLite file (created with its folder if missing); ``":memory:"`` for a cache of one run.
        namespace: which replies this cache may answer with (see the module doc).
        max_distance: the largest Hamming distance, in bits, at which a stored reply is still a hit.
    """

    def __init__(self, path: str | Path, namespace: str = "", max_distance: int = 4):
        self.path = str(path)
        self.namespace = namespace
        self.max_distance = int(max_distance)
        if self.max_distance < 0:
            raise ValueError(f"max_distance: need >= 0, got {max_distance}")
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self.db = sqlite3.connect(self.path, check_same_thread=False)
            self.db.execute("CREATE TABLE IF NOT EXISTS advice (id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, "
                            "hash BLOB NOT NULL, value TEXT NOT NULL, created REAL NOT NULL)")
            self.db.execute("CREATE INDEX IF NOT EXISTS advice_ns ON advice(namespace)")
            self.db.commit()
            rows = self.db.execute("SELECT id, hash, value FROM advice WHERE namespace = ? ORDER BY id",
                                   (namespace,)).fetchall()
        except sqlite3.DatabaseError as e:
            raise CacheError(f"{self.path}: not a usable advice cache (SQLite: {e})") from None
        self._values: list[Any] = []
        hashes = []
        for rid, h, v in rows:
            try:
                self._values.append(json.loads(v))
            except (TypeError, json.JSONDecodeError) as e:
                raise CacheError(f"{self.path}: row {rid}: value is not JSON ({e})") from None
            hashes.append(np.frombuffer(h, np.uint8))
        widths = {len(h) for h in hashes}
        if len(widths) > 1:
            raise CacheError(f"{self.path}: namespace {namespace!r} holds hashes of {sorted(widths)} bytes; one "
                             "namespace keeps one hash size")
        self._hashes = np.stack(hashes) if hashes else None

    def __len__(self) -> int:
        return len(self._values)

    def get(self, h: np.ndarray) -> tuple[Any, int] | None:
        """(value, distance) of the nearest stored reply within ``max_distance`` bits, else None."""
        with self._lock:
            if self._hashes is None or self._hashes.shape[1] != len(h):
                return None
            d = np.bitwise_count(np.bitwise_xor(self._hashes, h[None, :])).sum(axis=1)
            i = int(np.argmin(d))
            return (self._values[i], int(d[i])) if d[i] <= self.max_distance else None

    def put(self, h: np.ndarray, value: Any) -> None:
        """Store a reply (any JSON-serialisable value) under hash ``h``."""
        text = json.dumps(value)
        h = np.asarray(h, np.uint8)
        with self._lock:
            if self._hashes is not None and self._hashes.shape[1] != len(h):
                raise ValueError(f"{self.path}: hash of {len(h)} bytes, this namespace holds {self._hashes.shape[1]}")
            self.db.execute("INSERT INTO advice (namespace, hash, value, created) VALUES (?, ?, ?, ?)",
                            (self.namespace, h.tobytes(), text, time.time()))
            self.db.commit()
            self._values.append(json.loads(text))
            self._hashes = h[None, :].copy() if self._hashes is None else np.vstack([self._hashes, h[None, :]])

    def close(self) -> None:
        """Close the database (everything put is already committed)."""
        with self._lock:
            self.db.close()
