"""End to end: the live view updates in JupyterLab while a browser types into the chat page.

A notebook starts the chat lab and displays ``lab.watch()``; nothing is re-run
after that. Chromium then opens the lab's chat page in a second tab and sends a
message; the live view in the notebook's output must show that frame. A
screenshot is saved to ``$WSLAB_SCREENSHOT_DIR/wslab_live_view.png`` (default:
pytest's tmp_path); ``docs/live-view.png`` is one of them.
"""

from __future__ import annotations

import json
import re
import time

from test_jupyterlab import (  # one JupyterLab harness for the suite
    CODE_CELLS,
    OUTPUT,
    PANEL,
    UI_TIMEOUT,
    JupyterLab,
    page,  # noqa: F401 - a fixture
    run_all_cells,
    screenshot_dir,
    wait_for_kernel,
)

NOTEBOOK = "live.ipynb"
CELLS = [
    'from wslab import Lab\nlab = Lab("chat").start()\nprint(lab.http_url)',
    "view = lab.watch(rows=8, conns=2)\nview",
]
MESSAGE = "hi from Chromium"


def write_notebook(path) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"cell-{i}", "metadata": {},
              "outputs": [], "source": source} for i, source in enumerate(CELLS)]
    nb = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                      "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb, indent=1))


def test_live_view_follows_the_chat_typed_in_a_browser(spawn, page, tmp_path, sync_playwright_api):  # noqa: F811
    expect = sync_playwright_api.expect
    root = tmp_path / "root"
    root.mkdir()
    write_notebook(root / NOTEBOOK)
    lab = JupyterLab(spawn, root, tmp_path / "jupyter-home")
    try:
        assert "started" in lab.wait_until_up()
        page.goto(lab.url(f"/lab/tree/{NOTEBOOK}"))
        expect(page.locator(CODE_CELLS)).to_have_count(len(CELLS), timeout=UI_TIMEOUT)
        wait_for_kernel(page)
        prompts = run_all_cells(page, len(CELLS))
        assert prompts == ["[1]:", "[2]:"]

        cells = page.locator(CODE_CELLS)
        printed = cells.nth(0).locator(OUTPUT).inner_text()
        chat_url = re.search(r"http://127\.0\.0\.1:\d+/", printed)
        assert chat_url, printed
        live = cells.nth(1).locator(".wslab-live")
        expect(live).to_be_visible(timeout=UI_TIMEOUT)  # the widget rendered (not the static fallback)
        expect(live.locator(".wslab-live-status")).to_contain_text("live at ws://")

        chat = page.context.new_page()
        chat.goto(chat_url[0])
        expect(chat.locator("#status")).to_contain_text("connected", timeout=UI_TIMEOUT)
        chat.locator("#input").fill(MESSAGE)
        chat.locator("#input").press("Enter")
        expect(chat.locator("#messages")).to_contain_text(MESSAGE, timeout=UI_TIMEOUT)

        # The notebook shows the frame without any cell being run again.
        page.bring_to_front()
        expect(live.locator(".wslab-live-table")).to_contain_text(MESSAGE, timeout=UI_TIMEOUT)
        expect(live.locator("img.wslab-live-figure")).to_be_visible(timeout=UI_TIMEOUT)
        assert live.locator("img.wslab-live-figure").get_attribute("alt").startswith("Sequence diagram")
        prompts_after = [p.strip() for p in page.locator(f"{PANEL} .jp-InputPrompt").all_inner_texts()]
        assert prompts_after == ["[1]:", "[2]:"], "a cell was re-run"

        cells.nth(1).evaluate("cell => cell.scrollIntoView({block: 'start'})")
        page.mouse.move(5, 5)
        time.sleep(0.3)  # let the scroll settle for the screenshot only; nothing is synchronised on it
        shot = screenshot_dir(tmp_path) / "wslab_live_view.png"
        page.screenshot(path=str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        print(f"screenshot: {shot}")
    finally:
        lab.stop()
