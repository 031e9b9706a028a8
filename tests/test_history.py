"""The run history (`history.record`, the questions `--notify` asks, the migration from v1)
and `xstock-audit history` (table, JSON, --plot), on `AuditResult`s built by hand.

Every figure asserted is one put into a fixture here, or follows from it by the documented
rule worked out by hand in a comment: a flag when |later - earlier| is more than the larger of
`units` and `bps` of the earlier supply; a sparkline level round((v - lo) * 7 / (hi - lo)).
In process; the SQLite files live in tmp_path. Threads for the overlapping writers (pure);
two processes writing at once are `slow`.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from xstock_audit import history
from xstock_audit.amounts import Tolerance
from xstock_audit.chains import ChainRead, DeploymentSupply, Pin
from xstock_audit.cli import app
from xstock_audit.errors import InputError
from xstock_audit.history import Point, Series
from xstock_audit.policy import decide
from xstock_audit.reconcile import (
    AttestationUsed,
    AuditResult,
    DeploymentResult,
    Status,
    TokenResult,
)

TSLA = "US88160R1014"
NVDA = "US67066G1040"
TSLA_EVM = "0x8ad3c73f833d3f9a523ab01476625f269aeb7cf0"
NVDA_EVM = "0x0D1A000000000000000000000000000000000003"


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def tok(
    symbol: str,
    status: Status,
    onchain: str | None,
    custody: str | None,
    as_of: datetime | None,
    *,
    onchain_read: str | None = None,
) -> TokenResult:
    isin = TSLA if symbol == "TSLAx" else NVDA
    address = TSLA_EVM if symbol == "TSLAx" else NVDA_EVM
    circ = None if onchain is None else Decimal(onchain)
    supply = DeploymentSupply(
        "ethereum",
        address,
        decimals=18,
        total_supply=None if circ is None else circ + 7,
        excluded=None if circ is None else Decimal(7),
        circulating=circ,
        error="execution reverted" if circ is None else None,
    )
    attestations = ()
    if custody is not None and as_of is not None:
        attestations = (
            AttestationUsed(
                "acme.json", "SAFE-1", as_of, Decimal(custody), stale=False, custodian="acme"
            ),
        )
    read = onchain if onchain is not None else onchain_read
    return TokenResult(
        symbol=symbol,
        isin=isin,
        status=status,
        onchain=circ,
        custody=None if custody is None else Decimal(custody),
        difference=None if circ is None or custody is None else Decimal(custody) - circ,
        tolerance=Decimal("0.000001"),
        deployments=(DeploymentResult(supply, Decimal(1), circ),),
        attestations=attestations,
        onchain_read=None if read is None else Decimal(read),
    )


def audit(when: datetime, *tokens: TokenResult, block: int = 100) -> AuditResult:
    pin = Pin("ethereum", "evm", block, when - timedelta(seconds=12), "https://eth.example/…")
    gate = decide((t.symbol, t.status.value) for t in tokens)
    return AuditResult(
        generated_at=when,
        chains={"ethereum": ChainRead("ethereum", pin, {})},
        tokens=tokens,
        summary={s: sum(t.status is s for t in tokens) for s in Status},
        gate=gate,
    )


B, U, E = Status.BACKED, Status.UNDER, Status.ERROR

# Six daily runs. TSLAx: flat, +5 (drift exactly at 0.5% of 1000: not flagged), +55 (drift and
# jump), not read, +0.5. NVDAx: +10 (jump exactly at its 10 units: not flagged; drift), then
# +10.000001 (jump and drift).
RUNS = [
    audit(at(1), tok("TSLAx", B, "1000", "1000", at(1) - timedelta(hours=12)),
          tok("NVDAx", B, "100", "100", at(1) - timedelta(hours=12)), block=101),
    audit(at(2), tok("TSLAx", B, "1000", "1000", at(1, 12)),
          tok("NVDAx", B, "110", "110", at(1, 12)), block=102),
    audit(at(3), tok("TSLAx", U, "1005", "1000", at(1, 12)),
          tok("NVDAx", B, "120.000001", "120.000001", at(2, 12)), block=103),
    audit(at(4), tok("TSLAx", B, "1060", "1060", at(3, 12)), block=104),
    audit(at(5), tok("TSLAx", E, None, "1060", at(4, 12), onchain_read="1000"), block=105),
    audit(at(6), tok("TSLAx", B, "1060.5", "1060.5", at(5, 12)), block=106),
]  # fmt: skip

REGISTRY = f"""\
version: 1
chains:
  ethereum:
    type: evm
    chain_id: 1
    rpc: ["http://127.0.0.1:1"]
