"""The run history: one SQLite file, one row per run, token, deployment and statement used.

`record` appends a run (`check --history PATH`); `previous_statuses` and `last_success_time`
answer what `--notify` and the Prometheus textfile need; `load` reads the series that
`xstock-audit history` shows, and `flag` marks drift and jumps in them.

The file:

- amounts are decimal strings (TEXT), never REAL; instants are ISO 8601 UTC strings of one
  fixed width (`2026-03-02T14:30:15.000000Z`), so they sort as text;
- it carries its schema version in `PRAGMA user_version` and this tool's mark in
  `PRAGMA application_id`. `MIGRATIONS[n]` takes a file from version n to n + 1; opening a
  file applies the missing steps in order, in one transaction (a newer tool migrates an older
  file in place). A file of a newer version is refused (an `InputError`, exit 2): an older tool
  does not know what the newer columns mean;
- WAL journal and a busy timeout, so two runs writing at once both land: each write is one
  `BEGIN IMMEDIATE` transaction, the second waits for the first.

Only the standard library: `check --history` must not slow the start of a run.
"""

from __future__ import annotations

import json
import sqlite3
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .amounts import Tolerance, fmt, sub
from .errors import InputError

if TYPE_CHECKING:  # reconcile brings the registry (pydantic) and the chains: not at run time
    from .reconcile import AuditResult

T = TypeVar("T")

#: `PRAGMA application_id`: "xSAH" (xstock-audit history), so another SQLite file is not
#: taken for a history by mistake
APPLICATION_ID = 0x78534148
#: seconds a writer waits for another one's transaction before giving up
BUSY_TIMEOUT_S = 10.0

#: Schema steps: MIGRATIONS[n] takes a file from user_version n to n + 1. Never edit a step
#: that has shipped; append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # v1: runs, tokens, deployments, attestations
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            time TEXT NOT NULL,
            registry TEXT NOT NULL,
            exit_code INTEGER NOT NULL,
            gate_passed INTEGER NOT NULL,
            gate_fail_on TEXT NOT NULL,
            gate_failed TEXT NOT NULL,
            gate_ignored TEXT NOT NULL
        )""",
        """CREATE TABLE tokens (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            symbol TEXT NOT NULL,
            isin TEXT NOT NULL,
            status TEXT NOT NULL,
            onchain TEXT,
            custody TEXT,
            difference TEXT,
            tolerance TEXT NOT NULL,
            PRIMARY KEY (run_id, symbol)
        )""",
        """CREATE TABLE deployments (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            symbol TEXT NOT NULL,
            chain TEXT NOT NULL,
            address TEXT NOT NULL,
            total_supply TEXT,
            excluded TEXT,
            multiplier TEXT,
            circulating TEXT,
            error TEXT,
            pin_unit TEXT,
            pin_number INTEGER,
            pin_time TEXT
        )""",
        """CREATE TABLE attestations (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            symbol TEXT NOT NULL,
            custodian TEXT NOT NULL,
            account TEXT NOT NULL,
            as_of TEXT NOT NULL,
            quantity TEXT NOT NULL
        )""",
    ),
    # v2: the sum over the deployments that were read (a lower bound when one was not); in a
    # v1 run it equals `onchain` whenever that is known (every deployment was read), and is
    # unknown otherwise. Indexes for `history` (by time, by symbol, a token's statements).
    (
        "ALTER TABLE tokens ADD COLUMN onchain_read TEXT",
        "UPDATE tokens SET onchain_read = onchain",
        "CREATE INDEX runs_by_time ON runs (time, id)",
        "CREATE INDEX tokens_by_symbol ON tokens (symbol, run_id)",
        "CREATE INDEX attestations_by_token ON attestations (run_id, symbol)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

_OURS = ("runs", "tokens", "deployments", "attestations")


def stamp(dt: datetime) -> str:
    """An instant as the file stores it: UTC, microseconds, `Z`, always the same width."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def unstamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------------- opening


def _problem(path: Path, exc: sqlite3.Error) -> InputError:
    text = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "file is encrypted" in text
    ):
        return InputError(
            f"not an SQLite database, or a damaged one ({text})",
            file=str(path),
            hint="pass a history file that `check --history` wrote, or a new path",
        )
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return InputError(f"cannot write the history file ({text})", file=str(path))
    return InputError(f"history file: {text}", file=str(path))


