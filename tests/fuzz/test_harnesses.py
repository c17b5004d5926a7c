"""A short run of each atheris harness under fuzz/ (coverage-guided, issue 8).

Each harness raises on a defect: an exception other than the documented ones, a model that
is not JSON, a broken invariant.  libFuzzer then exits non-zero and prints the input; the
run here fails with that output.  Long runs are made by hand (see fuzz/_harness.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.message.conftest import corpus_files

pytest.importorskip("atheris")

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
RUNS = {"mime": 1500, "headers": 3000, "charsets": 3000, "htmltext": 3000, "snippet": 3000}


@pytest.mark.parametrize("target", sorted(RUNS))
def test_harness_short_run(target, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    if target == "mime":  # real messages as seeds; the small ones keep the run short
        for path in sorted(corpus_files(), key=lambda p: p.stat().st_size)[:20]:
            shutil.copy(path, corpus)
    result = subprocess.run(
        [
            sys.executable,
            str(FUZZ / f"{target}.py"),
            f"-atheris_runs={RUNS[target]}",
            "-seed=8621",
            "-max_len=4096",
            "-timeout=30",  # libFuzzer's hang detector: one input stuck this long is a defect
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Uncaught Python exception" not in output, output[-4000:]
    assert "Done" in output, output[-2000:]