custodians:
  acme:
    attestations: ["att/*.json"]
    max_age: 36h
tokens:
  - symbol: TSLAx
    isin: {TSLA}
    custodian: acme
    deployments:
      - chain: ethereum
        address: "{TSLA_EVM}"
policy:
  drift: "0.5%"
  jump: {{units: "10", bps: 500}}
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "history.db"
    for r in RUNS:
        history.record(path, r, "registry.yaml")
    return path


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "xstock-audit.yaml"
    path.write_text(REGISTRY)
    return path


def raw(path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


# ---------------------------------------------------------------------- record


def test_record_stores_the_figures_as_decimal_strings(db: Path) -> None:
    runs = raw(db, "SELECT id, time, registry, exit_code, gate_passed, gate_failed FROM runs")
    assert [r[1] for r in runs] == [f"2026-03-0{d}T00:00:00.000000Z" for d in range(1, 7)]
    assert {r[2] for r in runs} == {"registry.yaml"}
    # run 3: TSLAx UNDER -> exit 1, gate failed on it; run 5: TSLAx ERROR -> exit 3
    assert [(r[3], r[4], json.loads(str(r[5]))) for r in runs] == [
        (0, 1, []), (0, 1, []), (1, 0, ["TSLAx"]), (0, 1, []), (3, 0, ["TSLAx"]), (0, 1, []),
    ]  # fmt: skip
    tokens = raw(
        db,
        "SELECT symbol, status, onchain, typeof(onchain), onchain_read, custody, difference, "
        "tolerance FROM tokens WHERE run_id = ? ORDER BY rowid",
        runs[2][0],
    )
    assert tokens == [
        ("TSLAx", "UNDER", "1005", "text", "1005", "1000", "-5", "0.000001"),
        ("NVDAx", "BACKED", "120.000001", "text", "120.000001", "120.000001", "0.000000",
         "0.000001"),
    ]  # fmt: skip
    # the unread run: onchain unknown (NULL, never "0"), the lower bound kept
    assert raw(db, "SELECT onchain, onchain_read, difference FROM tokens WHERE run_id = ?",
               runs[4][0]) == [(None, "1000", None)]  # fmt: skip
    deps = raw(
        db,
        "SELECT symbol, chain, address, total_supply, excluded, multiplier, circulating, error, "
        "pin_unit, pin_number, pin_time FROM deployments WHERE run_id = ? ORDER BY rowid",
        runs[3][0],
    )
    assert deps == [
        ("TSLAx", "ethereum", TSLA_EVM, "1067", "7", "1", "1060", None, "block", 104,
         "2026-03-03T23:59:48.000000Z"),
    ]  # fmt: skip
    assert raw(db, "SELECT error, circulating FROM deployments WHERE run_id = ?", runs[4][0]) == [
        ("execution reverted", None)
    ]
    assert raw(
        db, "SELECT symbol, custodian, account, as_of, quantity FROM attestations WHERE run_id = ? "
        "ORDER BY rowid",
        runs[1][0],
    ) == [
        ("TSLAx", "acme", "SAFE-1", "2026-03-01T12:00:00.000000Z", "1000"),
        ("NVDAx", "acme", "SAFE-1", "2026-03-01T12:00:00.000000Z", "110"),
    ]  # fmt: skip
    assert raw(db, "SELECT COUNT(*) FROM deployments WHERE typeof(total_supply) = 'real'") == [(0,)]


def test_the_file_is_versioned_in_wal_mode(db: Path) -> None:
    assert history.schema_version(db) == history.SCHEMA_VERSION == 2
    assert raw(db, "PRAGMA journal_mode") == [("wal",)]
    assert raw(db, "PRAGMA application_id") == [(history.APPLICATION_ID,)]


def test_amounts_keep_their_places_and_every_digit(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    big = "115792089237316195423570985008687907853269.984665640564039457584007913129639935"
    history.record(path, audit(at(1), tok("TSLAx", B, big, "1523.000000", at(1))), "r.yaml")
    [series] = history.load(path)
    [p] = series.points
    assert str(p.onchain) == big and str(p.custody) == "1523.000000"


def test_chart_points(db: Path) -> None:
    points = history.chart_points(db, ["TSLAx"])
    assert list(points) == ["TSLAx"]
    assert points["TSLAx"][3:5] == [
        (at(4), Decimal(1060), Decimal(1060)),
        (at(5), None, Decimal(1060)),
    ]


def test_previous_statuses_and_last_success(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    assert history.previous_statuses(path) == {}  # no file yet: no previous run
    assert history.last_success_time(path) is None
    assert not path.exists()  # asking did not create it
    first = history.record(path, RUNS[1], "r.yaml")  # both BACKED, passed
    second = history.record(path, RUNS[2], "r.yaml")  # TSLAx UNDER, failed
    assert history.previous_statuses(path) == {"TSLAx": "UNDER", "NVDAx": "BACKED"}
    assert history.previous_statuses(path, before=second) == {
        "TSLAx": "BACKED",
        "NVDAx": "BACKED",
    }
    assert history.previous_statuses(path, before=first) == {}
    assert history.last_success_time(path) == at(2)
    # a run recorded late but dated earlier (two runs overlapping) does not become "the last"
    late = history.record(path, RUNS[0], "r.yaml")
    assert history.previous_statuses(path) == {"TSLAx": "UNDER", "NVDAx": "BACKED"}
    assert history.previous_statuses(path, before=late) == {}
    assert history.last_success_time(path) == at(2)


def test_last_success_is_the_gate_not_the_statuses(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    under = audit(at(3), tok("TSLAx", U, "1005", "1000", at(3)))
    ignored = AuditResult(
        generated_at=at(4),
        chains={},
        tokens=under.tokens,
        gate=decide([("TSLAx", "UNDER")], ignores=[_ignore("TSLAx")]),
    )
    history.record(path, under, "r.yaml")
    history.record(path, ignored, "r.yaml")
    assert history.last_success_time(path) == at(4)
    [(passed, ignored_json)] = raw(path, "SELECT gate_passed, gate_ignored FROM runs WHERE id = 2")
    assert passed == 1
    assert json.loads(str(ignored_json)) == [
        {"symbol": "TSLAx", "reason": "ticket OPS-42", "until": None, "source": "registry"}
    ]


def _ignore(symbol: str):  # type: ignore[no-untyped-def]
    from xstock_audit.policy import Ignore

    return Ignore(symbol, "ticket OPS-42")


# ---------------------------------------------------------------------- flags


def series(*points: tuple[datetime, str | None, datetime | None]) -> Series:
    return Series(
        "TSLAx",
        TSLA,
        tuple(
            Point(
                run=n,
                time=t,
                status="BACKED",
                onchain=None if v is None else Decimal(v),
                onchain_read=None,
                custody=Decimal(1),
                custody_as_of=as_of,
            )
            for n, (t, v, as_of) in enumerate(points, 1)
        ),
    )


def kinds(s: Series) -> list[list[str]]:
    return [[f.kind for f in p.flags] for p in s.points]


@pytest.mark.parametrize(
    ("limit", "later", "flagged"),
    [
        (Tolerance(units=Decimal(10)), "110", False),  # exactly 10: not more than
        (Tolerance(units=Decimal(10)), "110.000001", True),
        (Tolerance(units=Decimal(10)), "90", False),
        (Tolerance(units=Decimal(10)), "89.999999", True),  # down counts too
        (Tolerance(bps=Decimal(500)), "105", False),  # 5% of 100
        (Tolerance(bps=Decimal(500)), "105.000000000000000001", True),
        (Tolerance(units=Decimal(6), bps=Decimal(500)), "106", False),  # the larger: 6
        (Tolerance(units=Decimal(6), bps=Decimal(500)), "106.01", True),
    ],
)
def test_jump_boundary(limit: Tolerance, later: str, flagged: bool) -> None:
    s = history.flag(series((at(1), "100", None), (at(2), later, None)), None, limit)
    assert kinds(s) == [[], ["jump"] if flagged else []]


def test_jump_is_measured_on_the_earlier_value() -> None:
    # 1000 -> 1052: 52 is more than 5% of 1000 (50), though not of 1052 (52.6)
    up = history.flag(series((at(1), "1000", None), (at(2), "1052", None)), None,
                      Tolerance(bps=Decimal(500)))  # fmt: skip
    assert kinds(up) == [[], ["jump"]]
    [flag] = up.points[1].flags
    assert (flag.change, flag.limit, flag.reference, flag.since) == (
        Decimal(52),
        Decimal(50),
        Decimal(1000),
        at(1),
    )
    # 1052 -> 1000: -52, less than 5% of 1052
    down = history.flag(series((at(1), "1052", None), (at(2), "1000", None)), None,
                        Tolerance(bps=Decimal(500)))  # fmt: skip
    assert kinds(down) == [[], []]


def test_jump_passes_over_a_run_whose_supply_is_unknown() -> None:
    s = history.flag(
        series((at(1), "100", None), (at(2), None, None), (at(3), "120", None)),
        None,
        Tolerance(units=Decimal(10)),
    )
    assert kinds(s) == [[], [], ["jump"]]
    assert s.points[2].flags[0].since == at(1)


def test_drift_compares_with_the_run_at_or_before_the_custody_as_of() -> None:
    drift = Tolerance(units=Decimal(50))
    # as-of between run 1 (100) and run 2 (200): run 3 (300) is compared with run 1 (+200)
    s = history.flag(
        series((at(1), "100", None), (at(2), "200", None), (at(3), "300", at(1, 6))), drift, None
    )
    [flag] = s.points[2].flags
    assert (flag.kind, flag.change, flag.reference, flag.since) == (
        "drift", Decimal(200), Decimal(100), at(1)
    )  # fmt: skip
    # as-of exactly at run 2: run 2 is the reference (+100)
    s = history.flag(
        series((at(1), "100", None), (at(2), "200", None), (at(3), "300", at(2))), drift, None
    )
    assert s.points[2].flags[0].reference == Decimal(200)
    # as-of exactly at run 2, which moved by exactly 50 since: not flagged
    s = history.flag(
        series((at(1), "100", None), (at(2), "200", None), (at(3), "250", at(2))), drift, None
    )
    assert kinds(s) == [[], [], []]
    # as-of before every run: nothing to compare with
    s = history.flag(series((at(2), "100", None), (at(3), "900", at(1))), drift, None)
    assert kinds(s) == [[], []]


def test_drift_boundary_in_bps() -> None:
    drift = Tolerance(bps=Decimal(50))  # 0.5% of the earlier 1000: 5
    s = history.flag(
        series((at(1), "1000", None), (at(2), "1005", at(1)), (at(3), "1005.000001", at(1))),
        drift,
        None,
    )
    assert kinds(s) == [[], [], ["drift"]]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 6),  # hours after day 1 (ties allowed)
            st.one_of(st.none(), st.integers(90, 110)),  # supply, or not read
            st.one_of(st.none(), st.integers(-1, 7)),  # custody as-of, hours after day 1
        ),
        max_size=12,
    ),
    st.integers(0, 12),
    st.integers(0, 12),
)
def test_flags_match_their_definition(
    rows: list[tuple[int, int | None, int | None]], drift_units: int, jump_units: int
) -> None:
    """Against the definition written out plainly: drift compares with the newest earlier-
    or-same point (in order) dated at or before the as-of whose supply is known; jump with
    the previous point whose supply is known; flagged when strictly more than the units."""
    rows = sorted(rows, key=lambda r: r[0])  # the history gives points in time order
    pts = [
        (at(1) + timedelta(hours=h), v, None if a is None else at(1) + timedelta(hours=a))
        for h, v, a in rows
    ]
    s = history.flag(
        series(*((t, None if v is None else str(v), a) for t, v, a in pts)),
        Tolerance(units=Decimal(drift_units)),
        Tolerance(units=Decimal(jump_units)),
    )
    for n, (_, v, as_of) in enumerate(pts):
        want = []
        if v is not None:
            if as_of is not None:
                refs = [w for u, w, _ in pts[: n + 1] if w is not None and u <= as_of]
                if refs and abs(v - refs[-1]) > drift_units:
                    want.append("drift")
            earlier = [w for _, w, _ in pts[:n] if w is not None]
            if earlier and abs(v - earlier[-1]) > jump_units:
                want.append("jump")
        assert [f.kind for f in s.points[n].flags] == want