def _check_path(path: Path, *, create: bool) -> None:
    if path.is_dir():
        raise InputError("is a directory, not a history file", file=str(path))
    if path.exists():
        return
    if not create:
        raise InputError(
            "no such history file", file=str(path), hint="`check --history PATH` writes one"
        )
    parent = path.parent
    if not parent.exists():
        raise InputError(f"the folder {parent} does not exist", file=str(path))
    if not parent.is_dir():
        raise InputError(f"{parent} is not a folder", file=str(path))


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the file to SCHEMA_VERSION in one transaction, or refuse it."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:  # the common case: no write lock taken
        _check_mark(conn, path, version)
        return
    if version > SCHEMA_VERSION:
        raise InputError(
            f"the history file has schema version {version}, newer than this tool's "
            f"{SCHEMA_VERSION}: it was written by a newer xstock-audit",
            file=str(path),
            hint="upgrade xstock-audit to read or extend it",
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # another may have done it
        if version > SCHEMA_VERSION:
            raise InputError(
                f"the history file has schema version {version}, newer than this tool's "
                f"{SCHEMA_VERSION}",
                file=str(path),
            )
        _check_mark(conn, path, version)
        for steps in MIGRATIONS[version:]:
            for sql in steps:
                conn.execute(sql)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _check_mark(conn: sqlite3.Connection, path: Path, version: int) -> None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id not in (0, APPLICATION_ID):
        raise InputError(
            f"an SQLite database of another application (application_id {app_id:#x}), not "
            "an xstock-audit history",
            file=str(path),
        )
    tables = _tables(conn)
    if version == 0 and tables:
        raise InputError(
            "an SQLite database that is not an xstock-audit history (it has tables "
            f"{', '.join(sorted(tables))} and no history schema version)",
            file=str(path),
        )
    if version > 0 and not set(_OURS) <= tables:
        raise InputError(
            f"not an xstock-audit history (tables missing: "
            f"{', '.join(sorted(set(_OURS) - tables))})",
            file=str(path),
        )


def _busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (any extended code)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (5, 6)
    return "locked" in str(exc) or "busy" in str(exc)


def _retrying(path: Path, work: Callable[[], T]) -> T:
    """`work()`, again while another connection holds the file, up to `BUSY_TIMEOUT_S`.

    SQLite's busy timeout covers taking a lock, but not every moment of a WAL file's life:
    switching the journal to WAL, or reading while another connection rebuilds the WAL
    index after the last one closed, answer SQLITE_BUSY at once (seen with two writers
    starting together on a new file). `work` must be a whole transaction or none."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.002
    while True:
        try:
            return work()
        except sqlite3.Error as exc:
            if not _busy(exc) or time.monotonic() >= deadline:
                raise _problem(path, exc) from None
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _setup(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if str(mode).lower() != "wal":  # once per file: WAL is kept in the file
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise InputError(f"cannot use the WAL journal (got {mode})", file=str(path))
    conn.execute("PRAGMA foreign_keys = ON")
    _migrate(conn, path)


@contextmanager
def connect(db_path: str | Path, *, create: bool = True) -> Iterator[sqlite3.Connection]:
    """An open history at the current schema version (migrated if older). InputError naming
    the file when it is a directory, not a database, of a newer version, or cannot be
    written; with `create=False` also when it does not exist."""
    path = Path(db_path)
    _check_path(path, create=create)
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise _problem(path, exc) from None
    try:
        _retrying(path, lambda: _setup(conn, path))
        yield conn
    finally:
        conn.close()


def _transaction(conn: sqlite3.Connection, path: Path, work: Callable[[], T]) -> T:
    """`work()` in one write transaction (retried whole while the file is busy)."""

    def once() -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            value = work()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return value

    return _retrying(path, once)


def _reading(path: Path, work: Callable[[], T]) -> T:
    return _retrying(path, work)


# ---------------------------------------------------------------------- writing


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def record(db_path: str | Path, result: AuditResult, registry_source: str | Path) -> int:
    """Append one run to the history at `db_path` (created when new); its id."""
    gate = result.gate
    fail_on = list(gate.fail_on) if gate else ["UNDER", "STALE", "UNVERIFIED", "ERROR"]
    passed = gate.passed if gate else result.exit_code == 0
    failed = (
        list(gate.failed)
        if gate
        else [t.symbol for t in result.tokens if t.status.value in fail_on]
    )
    ignored = [
        {
            "symbol": ig.symbol,
            "reason": ig.reason,
            "until": None if ig.until is None else ig.until.isoformat(),
            "source": ig.source,
        }
        for ig in (gate.ignored if gate else ())
    ]
    pins: dict[str, tuple[str, int, str]] = {}
    for name, read in result.chains.items():
        if read.pin is not None:
            pins[name] = (read.pin.unit, read.pin.number, stamp(read.pin.time))
    tokens = []
    deployments = []
    attestations = []
    for t in result.tokens:
        tokens.append(
            (
                t.symbol,
                t.isin,
                t.status.value,
                _opt(t.onchain),
                _opt(t.onchain_read),
                _opt(t.custody),
                _opt(t.difference),
                fmt(t.tolerance),
            )
        )
        for d in t.deployments:
            s = d.supply
            pin = pins.get(s.chain)
            deployments.append(
                (
                    t.symbol,
                    s.chain,
                    s.address,
                    _opt(s.total_supply),
                    _opt(s.excluded),
                    None if s.error else fmt(s.multiplier),
                    _opt(d.circulating),
                    s.error,
                    pin[0] if pin else None,
                    pin[1] if pin else None,
                    pin[2] if pin else None,
                )
            )
        for a in t.attestations:
            attestations.append((t.symbol, a.custodian, a.account, stamp(a.as_of), fmt(a.quantity)))
    path = Path(db_path)

    def write(conn: sqlite3.Connection) -> int:
        cur = conn.execute(
            "INSERT INTO runs (time, registry, exit_code, gate_passed, gate_fail_on, "
            "gate_failed, gate_ignored) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                stamp(result.generated_at),
                str(registry_source),
                result.exit_code,
                int(passed),
                json.dumps(fail_on),
                json.dumps(failed),
                json.dumps(ignored),
            ),
        )
        run_id = cur.lastrowid
        assert run_id is not None
        conn.executemany(
            "INSERT INTO tokens (run_id, symbol, isin, status, onchain, onchain_read, "
            "custody, difference, tolerance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, *row) for row in tokens],
        )
        conn.executemany(
            "INSERT INTO deployments (run_id, symbol, chain, address, total_supply, "
            "excluded, multiplier, circulating, error, pin_unit, pin_number, pin_time) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, *row) for row in deployments],
        )
        conn.executemany(
            "INSERT INTO attestations (run_id, symbol, custodian, account, as_of, "
            "quantity) VALUES (?, ?, ?, ?, ?, ?)",
            [(run_id, *row) for row in attestations],
        )
        return run_id

    with connect(path) as conn:
        return _transaction(conn, path, lambda: write(conn))


# ---------------------------------------------------------------------- questions


def previous_statuses(db_path: str | Path, before: int | None = None) -> dict[str, str]:
    """Each token's status in the last run: the newest in the file (call it before `record`),
    or, with `before` (the id `record` returned), the newest run older than that one. Runs are
    ordered by their time, then by id. Empty when there is no such run or no file yet."""
    path = Path(db_path)
    if not path.exists() and not path.is_symlink():
        return {}

    def query(conn: sqlite3.Connection) -> list[tuple[str, str]]:
        if before is None:
            found = conn.execute(
                "SELECT id FROM runs ORDER BY time DESC, id DESC LIMIT 1"
            ).fetchone()
        else:
            found = conn.execute(
                "SELECT r.id FROM runs r, runs this WHERE this.id = ? AND "
                "(r.time < this.time OR (r.time = this.time AND r.id < this.id)) "
                "ORDER BY r.time DESC, r.id DESC LIMIT 1",
                (before,),
            ).fetchone()
        if found is None:
            return []
        return conn.execute(
            "SELECT symbol, status FROM tokens WHERE run_id = ? ORDER BY rowid", (found[0],)
        ).fetchall()

    with connect(path, create=False) as conn:
        rows = _reading(path, lambda: query(conn))
    return {symbol: status for symbol, status in rows}


def last_success_time(db_path: str | Path) -> datetime | None:
    """The time of the newest run whose gate passed; None when none did (or no file yet)."""
    path = Path(db_path)
    if not path.exists() and not path.is_symlink():
        return None
    sql = "SELECT time FROM runs WHERE gate_passed = 1 ORDER BY time DESC, id DESC LIMIT 1"
    with connect(path, create=False) as conn:
        row = _reading(path, lambda: conn.execute(sql).fetchone())
    return None if row is None else unstamp(row[0])


# ---------------------------------------------------------------------- series


@dataclass(frozen=True)
class Flag:
    """`drift` or `jump` at one point: the supply moved by `change` (signed), more than
    `limit` (the tolerance applied to `reference`, the earlier supply, as of `since`)."""

    kind: str
    change: Decimal
    limit: Decimal
    reference: Decimal
    since: datetime


@dataclass(frozen=True)
class Point:
    """One token in one run."""

    run: int
    time: datetime
    status: str
    onchain: Decimal | None
    onchain_read: Decimal | None
    custody: Decimal | None
    #: the oldest as-of of the statements the custody figure sums (None: none used)
    custody_as_of: datetime | None
    flags: tuple[Flag, ...] = ()


@dataclass(frozen=True)
class Series:
    symbol: str
    isin: str
    points: tuple[Point, ...] = field(default_factory=tuple)


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def load(db_path: str | Path, symbols: Sequence[str] = ()) -> list[Series]:
    """Every token's points, oldest run first (by time, then id); tokens in order of first
    appearance. `symbols` restricts to those tokens. The file must exist."""
    path = Path(db_path)
    where = ""
    params: list[object] = []
    if symbols:
        where = f"WHERE t.symbol IN ({', '.join('?' * len(symbols))})"
        params.extend(symbols)
    sql = (
        "SELECT t.run_id, r.time, t.symbol, t.isin, t.status, t.onchain, t.onchain_read, "
        "t.custody, (SELECT MIN(a.as_of) FROM attestations a "
        " WHERE a.run_id = t.run_id AND a.symbol = t.symbol) "
        f"FROM tokens t JOIN runs r ON r.id = t.run_id {where} "
        "ORDER BY r.time, r.id, t.rowid"
    )
    with connect(path, create=False) as conn:
        rows = _reading(path, lambda: conn.execute(sql, params).fetchall())
    by_symbol: dict[str, tuple[str, list[Point]]] = {}
    for run, when, symbol, isin, status, onchain, onchain_read, custody, as_of in rows:
        entry = by_symbol.setdefault(symbol, (isin, []))
        entry[1].append(
            Point(
                run=run,
                time=unstamp(when),
                status=status,
                onchain=_dec(onchain),
                onchain_read=_dec(onchain_read),
                custody=_dec(custody),
                custody_as_of=None if as_of is None else unstamp(as_of),
            )
        )
    return [Series(s, isin, tuple(points)) for s, (isin, points) in by_symbol.items()]


def chart_points(
    db_path: str | Path, symbols: Sequence[str] = ()
) -> dict[str, list[tuple[datetime, Decimal | None, Decimal | None]]]:
    """Each token's (time, on-chain, custody) per run, oldest first: the shape the HTML
    report's chart takes (`report.html.History`). None is unknown."""
    return {
        s.symbol: [(p.time, p.onchain, p.custody) for p in s.points] for s in load(db_path, symbols)
    }


def _moved(
    kind: str, earlier: Decimal, later: Decimal, limit: Tolerance, since: datetime
) -> Flag | None:
    """A flag when |later - earlier| is more than the tolerance of the earlier value."""
    change = sub(later, earlier)
    allowed = limit.for_onchain(earlier)
    if abs(change) > allowed:
        return Flag(kind, change, allowed, earlier, since)
    return None


def flag(series: Series, drift: Tolerance | None, jump: Tolerance | None) -> Series:
    """The series with its points' flags:

    - `jump`: the on-chain supply moved by more than `jump` since the previous run in which
      it was known (a run where a deployment could not be read has no supply and is passed
      over);
    - `drift`: the on-chain supply moved by more than `drift` since the custody as-of, i.e.
      compared with the supply recorded by the newest run at or before that as-of (the
      oldest as-of among the statements summed). No such run: no drift flag.

    Both compare with the earlier value: `units`, or `bps` of the earlier supply, whichever
    is larger (amounts.Tolerance); exactly at the limit is not flagged.
    """
    points = series.points
    out: list[Point] = []
    previous: Point | None = None
    # the points whose supply is known, and their times (sorted: points are in time order)
    known: list[Point] = []
    known_times: list[datetime] = []
    for p in points:
        flags: list[Flag] = []
        if p.onchain is not None:
            known.append(p)
            known_times.append(p.time)
            if drift is not None and p.custody_as_of is not None:
                # the newest known point at or before the as-of, among those up to this one
                i = bisect_right(known_times, p.custody_as_of) - 1
                if i >= 0:
                    ref = known[i]
                    assert ref.onchain is not None
                    f = _moved("drift", ref.onchain, p.onchain, drift, ref.time)
                    if f:
                        flags.append(f)
            if jump is not None and previous is not None and previous.onchain is not None:
                f = _moved("jump", previous.onchain, p.onchain, jump, previous.time)
                if f:
                    flags.append(f)
            previous = p
        out.append(replace(p, flags=tuple(flags)) if flags else p)
    return Series(series.symbol, series.isin, tuple(out))


def runs_count(db_path: str | Path) -> int:
    path = Path(db_path)
    with connect(path, create=False) as conn:
        row = _reading(path, lambda: conn.execute("SELECT COUNT(*) FROM runs").fetchone())
    return int(row[0])


def schema_version(db_path: str | Path) -> int:
    """The file's `user_version` as it is, without migrating it (for tests and support)."""
    conn = sqlite3.connect(Path(db_path), timeout=BUSY_TIMEOUT_S)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
