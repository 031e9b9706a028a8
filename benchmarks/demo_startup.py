"""How long `xstock-audit demo` takes from process start to exit (target: under 15 s).

    python benchmarks/demo_startup.py [RUNS]

Runs the installed command RUNS times (default 3) and prints each wall time, then the
minimum, median and maximum. The demo starts py-evm and LiteSVM nodes, seeds the portfolio
with real transactions, and runs the whole audit over JSON-RPC.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 15.0


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    cli = str(Path(sys.executable).with_name("xstock-audit"))
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run([cli, "demo", "--format", "json"], capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if p.returncode != 0:
            print(p.stderr, file=sys.stderr)
            print(f"run {i + 1}: demo exited {p.returncode}", file=sys.stderr)
            return 1
        times.append(elapsed)
        print(f"run {i + 1}: {elapsed:.2f} s")
    med = statistics.median(times)
    verdict = "met" if max(times) < TARGET_S else "MISSED"
    print(
        f"xstock-audit demo: min {min(times):.2f} s, median {med:.2f} s, max {max(times):.2f} s "
        f"over {runs} runs (target < {TARGET_S:.0f} s: {verdict})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
