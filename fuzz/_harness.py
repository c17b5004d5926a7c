"""Shared set-up of the atheris harnesses: import path, slowest-input tracking, start-up.

Run a harness by hand, one at a time (the machine is shared), for example::

    nice python fuzz/mime.py -atheris_runs=1000000 /tmp/corpus-mime /work/shared/corpus

libFuzzer options work as usual (the first corpus directory receives new inputs).  With
``FUZZ_SLOWEST_DIR`` set, each new slowest input is written there as ``<target>.bin``
and reported on stderr with its time, so a long run tells its worst case.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import atheris  # noqa: E402

WARM_UP = 200  # the first executions pay for imports and caches


def run(target: str, one_input: Callable[[bytes], None]) -> None:
    """Fuzz ``one_input`` (which raises on a defect) under the name ``target``."""
    slowest = [0.0]
    count = [0]
    out_dir = os.environ.get("FUZZ_SLOWEST_DIR")

    def timed(data: bytes) -> None:
        start = time.perf_counter()
        one_input(data)
        elapsed = time.perf_counter() - start
        count[0] += 1
        if count[0] > WARM_UP and elapsed > slowest[0]:
            slowest[0] = elapsed
            print(
                f"#{count[0]} {target}: new slowest input {len(data)} bytes, "
                f"{elapsed * 1000:.1f} ms",
                file=sys.stderr,
            )
            if out_dir:
                Path(out_dir, f"{target}.bin").write_bytes(data)

    atheris.Setup(sys.argv, timed)
    atheris.Fuzz()
