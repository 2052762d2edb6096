"""Browser tests: Debian's Chromium driven by Playwright for Python against a real
`ventros run` (embedded PostgreSQL and Temporal, the demo with its WAHA simulator).

No browser is ever downloaded: without /usr/bin/chromium the tests skip, loudly, unless
VENTROS_REQUIRE_SERVICES=1 (CI), where they fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("VENTROS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
AXE = Path(__file__).parent / "assets" / "axe-4.14.1.min.js"
EXPECT_TIMEOUT_MS = 15_000


def _require_chromium() -> None:
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return
    message = f"browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("VENTROS_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    warnings.warn(f"SKIPPING BROWSER TESTS: {message}", stacklevel=2)
    sys.stderr.write(f"\n*** SKIPPING BROWSER TESTS: {message} ***\n")
    pytest.skip(message)


@dataclass
class Demo:
    base_url: str
    sim_url: str
    logins: dict[str, tuple[str, str]]  # role or "admin" -> (email, password)

    def say(self, text: str) -> None:
        """The demo customer writes in through the WAHA simulator."""
        said = subprocess.run(
            [sys.executable, "-m", "ventros.cli", "waha-sim", "say", "--sim-url", self.sim_url,
             text],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert said.returncode == 0, said.stdout + said.stderr


@pytest.fixture(scope="module")
def demo_settings() -> dict[str, str]:
    """VENTROS_* settings for this module's `ventros run`, which otherwise sees none of the
    caller's: a module overrides this fixture to give it one (the ads stand-in's URL)."""
    return {}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_settings: dict[str, str]) -> Iterator[Demo]:
    _require_chromium()
    from tests.e2e.test_run import Ventros
    from ventros.platform.embedded.postgres import free_port
    from ventros.stand_ins.demo_team import DEMO_USERS

    home = tmp_path_factory.mktemp("web") / "home"
    run = Ventros("run", home, free_port(), settings=demo_settings)
    try:
        run.wait_healthy()
        email, password = run.line_starting("Demo login:").removeprefix("Demo login:").split()
        sim_url = run.line_starting("Demo WhatsApp:").rsplit(" ", 1)[-1]
        logins = {"admin": (email, password)}
        for user in DEMO_USERS:
            logins.setdefault(user.role.value, (user.email, user.password))
            logins[user.email] = (user.email, user.password)
        yield Demo(run.base_url, sim_url, logins)
    finally:
        run.kill()


@pytest.fixture(scope="module")
def browser(demo: Demo) -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright

    # A check passes as soon as the page shows what it waits for; the longer limit only
    # spares a busy machine (CI runs the whole suite on two cores) a false failure.
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
