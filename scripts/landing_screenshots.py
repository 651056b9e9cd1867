"""Screenshots of a landing page in headless Chromium (and the browser set-up the tests share).

    python scripts/landing_screenshots.py PAGE.html OUT_DIR

writes ``OUT_DIR/landing-page-375.png`` and ``OUT_DIR/landing-page-1280.png`` (full page).
``scripts/regen_examples.py`` calls it for the seed's page. It needs Debian's ``chromium``
and ``chromium-driver`` (``apt-get install -y chromium chromium-driver``) and ``selenium``
(dev extra); nothing is downloaded: Selenium is pointed at the system binaries.
"""

from __future__ import annotations

import base64
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Headless and quiet: no GPU, no first-run UI and no background traffic (updates, sync, QUIC),
# so a run is offline and leaves nothing behind but its throwaway profile.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")
WIDTHS = (375, 1280)


def chromium_missing() -> str:
    """Why the browser cannot run here (empty when it can)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return "not installed: " + ", ".join(missing) + (
            " (apt-get install -y chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return ""


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium WebDriver with a fresh profile, quit and cleaned up on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def set_viewport(driver: Any, width: int, height: int = 900) -> None:
    """Emulate a viewport of exactly ``width`` CSS pixels (a phone below 500 px)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})


def full_page_png(driver: Any, width: int) -> bytes:
    """A PNG of the whole page at ``width`` (the viewport grown to the document's height)."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    set_viewport(driver, width, height)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    return base64.b64decode(shot["data"])


def capture(page: Path, out_dir: Path, widths: tuple[int, ...] = WIDTHS,
            query: str = "") -> list[Path]:
    """Write ``landing-page-<width>.png`` for each width into ``out_dir``; return the paths.

    ``query`` (such as ``?ref=CODE``) is added to the page's URL, as a tracking link would.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with chromium() as driver:
        for width in widths:
            set_viewport(driver, width)
            driver.get(page.resolve().as_uri() + query)
            path = out_dir / f"landing-page-{width}.png"
            path.write_bytes(full_page_png(driver, width))
            written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if why := chromium_missing():
        print(f"cannot take screenshots: {why}", file=sys.stderr)
        return 1
    for path in capture(Path(argv[0]), Path(argv[1])):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
