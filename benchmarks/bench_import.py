"""Import time of ``import symlip`` against ``import numpy, sympy, mpmath``, side by side.

Each is timed in fresh interpreters (best of 5), and the first use of a bound
(``symlip.input_lipschitz``) is timed too, since the public names load lazily.

    python benchmarks/bench_import.py
"""

from __future__ import annotations

import subprocess
import sys


def _best(code: str, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c",
             f"import time; t=time.perf_counter(); {code}; print(time.perf_counter()-t)"],
            capture_output=True, text=True, check=True).stdout
        best = min(best, float(out.strip().splitlines()[-1]))
    return best


def main() -> None:
    base = _best("import numpy, sympy, mpmath")
    lazy = _best("import symlip")
    first = _best("import symlip; symlip.input_lipschitz")
    print(f"{'what':<44} {'seconds':>8} {'/ base':>7}")
    for name, t in [("import numpy, sympy, mpmath (base)", base),
                    ("import symlip", lazy),
                    ("import symlip; symlip.input_lipschitz", first)]:
        print(f"{name:<44} {t:8.3f} {t / base:7.2f}")
    ok = "met" if lazy <= 1.5 * base and first <= 1.5 * base else "NOT met"
    print(f"issue #14 target (import symlip, and its first bound, <= 1.5 x base): {ok}")


if __name__ == "__main__":
    main()