def test_no_policy_no_flags(db: Path) -> None:
    assert all(not p.flags for s in history.load(db) for p in history.flag(s, None, None).points)


# ---------------------------------------------------------------------- writers at once


def test_two_writers_at_once_both_land(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    ids: list[int] = []

    def writer(offset: int) -> None:
        try:
            start.wait()
            for n in range(25):
                when = at(1) + timedelta(minutes=2 * n + offset)
                ids.append(history.record(path, audit(when, *RUNS[1].tokens), "r.yaml"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(ids)) == 50
    assert raw(path, "SELECT COUNT(*) FROM runs") == [(50,)]
    assert raw(path, "SELECT COUNT(*) FROM tokens") == [(100,)]
    assert raw(path, "SELECT COUNT(*) FROM attestations") == [(100,)]


@pytest.mark.slow  # it waits for a lock held on purpose
def test_a_writer_waits_for_the_other_ones_transaction(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    history.record(path, RUNS[0], "r.yaml")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute(
        "INSERT INTO runs (time, registry, exit_code, gate_passed, gate_fail_on, gate_failed, "
        "gate_ignored) VALUES ('2026-03-09T00:00:00.000000Z', 'other', 0, 1, '[]', '[]', '[]')"
    )
    done: list[int] = []
    writer = threading.Thread(target=lambda: done.append(history.record(path, RUNS[1], "r")))
    writer.start()
    time.sleep(0.5)
    assert done == []  # waiting for the lock, not failed
    holder.execute("COMMIT")
    holder.close()
    writer.join(timeout=history.BUSY_TIMEOUT_S)
    assert len(done) == 1
    assert raw(path, "SELECT registry FROM runs ORDER BY id") == [("r.yaml",), ("other",), ("r",)]


def _process_writer(path: str, offset: int, n: int) -> None:
    for k in range(n):
        when = at(1) + timedelta(minutes=2 * k + offset)
        history.record(path, audit(when, *RUNS[1].tokens), f"writer-{offset}")


@pytest.mark.slow  # two processes
def test_two_processes_writing_at_once_both_land(tmp_path: Path) -> None:
    path = str(tmp_path / "h.db")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(path, k, 20)) for k in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert raw(Path(path), "SELECT registry, COUNT(*) FROM runs GROUP BY registry") == [
        ("writer-0", 20),
        ("writer-1", 20),
    ]


# ---------------------------------------------------------------------- versions


#: the schema as xstock-audit wrote it at version 1 (no tokens.onchain_read, no indexes)
V1_SCHEMA = """
CREATE TABLE runs (id INTEGER PRIMARY KEY, time TEXT NOT NULL, registry TEXT NOT NULL,
    exit_code INTEGER NOT NULL, gate_passed INTEGER NOT NULL, gate_fail_on TEXT NOT NULL,
    gate_failed TEXT NOT NULL, gate_ignored TEXT NOT NULL);
CREATE TABLE tokens (run_id INTEGER NOT NULL REFERENCES runs(id), symbol TEXT NOT NULL,
    isin TEXT NOT NULL, status TEXT NOT NULL, onchain TEXT, custody TEXT, difference TEXT,
    tolerance TEXT NOT NULL, PRIMARY KEY (run_id, symbol));
CREATE TABLE deployments (run_id INTEGER NOT NULL REFERENCES runs(id), symbol TEXT NOT NULL,
    chain TEXT NOT NULL, address TEXT NOT NULL, total_supply TEXT, excluded TEXT,
    multiplier TEXT, circulating TEXT, error TEXT, pin_unit TEXT, pin_number INTEGER,
    pin_time TEXT);
CREATE TABLE attestations (run_id INTEGER NOT NULL REFERENCES runs(id), symbol TEXT NOT NULL,
    custodian TEXT NOT NULL, account TEXT NOT NULL, as_of TEXT NOT NULL,
    quantity TEXT NOT NULL);
PRAGMA application_id = 2018722120;
PRAGMA user_version = 1;
INSERT INTO runs VALUES (1, '2026-03-01T00:00:00.000000Z', 'old.yaml', 0, 1,
    '["UNDER","STALE","UNVERIFIED","ERROR"]', '[]', '[]');
INSERT INTO runs VALUES (2, '2026-03-02T00:00:00.000000Z', 'old.yaml', 3, 0,
    '["UNDER","STALE","UNVERIFIED","ERROR"]', '["TSLAx"]', '[]');
INSERT INTO tokens VALUES (1, 'TSLAx', 'US88160R1014', 'BACKED', '1523.000000', '1523.000000',
    '0.000000', '0.000001');
INSERT INTO tokens VALUES (2, 'TSLAx', 'US88160R1014', 'ERROR', NULL, '1523.000000', NULL,
    '0');
INSERT INTO deployments VALUES (1, 'TSLAx', 'ethereum', '0x8ad3', '1530.000000', '7.000000',
    '1', '1523.000000', NULL, 'block', 101, '2026-02-28T23:59:48.000000Z');
INSERT INTO attestations VALUES (1, 'TSLAx', 'acme', 'SAFE-1', '2026-02-28T12:00:00.000000Z',
    '1523.000000');
"""


def write_v1(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.commit()
    conn.close()


def test_a_v1_file_is_migrated_in_place_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    write_v1(path)
    assert history.APPLICATION_ID == 2018722120  # the mark v1 wrote is this tool's
    assert history.schema_version(path) == 1
    assert history.previous_statuses(path) == {"TSLAx": "ERROR"}  # opening migrates
    assert history.schema_version(path) == 2
    # onchain_read filled in where v1 knew onchain (every deployment read), unknown elsewhere
    assert raw(path, "SELECT run_id, onchain, onchain_read, custody FROM tokens ORDER BY 1") == [
        (1, "1523.000000", "1523.000000", "1523.000000"),
        (2, None, None, "1523.000000"),
    ]
    assert raw(path, "SELECT * FROM deployments") == [
        (1, "TSLAx", "ethereum", "0x8ad3", "1530.000000", "7.000000", "1", "1523.000000", None,
         "block", 101, "2026-02-28T23:59:48.000000Z"),
    ]  # fmt: skip
    assert raw(path, "SELECT registry, gate_failed FROM runs ORDER BY id") == [
        ("old.yaml", "[]"),
        ("old.yaml", '["TSLAx"]'),
    ]
    # and it goes on: a new run lands after the old ones
    new = history.record(path, RUNS[5], "new.yaml")
    assert new == 3
    assert history.previous_statuses(path, before=new) == {"TSLAx": "ERROR"}
    [tsla] = history.load(path, ["TSLAx"])
    assert [p.onchain for p in tsla.points] == [Decimal("1523.000000"), None, Decimal("1060.5")]
    assert raw(path, "PRAGMA journal_mode") == [("wal",)]


def test_a_failed_migration_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    write_v1(path)
    broken = (*history.MIGRATIONS, ("ALTER TABLE runs ADD COLUMN note TEXT", "SELECT nonsense("))
    monkeypatch.setattr(history, "MIGRATIONS", broken)
    monkeypatch.setattr(history, "SCHEMA_VERSION", len(broken))
    with pytest.raises(InputError) as info:
        history.previous_statuses(path)
    assert str(path) in info.value.render()
    assert history.schema_version(path) == 1  # not 2, not 3: all steps or none
    columns = [r[1] for r in raw(path, "PRAGMA table_info(tokens)")]
    assert "onchain_read" not in columns
    assert raw(path, "SELECT COUNT(*) FROM tokens") == [(2,)]


def test_a_newer_file_is_refused(db: Path) -> None:
    raw(db, f"PRAGMA user_version = {history.SCHEMA_VERSION + 1}")
    with pytest.raises(InputError) as info:
        history.record(db, RUNS[0], "r.yaml")
    text = info.value.render()
    assert text.startswith(f"{db}: ") and "newer" in text and "version 3" in text
    with pytest.raises(InputError):
        history.previous_statuses(db)
    assert raw(db, "SELECT COUNT(*) FROM runs") == [(6,)]  # nothing written


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"runs,tokens\n1,TSLAx\n" * 40, "not an SQLite database"),
        (b"SQLite format 3\x00" + b"\xff" * 2000, "not an SQLite database"),
    ],
)
def test_a_corrupt_file_is_an_input_error(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "corrupt.db"
    path.write_bytes(content)
    for call in (
        lambda: history.record(path, RUNS[0], "r.yaml"),
        lambda: history.previous_statuses(path),
        lambda: history.load(path),
    ):
        with pytest.raises(InputError) as info:
            call()
        assert info.value.file == str(path) and problem in info.value.message
    assert path.read_bytes() == content


def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    raw(path, "CREATE TABLE customers (id INTEGER)")
    with pytest.raises(InputError) as info:
        history.record(path, RUNS[0], "r.yaml")
    assert info.value.file == str(path) and "not an xstock-audit history" in info.value.message
    assert raw(path, "SELECT name FROM sqlite_master") == [("customers",)]


def test_paths_that_cannot_hold_a_history(tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    for path, words in (
        (folder, "is a directory"),
        (tmp_path / "missing" / "h.db", "does not exist"),
        (a_file / "h.db", "is not a folder"),
    ):
        with pytest.raises(InputError) as info:
            history.record(path, RUNS[0], "r.yaml")
        assert info.value.file == str(path) and words in info.value.render()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc (Linux)")
def test_an_unwritable_folder(tmp_path: Path) -> None:
    path = Path("/proc/xstock-audit-history.db")  # not writable, even by root
    with pytest.raises(InputError) as info:
        history.record(path, RUNS[0], "r.yaml")
    assert info.value.file == str(path)


# ---------------------------------------------------------------------- the command


def cli(*args: object, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(
        app, ["history", *map(str, args)], env={"NO_COLOR": "1", **(env or {})}
    )


def test_history_json(db: Path, registry: Path) -> None:
    r = cli("--db", db, "--registry", registry, "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == "xstock-audit/history/v1"
    assert doc["policy"] == {
        "drift": {"units": "0", "bps": "50.0"},
        "jump": {"units": "10", "bps": "500"},
    }
    tsla, nvda = doc["tokens"]
    assert (tsla["symbol"], tsla["isin"], nvda["symbol"]) == ("TSLAx", TSLA, "NVDAx")
    assert [p["time"] for p in tsla["points"]] == [f"2026-03-0{d}T00:00:00Z" for d in range(1, 7)]
    assert [p["onchain"] for p in tsla["points"]] == ["1000", "1000", "1005", "1060", None,
                                                      "1060.5"]  # fmt: skip
    assert [p["custody"] for p in tsla["points"]] == ["1000", "1000", "1000", "1060", "1060",
                                                      "1060.5"]  # fmt: skip
    assert [p["status"] for p in tsla["points"]] == ["BACKED", "BACKED", "UNDER", "BACKED",
                                                     "ERROR", "BACKED"]  # fmt: skip
    assert tsla["points"][4]["onchain_read"] == "1000"
    flags = [[f["kind"] for f in p["flags"]] for p in tsla["points"]]
    # run 3: +5 since run 1 (the as-of 03-01 12:00 follows run 1), 0.5% of 1000 = 5: no drift;
    # run 4: +55 since run 3 (as-of 03-03 12:00): drift (limit 5.025) and jump (50.25);
    # run 6: as-of 03-05 12:00 -> run 5 unread -> run 4 (1060): +0.5 < 5.3; jump vs run 4
    assert flags == [[], [], [], ["drift", "jump"], [], []]
    drift, jump = tsla["points"][3]["flags"]
    assert {k: Decimal(v) for k, v in drift.items() if k in ("change", "limit", "reference")} == {
        "change": Decimal(55), "limit": Decimal("5.025"), "reference": Decimal(1005)
    }  # fmt: skip
    assert drift["since"] == "2026-03-03T00:00:00Z"
    assert (Decimal(jump["change"]), Decimal(jump["limit"])) == (Decimal(55), Decimal("50.25"))
    assert all(isinstance(f[k], str) for f in (drift, jump) for k in ("change", "limit"))
    # NVDAx: +10 on 10 units is not a jump, but is drift (as-of 03-01 12:00 -> run 1, 0.5 of
    # 100); then +10.000001 both
    assert [[f["kind"] for f in p["flags"]] for p in nvda["points"]] == [
        [], ["drift"], ["drift", "jump"]
    ]  # fmt: skip
    assert doc["notes"] == []


def test_history_table(db: Path, registry: Path) -> None:
    r = cli("--db", db, "--registry", registry, "--symbol", "TSLAx")
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    assert "TSLAx (US88160R1014)" in out and "NVDAx" not in out
    lines = out.splitlines()
    row4 = next(line for line in lines if "2026-03-04T00:00:00Z" in line)
    # one flag a line: drift +55 on the 1005 of run 3 (0.5%: 5.025), jump +55 (5%: 50.25)
    assert "1060" in row4 and "drift +55 > 5.025 since 2026-03-03T00:00:00Z" in row4
    assert "jump +55 > 50.25 since 2026-03-03T00:00:00Z" in lines[lines.index(row4) + 1]
    row5 = next(line for line in lines if "2026-03-05T00:00:00Z" in line)
    assert "—" in row5 and "ERROR" in row5
    row3 = next(line for line in lines if "2026-03-03T00:00:00Z" in line)
    assert "1005" in row3 and "UNDER" in row3 and "drift" not in row3


def test_since_keeps_flags_that_look_further_back(db: Path, registry: Path) -> None:
    r = cli("--db", db, "-r", registry, "--since", "2026-03-04T01:00:00+01:00", "-f", "json")
    assert r.exit_code == 0, r.stderr
    tsla, nvda = json.loads(r.stdout)["tokens"]
    assert [p["time"][:10] for p in tsla["points"]] == ["2026-03-04", "2026-03-05", "2026-03-06"]
    assert [f["kind"] for f in tsla["points"][0]["flags"]] == ["drift", "jump"]
    assert nvda["points"] == []


def test_since_relative(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    now = datetime.now(UTC)
    for days in (10, 5, 1):
        history.record(path, audit(now - timedelta(days=days), *RUNS[1].tokens), "r.yaml")
    r = cli("--db", path, "--since", "7d", "-f", "json", "--symbol", "TSLAx")
    assert r.exit_code == 0, r.stderr
    assert len(json.loads(r.stdout)["tokens"][0]["points"]) == 2


def test_without_a_registry_nothing_is_flagged_and_a_note_says_so(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    monkeypatch.chdir(empty)
    r = cli("--db", db, "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["policy"] == {"drift": None, "jump": None}
    assert all(not p["flags"] for t in doc["tokens"] for p in t["points"])
    assert "no registry" in r.stderr and "nothing is flagged" in r.stderr
    assert len(doc["notes"]) == 1 and "no registry" in doc["notes"][0]


def test_the_default_registry_in_the_folder_is_used(
    db: Path, registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(registry.parent)  # holds xstock-audit.yaml
    r = cli("--db", db, "-f", "json", "-s", "NVDAx")
    assert r.exit_code == 0, r.stderr
    [nvda] = json.loads(r.stdout)["tokens"]
    assert [len(p["flags"]) for p in nvda["points"]] == [0, 1, 2]


def test_plot(db: Path, registry: Path) -> None:
    r = cli("--db", db, "-r", registry, "-s", "TSLAx", "--plot")
    assert r.exit_code == 0, r.stderr
    # shared scale 1000 (▁) .. 1060.5 (█): level round((v - 1000) * 7 / 60.5):
    # 1000 -> 0, 1005 -> 0.58 -> 1, 1060 -> 6.94 -> 7, 1060.5 -> 7; unknown: ·
    assert "on-chain  ▁▁▂█·█" in r.stdout
    assert "custody   ▁▁▁███" in r.stdout
    # coverage 100, 100, 1000/1005 = 99.50%, 100, unknown, 100 on a 99.50 .. 100 scale
    assert "coverage  ██▁█·█" in r.stdout
    assert "flags        B  " in r.stdout
    assert "from 1000 (▁) to 1060.5 (█)" in r.stdout


def test_plot_is_for_the_table(db: Path) -> None:
    r = cli("--db", db, "--plot", "--format", "json")
    assert r.exit_code == 2 and "--plot" in r.stderr and r.stdout == ""


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("missing", "no such history file"),
        ("newer", "newer"),
        ("corrupt", "not an SQLite database"),
        ("directory", "is a directory"),
    ],
)
def test_command_input_errors_exit_2(db: Path, tmp_path: Path, setup: str, words: str) -> None:
    path = {"missing": tmp_path / "none.db", "directory": tmp_path}.get(setup, db)
    if setup == "newer":
        raw(db, "PRAGMA user_version = 99")
    if setup == "corrupt":
        path = tmp_path / "corrupt.db"
        path.write_text("hello\n" * 100)
    r = cli("--db", path, "-f", "json")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr.startswith(f"error: {path}: ") and words in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_since_and_unknown_symbol(db: Path) -> None:
    r = cli("--db", db, "--since", "2026-03-04T00:00:00")
    assert r.exit_code == 2 and "zone" in r.stderr
    r = cli("--db", db, "--since", "last week")
    assert r.exit_code == 2 and "ISO 8601" in r.stderr
    r = cli("--db", db, "--symbol", "AAPLx")
    assert r.exit_code == 2 and "AAPLx" in r.stderr
