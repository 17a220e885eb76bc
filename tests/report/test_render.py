"""The report rendered by a real browser (headless Chromium) to a PNG, kept as an
artifact under test-artifacts/ for a person to look at."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from engine.report import build_report
from tests.conftest import Backend
from tests.report.conftest import FinishedStudy

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def screenshot(chromium: str, page: Path, png: Path, profile: Path) -> None:
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
         f"--screenshot={png}", "--window-size=1200,3000", page.as_uri()],
        check=True, capture_output=True, timeout=120)


async def test_report_renders_in_headless_chromium(
    finished: FinishedStudy, backend: Backend, chromium: str, tmp_path: Path
) -> None:
    if backend.name != "sqlite":
        pytest.skip("the rendering does not depend on the database; SQLite run only")
    async with finished.store.transaction() as session:
        report = await build_report(session, finished.study_id, finished.clock.now())
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / "report.html"
    page.write_text(report.html, encoding="utf-8")
    png = ARTIFACTS / "report-screenshot.png"
    png.unlink(missing_ok=True)
    screenshot(chromium, page, png, tmp_path / "profile")
    pixels = mpimg.imread(str(png))
    assert pixels.shape[0] == 3000 and pixels.shape[1] == 1200
    colours = np.unique(pixels[..., :3].reshape(-1, 3), axis=0)
    assert len(colours) > 50  # text, tables and charts, not a blank page
    dark = (pixels[..., :3].mean(axis=2) < 0.5).mean()
    assert 0.005 < dark < 0.5  # some ink on a light page
