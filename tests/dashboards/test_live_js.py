"""The browser side of the live protocol (live.js), run by Node against a fake browser."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIVE_JS = ROOT / "callcentre" / "static" / "hotline" / "live.js"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_live_js_applies_snapshots_and_deltas_resyncs_gaps_and_reconnects():
    harness = Path(__file__).with_name("live_harness.js")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [shutil.which("node"), str(harness), str(LIVE_JS)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
