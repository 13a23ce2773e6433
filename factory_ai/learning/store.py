"""Crash-safe persistence of the learner: SQLite (WAL) records and atomically written files.

Durability contract: a `LearningStore` method that returned has committed its one transaction
with `synchronous=FULL` in WAL mode, so the record survives a SIGKILL (and a power cut) at any
later moment. Files (models, replay crops) are made durable BEFORE the row that names them is
committed (temp file in a staging folder + fsync + os.replace + folder fsync), so a committed
row never points at a half-written file. A kill between the file and its row leaves only an
unreferenced file or a row in the `saving` state, which `recover()` cleans up on the next start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
STAGING_DIR = ".staging"  # temp files live here: never in the folder models are loaded from

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS verdicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    track_id INTEGER NOT NULL,
    stamp_s REAL NOT NULL,
    p_defect REAL NOT NULL,
    reject INTEGER NOT NULL,
    uncertain INTEGER NOT NULL,
    defect_type TEXT NOT NULL,
    model_version INTEGER,
    threshold REAL,
    crop_file TEXT,
    wall_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_track ON verdicts(track_id);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    track_id INTEGER NOT NULL,
    stamp_s REAL NOT NULL,
    defective INTEGER NOT NULL,
    defect_type TEXT NOT NULL,
    verdict_id INTEGER REFERENCES verdicts(id),
    split TEXT,
    wall_s REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS labels_verdict ON labels(verdict_id) WHERE verdict_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS picks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    track_id INTEGER NOT NULL,
    stamp_s REAL NOT NULL,
    result TEXT NOT NULL,
    offset_x_m REAL, offset_y_m REAL, offset_z_m REAL,
    predicted_grasp_time_s REAL,
    v_belt_pred_mps REAL,
    lead_time_s REAL,
    applied TEXT,
    wall_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS estimates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stamp_s REAL NOT NULL,
    pick_id INTEGER REFERENCES picks(id),
    state TEXT NOT NULL,
    corrections TEXT NOT NULL,
    wall_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS model_versions (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    file TEXT NOT NULL,
    sha256 TEXT,
    model_tag TEXT NOT NULL,
    parent INTEGER,
    metrics TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    promoted_seq INTEGER,
    wall_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS thresholds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stamp_s REAL NOT NULL,
    model_version INTEGER,
    threshold REAL NOT NULL,
    previous REAL,
    detail TEXT NOT NULL,
    wall_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS calibration (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_version INTEGER NOT NULL,
    score REAL NOT NULL,
    defective INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS calibration_version ON calibration(model_version);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stamp_s REAL NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    wall_s REAL NOT NULL
);
"""


class StoreError(RuntimeError):
    """The learner's database or files are unusable."""


class ModelStatus(str, Enum):
    """Life cycle of a saved model version."""

    SAVING = "saving"  # row written, file not yet durable (a kill here leaves it: recovered)
    CANDIDATE = "candidate"  # file durable and hashed, awaiting the promotion gate
    LIVE = "live"  # the one model in use
    RETIRED = "retired"  # was live, superseded by a promotion (a rollback target)
    REJECTED = "rejected"  # failed the gate, or its save was interrupted
    ROLLED_BACK = "rolled_back"  # was live, withdrawn by rollback()
    CORRUPT = "corrupt"  # its file went missing or no longer matches its hash


@dataclass(frozen=True)
class ModelVersion:
    """One row of the model registry."""

    version: int
    file: str  # file name inside the learner's model folder
    sha256: str | None
    model_tag: str
    parent: int | None
    metrics: dict[str, Any]
    status: ModelStatus
    promoted_seq: int | None
    wall_s: float


@dataclass(frozen=True)
class LabelledCrop:
    """A replay-buffer entry: a crop file with its downstream label."""

    verdict_id: int
    crop_file: str
    defective: bool
    split: str


@dataclass
class RecoveryReport:
    """What `LearningStore.recover()` cleaned up after an unclean stop."""

    interrupted_saves: list[int] = field(default_factory=list)
    interrupted_candidates: list[int] = field(default_factory=list)
    removed_files: list[str] = field(default_factory=list)


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink inside `path` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write(path: Path, write: Callable[[Path], None]) -> str:
    """Write a file so that `path` holds either its old content or the complete new one.

    `write(tmp_path)` produces the file under a temp name in `<dir>/.staging/` (same file
    system), which is fsynced, hashed, renamed over `path`, and the folder fsynced. Anything
    `write` leaves in the staging folder after a kill is removed by `LearningStore.recover()`.

    Args:
        path: final file path.
        write: callable writing the complete file to the path it is given.

    Returns:
        The SHA-256 of the file now at `path`.
    """
    path = Path(path)
    staging = path.parent / STAGING_DIR
    staging.mkdir(parents=True, exist_ok=True)
    tmp = staging / f"{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        write(tmp)
        if not tmp.is_file():
            msg = f"atomic_write: the writer did not create {tmp}"
            raise StoreError(msg)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        digest = sha256_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest


