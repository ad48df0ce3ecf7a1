"""bin/fuzz runs schemathesis' CLI against a live instance briefly (the wiring, not depth)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from integrator.services import Services

BIN_FUZZ = Path(__file__).resolve().parents[2] / "bin" / "fuzz"


def test_bin_fuzz_passes_against_a_live_instance(
    live: str, services: Services, tmp_path: Path
) -> None:
    _device, key = services.devices.add("fuzzer-cli", ["pb"])
    env = {**os.environ, "MAX_EXAMPLES": "3", "MAX_TIME": "8", "NO_COLOR": "1"}
    result = subprocess.run(
        [str(BIN_FUZZ), live, key, "--phases", "examples,fuzzing", "--seed", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert key not in output  # schemathesis sanitises the Authorization header it prints
