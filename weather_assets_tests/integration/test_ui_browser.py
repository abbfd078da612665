"""What a user sees in the Dagster UI, in a real browser: Debian's Chromium driven by Playwright.

`dagster dev` (webserver + daemon) starts offline on a free port with the shipped dagster.yaml and the default
offline providers. The test does what the README tells a user to do: opens the `history_job` page, clicks
"Materialize all", picks 10 days, clicks "Launch backfill". No warning may appear on the way (no "Are you
sure?" about unmaterialized upstream assets, no "Upstream data missing"), the picker offers the days the
offline recordings hold, and the backfill succeeds as one run. Then `marts/daily_site_weather` shows its
chart. First, the `validated` group's graph labels every asset in full (a node shows only its key's last
part). Screenshots of each step go to `test-output/ui/` (beside the repository's root) for a person to look at.

Chromium comes from Debian's package (`.ci/run` installs it); Playwright never downloads a browser here.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from weather_assets_tests.integration.dagster_dev import REPO, DagsterDev, days

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless in a sandboxed, closed network: no background connections, no first-run or sync services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = REPO / "test-output" / "ui"
BACKFILL = days(dt.date(2024, 3, 14), 10)  # 2024-03-14 .. 2024-03-23, inside every offline recording
# Texts of Dagster's launch warnings (dagster-ui LaunchAssetExecutionButton / LaunchAssetChoosePartitionsDialog).
WARNINGS = ("Are you sure?", "have not been materialized yet", "Upstream data missing", "cannot be materialized")


@pytest.fixture
def browser_page():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package (.ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser.new_page(viewport={"width": 1600, "height": 1000})
        finally:
            browser.close()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _dismiss_welcome(page) -> None:
    """A new browser profile first gets Dagster's "Join the Dagster community" dialog."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=5000)
    except PlaywrightTimeout:  # no dialog this time
        return
    skip.click()


def _backfills(dev: DagsterDev) -> list[dict]:
    data = dev.graphql(
        "{ partitionBackfillsOrError(limit: 10) { __typename ... on PartitionBackfills { results { id status "
        "partitionNames } } } }"
    )
    return data["partitionBackfillsOrError"]["results"]


def _group_labels(dev: DagsterDev, group: str) -> list[str]:
    data = dev.graphql("{ assetNodes { assetKey { path } groupName } }")
    return sorted(node["assetKey"]["path"][-1] for node in data["assetNodes"] if node["groupName"] == group)


def test_history_backfill_from_the_job_page_launches_without_warnings_and_the_mart_shows_its_chart(
    tmp_path, browser_page
):
    page = browser_page
    with DagsterDev.running(tmp_path) as dev:
        base = f"http://127.0.0.1:{dev.port}"
        page.set_viewport_size({"width": 1600, "height": 2400})  # the graph renders only the nodes in view
        page.goto(f"{base}/locations/weather_assets/asset-groups/validated")
        _dismiss_welcome(page)
        labels = _group_labels(dev, "validated")
        assert "open_meteo_observations" in labels and "open_meteo_forecasts" in labels, labels
        page.get_by_text("open_meteo_observations", exact=True).first.wait_for(timeout=30_000)
        page.wait_for_timeout(2000)  # the nodes' status queries settle
        _shot(page, "00_validated_group")
        shown = page.locator("body").inner_text().splitlines()
        assert [label for label in labels if label not in shown] == [], shown  # each node's label, uncut

        page.set_viewport_size({"width": 1600, "height": 1000})
        page.goto(f"{base}/locations/weather_assets/jobs/history_job")
        page.get_by_role("button", name="Materialize all").first.click()

        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Launch runs to materialize").wait_for(timeout=30_000)
        page.wait_for_timeout(2000)  # the dialog's partition-health queries settle
        _shot(page, "01_launch_dialog")
        text = dialog.inner_text()
        assert not [w for w in WARNINGS if w in text], text
        # Offline, the partitions are the recordings' days: the picker shows them, not an empty last-90-days view.
        assert "2024-01-01" in text and "2024-03-31" in text, text
        assert "Showing the last 90 days" not in text, text

        partitions = dialog.get_by_placeholder(re.compile(r"^ex: 2024"))
        partitions.click()
        partitions.fill(f"[{BACKFILL[0]}...{BACKFILL[-1]}]")
        partitions.press("Enter")
        dialog.get_by_text("10 partitions").first.wait_for(timeout=10_000)
        page.wait_for_timeout(2000)
        _shot(page, "02_ten_days_selected")
        text = dialog.inner_text()
        assert not [w for w in WARNINGS if w in text], text

        dialog.get_by_role("button", name="Launch backfill").click()
        page.wait_for_timeout(3000)
        _shot(page, "03_launched")
        assert not [w for w in WARNINGS if w in page.content()]

        (backfill,) = _backfills(dev)
        assert sorted(backfill["partitionNames"]) == BACKFILL
        runs = dev.wait_for(backfill["id"], [], timeout_s=420)
        assert [r["status"] for r in runs] == ["SUCCESS"], runs  # the single-run backfill policy: one run

        page.goto(f"{base}/assets/marts/daily_site_weather")
        page.get_by_text("Show Markdown").first.click()
        chart = page.get_by_role("dialog").locator("img[alt]").first
        chart.wait_for(timeout=30_000)
        assert chart.evaluate("img => img.complete && img.naturalWidth") > 600
        _shot(page, "04_daily_site_weather_chart")