def atomic_write_bytes(path: Path, data: bytes) -> str:
    """`atomic_write` for bytes already in memory; returns the SHA-256."""
    return atomic_write(Path(path), lambda tmp: tmp.write_bytes(data))


def _nan_if_none(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def _none_if_nan(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


class LearningStore:
    """The learner's SQLite database (WAL, synchronous=FULL, one transaction per record).

    Thread-safe: one connection guarded by a re-entrant lock, so a background updater and the
    cell's thread can share it.

    Args:
        db_path: the SQLite file; its folder is created.
    """

    def __init__(self, db_path: str | Path) -> None:
        self.path = Path(db_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0
            )
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.DatabaseError as e:
            msg = f"LearningStore: cannot open {self.path}: {e}"
            raise StoreError(msg) from e
        if str(mode).lower() != "wal":
            msg = f"LearningStore: {self.path} refused WAL mode (journal_mode={mode})"
            raise StoreError(msg)
        # FULL: a commit is on disk when it returns (WAL+NORMAL could lose the last commits on
        # power loss; the cost here is one fsync per record, well under a millisecond on SSD).
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.row_factory = sqlite3.Row
        with self.transaction() as c:
            # executescript() would COMMIT on its own: run the statements one by one instead.
            for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                c.execute(stmt)
            found = c.execute("PRAGMA user_version").fetchone()[0]
            if found == 0:
                c.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif found != SCHEMA_VERSION:
                msg = f"LearningStore: {self.path} has schema {found}, this code reads {SCHEMA_VERSION}"
                raise StoreError(msg)

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT), rolled back on error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def close(self) -> None:
        """Checkpoint the WAL and close the connection."""
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._conn.close()

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """A value from the key-value table."""
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0]["value"] if rows else default

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in the key-value table (its own transaction)."""
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def add_event(self, stamp_s: float, kind: str, detail: dict[str, Any]) -> int:
        """Log a learner decision (promotion, rollback, fallback...)."""
        with self.transaction() as c:
            return self._insert_event(c, stamp_s, kind, detail)

    @staticmethod
    def _insert_event(c: sqlite3.Connection, stamp_s: float, kind: str, detail: dict[str, Any]) -> int:
        cur = c.execute(
            "INSERT INTO events(stamp_s, kind, detail, wall_s) VALUES (?, ?, ?, ?)",
            (stamp_s, kind, json.dumps(detail), time.time()),
        )
        return int(cur.lastrowid)

    def events(self, kind: str | None = None) -> list[tuple[float, str, dict[str, Any]]]:
        """Logged decisions as (stamp_s, kind, detail), oldest first."""
        if kind is None:
            rows = self._query("SELECT stamp_s, kind, detail FROM events ORDER BY id")
        else:
            rows = self._query("SELECT stamp_s, kind, detail FROM events WHERE kind=? ORDER BY id", (kind,))
        return [(r["stamp_s"], r["kind"], json.loads(r["detail"])) for r in rows]

    # -- outcome records ------------------------------------------------------------------

    def add_verdict(
        self,
        track_id: int,
        stamp_s: float,
        p_defect: float,
        reject: bool,
        uncertain: bool,
        defect_type: str,
        model_version: int | None,
        threshold: float | None,
        crop_file: str | None,
    ) -> int:
        """Persist a classifier verdict; returns its row id."""
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO verdicts(track_id, stamp_s, p_defect, reject, uncertain, defect_type,"
                " model_version, threshold, crop_file, wall_s) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (int(track_id), float(stamp_s), float(p_defect), int(bool(reject)), int(bool(uncertain)),
                 str(defect_type), model_version, threshold, crop_file, time.time()),
            )
            return int(cur.lastrowid)

    def add_label(
        self, track_id: int, stamp_s: float, defective: bool, defect_type: str, holdout_every: int
    ) -> tuple[int, int | None, str | None]:
        """Persist a downstream label and join it to the latest unlabelled verdict of its track.

        The replay split is assigned here, stratified per class: every `holdout_every`-th
        labelled crop of a class goes to the held-out buffer, the rest to training.

        Returns:
            (label id, joined verdict id or None, split or None).
        """
        with self.transaction() as c:
            row = c.execute(
                "SELECT v.id, v.crop_file FROM verdicts v LEFT JOIN labels l ON l.verdict_id = v.id"
                " WHERE v.track_id=? AND l.id IS NULL ORDER BY v.id DESC LIMIT 1",
                (int(track_id),),
            ).fetchone()
            verdict_id = None if row is None else int(row["id"])
            split = None
            if row is not None and row["crop_file"] is not None:
                n_class = c.execute(
                    "SELECT COUNT(*) FROM labels WHERE defective=? AND split IS NOT NULL", (int(bool(defective)),)
                ).fetchone()[0]
                split = "holdout" if n_class % holdout_every == holdout_every - 1 else "train"
            cur = c.execute(
                "INSERT INTO labels(track_id, stamp_s, defective, defect_type, verdict_id, split, wall_s)"
                " VALUES (?,?,?,?,?,?,?)",
                (int(track_id), float(stamp_s), int(bool(defective)), str(defect_type), verdict_id, split, time.time()),
            )
            return int(cur.lastrowid), verdict_id, split

    def add_pick(
        self,
        track_id: int,
        stamp_s: float,
        result: str,
        offset_m: tuple[float, float, float] | None,
        predicted_grasp_time_s: float,
        v_belt_pred_mps: float,
        lead_time_s: float,
        applied: dict[str, Any],
        estimator_state: dict[str, Any] | None,
        corrections: dict[str, Any] | None,
    ) -> int:
        """Persist a pick outcome and, in the same transaction, the process estimate after it."""
        off = (None, None, None) if offset_m is None else tuple(float(x) for x in offset_m)
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO picks(track_id, stamp_s, result, offset_x_m, offset_y_m, offset_z_m,"
                " predicted_grasp_time_s, v_belt_pred_mps, lead_time_s, applied, wall_s)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (int(track_id), float(stamp_s), str(result), *off, _none_if_nan(predicted_grasp_time_s),
                 _none_if_nan(v_belt_pred_mps), _none_if_nan(lead_time_s), json.dumps(applied), time.time()),
            )
            pick_id = int(cur.lastrowid)
            if estimator_state is not None:
                c.execute(
                    "INSERT INTO estimates(stamp_s, pick_id, state, corrections, wall_s) VALUES (?,?,?,?,?)",
                    (float(stamp_s), pick_id, json.dumps(estimator_state), json.dumps(corrections), time.time()),
                )
            return pick_id

    def latest_estimate(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The last persisted (estimator state, corrections), or None."""
        rows = self._query("SELECT state, corrections FROM estimates ORDER BY id DESC LIMIT 1")
        return None if not rows else (json.loads(rows[0]["state"]), json.loads(rows[0]["corrections"]))

    def estimate_history(self) -> list[tuple[float, dict[str, Any]]]:
        """(stamp_s, corrections) after every pick, oldest first."""
        rows = self._query("SELECT stamp_s, corrections FROM estimates ORDER BY id")
        return [(r["stamp_s"], json.loads(r["corrections"])) for r in rows]

    def ids(self, table: str) -> set[int]:
        """All row ids of `verdicts`, `labels` or `picks` (for audits and the kill test)."""
        if table not in ("verdicts", "labels", "picks"):
            msg = f"LearningStore.ids: unknown table {table!r}"
            raise ValueError(msg)
        return {int(r[0]) for r in self._query(f"SELECT id FROM {table}")}  # noqa: S608 - whitelisted

    def latest_stamp_s(self) -> float:
        """The latest cell-clock stamp of any verdict, label or pick (0 when none)."""
        row = self._query(
            "SELECT MAX(COALESCE((SELECT MAX(stamp_s) FROM verdicts), 0), COALESCE((SELECT MAX(stamp_s) FROM labels), 0),"
            " COALESCE((SELECT MAX(stamp_s) FROM picks), 0))"
        )
        return float(row[0][0])

    def pick_rows(self) -> list[sqlite3.Row]:
        """All pick records, oldest first."""
        return self._query("SELECT * FROM picks ORDER BY id")

    def count(self, table: str) -> int:
        """Row count of a table."""
        if table not in ("verdicts", "labels", "picks", "estimates", "thresholds", "model_versions", "events"):
            msg = f"LearningStore.count: unknown table {table!r}"
            raise ValueError(msg)
        return int(self._query(f"SELECT COUNT(*) FROM {table}")[0][0])  # noqa: S608 - whitelisted

    # -- labels for the threshold and the replay buffer -----------------------------------

    def max_label_id(self) -> int:
        """The highest label row id (0 when none)."""
        return int(self._query("SELECT COALESCE(MAX(id), 0) FROM labels")[0][0])

    def label_counts_since(self, label_id: int) -> tuple[int, int]:
        """(labels, escaped defects) recorded after `label_id`.

        An escaped defect is a defect label joined to a verdict that neither rejected nor
        flagged the part as uncertain.
        """
        row = self._query(
            "SELECT COUNT(*), COALESCE(SUM(l.defective = 1 AND v.reject = 0 AND v.uncertain = 0), 0)"
            " FROM labels l LEFT JOIN verdicts v ON l.verdict_id = v.id WHERE l.id > ?",
            (int(label_id),),
        )[0]
        return int(row[0]), int(row[1])

    def labelled_scores(self, model_version: int) -> tuple[list[float], list[bool]]:
        """(score, defective) pairs for one model version: joined verdicts + calibration rows."""
        rows = self._query(
            "SELECT v.p_defect AS s, l.defective AS d FROM labels l JOIN verdicts v ON l.verdict_id = v.id"
            " WHERE v.model_version = ?"
            " UNION ALL SELECT score AS s, defective AS d FROM calibration WHERE model_version = ?",
            (int(model_version), int(model_version)),
        )
        return [float(r["s"]) for r in rows], [bool(r["d"]) for r in rows]

    def add_calibration(self, model_version: int, scores: list[float], defective: list[bool]) -> None:
        """Held-out (score, label) pairs of a newly promoted model, to seed its threshold."""
        with self.transaction() as c:
            c.executemany(
                "INSERT INTO calibration(model_version, score, defective) VALUES (?,?,?)",
                [(int(model_version), float(s), int(bool(d))) for s, d in zip(scores, defective, strict=True)],
            )

    def replay_items(self, split: str) -> list[LabelledCrop]:
        """Labelled crops still in the replay buffer for one split, oldest first."""
        rows = self._query(
            "SELECT v.id, v.crop_file, l.defective, l.split FROM labels l JOIN verdicts v ON l.verdict_id = v.id"
            " WHERE v.crop_file IS NOT NULL AND l.split = ? ORDER BY v.id",
            (split,),
        )
        return [LabelledCrop(int(r[0]), str(r[1]), bool(r[2]), str(r[3])) for r in rows]

    def evict_crops(self, max_per_class_split: dict[str, int], max_pending: int) -> list[str]:
        """Drop the oldest crops beyond the buffer bounds; returns the files to delete.

        Bounds: per (class, split) for labelled crops (class balance), and `max_pending` for
        crops still waiting for their label. The rows lose their crop reference in one
        transaction; the caller deletes the files afterwards (a kill in between leaves
        unreferenced files, removed by `recover()`).
        """
        with self.transaction() as c:
            victims: list[tuple[int, str]] = []
            for split, cap in max_per_class_split.items():
                for defective in (0, 1):
                    victims += c.execute(
                        "SELECT v.id, v.crop_file FROM labels l JOIN verdicts v ON l.verdict_id = v.id"
                        " WHERE v.crop_file IS NOT NULL AND l.split = ? AND l.defective = ?"
                        " ORDER BY v.id DESC LIMIT -1 OFFSET ?",
                        (split, defective, int(cap)),
                    ).fetchall()
            victims += c.execute(
                "SELECT v.id, v.crop_file FROM verdicts v LEFT JOIN labels l ON l.verdict_id = v.id"
                " WHERE v.crop_file IS NOT NULL AND l.id IS NULL ORDER BY v.id DESC LIMIT -1 OFFSET ?",
                (int(max_pending),),
            ).fetchall()
            c.executemany("UPDATE verdicts SET crop_file = NULL WHERE id = ?", [(int(v[0]),) for v in victims])
        return [str(v[1]) for v in victims]

    def referenced_crop_files(self) -> set[str]:
        """Crop file names some verdict still references."""
        return {str(r[0]) for r in self._query("SELECT crop_file FROM verdicts WHERE crop_file IS NOT NULL")}

    # -- thresholds -----------------------------------------------------------------------

    def add_threshold(
        self, stamp_s: float, model_version: int | None, threshold: float, previous: float | None, detail: dict
    ) -> None:
        """Log a threshold decision (persisted history)."""
        with self.transaction() as c:
            c.execute(
                "INSERT INTO thresholds(stamp_s, model_version, threshold, previous, detail, wall_s)"
                " VALUES (?,?,?,?,?,?)",
                (float(stamp_s), model_version, float(threshold), previous, json.dumps(detail), time.time()),
            )

    def latest_threshold(self) -> float | None:
        """The threshold in force (last logged), or None."""
        rows = self._query("SELECT threshold FROM thresholds ORDER BY id DESC LIMIT 1")
        return None if not rows else float(rows[0][0])

    def threshold_history(self) -> list[tuple[float, int | None, float, dict]]:
        """(stamp_s, model_version, threshold, detail), oldest first."""
        rows = self._query("SELECT stamp_s, model_version, threshold, detail FROM thresholds ORDER BY id")
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    # -- model registry -------------------------------------------------------------------

    @staticmethod
    def _model_row(r: sqlite3.Row) -> ModelVersion:
        return ModelVersion(
            version=int(r["version"]), file=str(r["file"]), sha256=r["sha256"], model_tag=str(r["model_tag"]),
            parent=r["parent"], metrics=json.loads(r["metrics"]), status=ModelStatus(r["status"]),
            promoted_seq=r["promoted_seq"], wall_s=float(r["wall_s"]),
        )

    def begin_model_version(self, model_tag: str, parent: int | None) -> ModelVersion:
        """Reserve a version number and file name (status `saving`) before writing the file."""
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO model_versions(file, model_tag, parent, status, wall_s) VALUES ('', ?, ?, ?, ?)",
                (str(model_tag), parent, ModelStatus.SAVING.value, time.time()),
            )
            version = int(cur.lastrowid)
            c.execute("UPDATE model_versions SET file=? WHERE version=?", (f"model-v{version:04d}.pt", version))
        return self.model_version(version)

    def finish_model_save(self, version: int, sha256: str) -> None:
        """Record the durable file's hash: `saving` -> `candidate`."""
        with self.transaction() as c:
            c.execute(
                "UPDATE model_versions SET sha256=?, status=? WHERE version=? AND status=?",
                (sha256, ModelStatus.CANDIDATE.value, int(version), ModelStatus.SAVING.value),
            )

    def set_model_status(self, version: int, status: ModelStatus, metrics: dict | None = None) -> None:
        """Change a version's status (and optionally its metrics)."""
        with self.transaction() as c:
            if metrics is None:
                c.execute("UPDATE model_versions SET status=? WHERE version=?", (status.value, int(version)))
            else:
                c.execute(
                    "UPDATE model_versions SET status=?, metrics=? WHERE version=?",
                    (status.value, json.dumps(metrics), int(version)),
                )

    def model_version(self, version: int) -> ModelVersion:
        """One registry row; KeyError if absent."""
        rows = self._query("SELECT * FROM model_versions WHERE version=?", (int(version),))
        if not rows:
            msg = f"no model version {version}"
            raise KeyError(msg)
        return self._model_row(rows[0])

    def model_versions(self) -> list[ModelVersion]:
        """The whole registry, oldest first."""
        return [self._model_row(r) for r in self._query("SELECT * FROM model_versions ORDER BY version")]

    def live_model_version(self) -> ModelVersion | None:
        """The version with status `live`, or None."""
        rows = self._query("SELECT * FROM model_versions WHERE status=?", (ModelStatus.LIVE.value,))
        return None if not rows else self._model_row(rows[0])

    def promote(self, version: int, stamp_s: float, metrics: dict | None = None, kind: str = "promote") -> None:
        """Make `version` live in one transaction; the previous live one becomes `retired`."""
        with self.transaction() as c:
            row = c.execute("SELECT status FROM model_versions WHERE version=?", (int(version),)).fetchone()
            if row is None or row[0] not in (ModelStatus.CANDIDATE.value, ModelStatus.RETIRED.value):
                msg = f"promote: version {version} has status {None if row is None else row[0]}"
                raise StoreError(msg)
            old = c.execute("SELECT version FROM model_versions WHERE status=?", (ModelStatus.LIVE.value,)).fetchone()
            if old is not None:
                c.execute("UPDATE model_versions SET status=? WHERE version=?", (ModelStatus.RETIRED.value, old[0]))
            seq = c.execute("SELECT COALESCE(MAX(promoted_seq), 0) + 1 FROM model_versions").fetchone()[0]
            c.execute(
                "UPDATE model_versions SET status=?, promoted_seq=? WHERE version=?",
                (ModelStatus.LIVE.value, seq, int(version)),
            )
            if metrics is not None:
                c.execute("UPDATE model_versions SET metrics=? WHERE version=?", (json.dumps(metrics), int(version)))
            self._insert_event(c, stamp_s, kind, {"version": int(version), "previous": None if old is None else old[0]})

    def replace_live(self, new_version: int, old_status: ModelStatus, stamp_s: float, kind: str) -> None:
        """Make retired `new_version` live and give the current live one `old_status` (one transaction)."""
        with self.transaction() as c:
            old = c.execute("SELECT version FROM model_versions WHERE status=?", (ModelStatus.LIVE.value,)).fetchone()
            if old is not None:
                c.execute("UPDATE model_versions SET status=? WHERE version=?", (old_status.value, old[0]))
            seq = c.execute("SELECT COALESCE(MAX(promoted_seq), 0) + 1 FROM model_versions").fetchone()[0]
            c.execute(
                "UPDATE model_versions SET status=?, promoted_seq=? WHERE version=?",
                (ModelStatus.LIVE.value, seq, int(new_version)),
            )
            self._insert_event(
                c, stamp_s, kind, {"version": int(new_version), "previous": None if old is None else old[0]}
            )

    def fallback_chain(self) -> list[ModelVersion]:
        """Retired versions, most recently live first: where rollback and recovery look."""
        rows = self._query(
            "SELECT * FROM model_versions WHERE status=? ORDER BY promoted_seq DESC", (ModelStatus.RETIRED.value,)
        )
        return [self._model_row(r) for r in rows]

    # -- recovery -------------------------------------------------------------------------

    def recover(self, model_dir: Path, crop_dir: Path) -> RecoveryReport:
        """Clean up after an unclean stop: staging files, interrupted saves, orphan files.

        Rows left in `saving` (a kill before the file was durable or hashed) and in `candidate`
        (a kill during the promotion gate) are marked `rejected`; their files and any file no
        row references are deleted. Nothing that a committed row relies on is touched.
        """
        report = RecoveryReport()
        for folder in (model_dir, crop_dir):
            staging = folder / STAGING_DIR
            if staging.exists():
                report.removed_files += [str(p) for p in staging.iterdir()]
                shutil.rmtree(staging, ignore_errors=True)
        with self.transaction() as c:
            for status, bucket in (
                (ModelStatus.SAVING, report.interrupted_saves),
                (ModelStatus.CANDIDATE, report.interrupted_candidates),
            ):
                rows = c.execute("SELECT version FROM model_versions WHERE status=?", (status.value,)).fetchall()
                for (version,) in rows:
                    bucket.append(int(version))
                    c.execute(
                        "UPDATE model_versions SET status=?, metrics=? WHERE version=?",
                        (ModelStatus.REJECTED.value, json.dumps({"reason": f"interrupted while {status.value}"}),
                         version),
                    )
        keep_models = {
            v.file for v in self.model_versions()
            if v.status not in (ModelStatus.REJECTED, ModelStatus.SAVING, ModelStatus.CANDIDATE)
        }
        if model_dir.exists():
            for p in model_dir.glob("model-v*.pt"):
                if p.name not in keep_models:
                    p.unlink(missing_ok=True)
                    report.removed_files.append(str(p))
        if crop_dir.exists():
            keep_crops = self.referenced_crop_files()
            for p in crop_dir.glob("*.npz"):
                if p.name not in keep_crops:
                    p.unlink(missing_ok=True)
                    report.removed_files.append(str(p))
        if report.interrupted_saves or report.interrupted_candidates or report.removed_files:
            logger.warning(
                "learning store recovered: interrupted saves %s, interrupted candidates %s, %d stray files removed",
                report.interrupted_saves, report.interrupted_candidates, len(report.removed_files),
            )
        return report


def nan_to_none(x: float) -> float | None:
    """NaN -> None for JSON and SQLite."""
    return _none_if_nan(x)


def none_to_nan(x: float | None) -> float:
    """None -> NaN when reading SQLite REALs back."""
    return _nan_if_none(x)
