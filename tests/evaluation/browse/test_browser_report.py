"""The HTML run browser in real headless Chromium: the list renders, filters narrow it,
a conversation opens with its turns and votes, and a screenshot is kept in tests/artifacts/."""

from __future__ import annotations

import pytest

import run
from tests.browser import start_browser, unavailable_reason
from tests.helpers import FIXTURES, ROOT

SMALL = FIXTURES / "run_small"
ARTIFACTS = ROOT / "tests" / "artifacts"

pytestmark = pytest.mark.skipif(
    unavailable_reason() is not None, reason=f"no browser: {unavailable_reason()}"
)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from selenium.webdriver.support.ui import WebDriverWait

    out = tmp_path_factory.mktemp("report") / "report.html"
    assert run.main(["report", str(SMALL), "--out", str(out)]) == 0
    driver = start_browser()
    try:
        driver.get(out.as_uri())
        WebDriverWait(driver, 10).until(
            lambda d: d.execute_script("return document.body.dataset.ready") == "1"
        )
        yield driver
    finally:
        driver.quit()


def visible_ids(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [
        row.get_attribute("data-id")
        for row in driver.find_elements(By.CSS_SELECTOR, "#conv-list tbody tr")
    ]


def reset_filters(driver) -> None:
    driver.execute_script(
        "for (const id of ['filter-text','filter-score']) document.getElementById(id).value='';"
        "for (const id of ['filter-scenario','filter-status','filter-speakers']) "
        "{ const s = document.getElementById(id); s.value='';"
        "  s.dispatchEvent(new Event('change')); }"
        "location.hash='';"
    )


def test_conversation_list_renders(page):
    from selenium.webdriver.common.by import By

    reset_filters(page)
    assert sorted(visible_ids(page)) == ["c000000", "c000001"]
    assert page.find_element(By.ID, "count").text.startswith("2 of 2 conversations")
    assert "Summary" in page.find_element(By.ID, "summary").text
    # no JavaScript errors and no network: the console holds no SEVERE entry
    severe = [e for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_status_filter_narrows_the_list(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    reset_filters(page)
    Select(page.find_element(By.ID, "filter-status")).select_by_visible_text("rejected")
    assert visible_ids(page) == ["c000000"]
    assert page.find_element(By.ID, "count").text.startswith("1 of 2 conversations")
    Select(page.find_element(By.ID, "filter-status")).select_by_visible_text("accepted")
    assert visible_ids(page) == ["c000001"]


def test_speaker_count_score_and_text_filters(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    reset_filters(page)
    Select(page.find_element(By.ID, "filter-speakers")).select_by_visible_text("5")
    assert visible_ids(page) == ["c000000"]
    reset_filters(page)
    page.find_element(By.ID, "filter-score").send_keys("2.5")
    assert visible_ids(page) == ["c000001"]
    reset_filters(page)
    page.find_element(By.ID, "filter-text").send_keys("naledi")
    assert visible_ids(page) == ["c000001"]


def test_opening_a_conversation_shows_turns_selector_and_votes(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    reset_filters(page)
    page.find_element(By.CSS_SELECTOR, '#conv-list tr[data-id="c000000"]').click()
    detail = page.find_element(By.ID, "detail")
    WebDriverWait(page, 5).until(lambda d: detail.is_displayed())
    turns = detail.find_elements(By.CSS_SELECTOR, ".turn")
    assert len(turns) == 12
    assert turns[0].text.startswith("Uma: The lady who loves to eat and drink")
    assert len(detail.find_elements(By.CSS_SELECTOR, ".card.persona")) == 5
    assert len(detail.find_elements(By.CSS_SELECTOR, ".sel")) == 11
    votes = detail.find_elements(By.CSS_SELECTOR, ".vote")
    assert len(votes) == 7
    failed = [v.text for v in detail.find_elements(By.CSS_SELECTOR, ".vote.fail")]
    assert any(text.startswith("repetition") for text in failed)
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_window_size(1400, 1800)
    page.execute_script("window.scrollTo(0, document.getElementById('detail').offsetTop - 120)")
    shot = ARTIFACTS / "report_conversation.png"
    assert page.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
