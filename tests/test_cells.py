"""Labs are keyed on IPython's cell id: editing and re-running a cell stops the lab its previous run made."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    ns = shell.user_ns
    shell.run_cell("import wslab", store_history=True, cell_id="imports")
    shell.run_cell("first = wslab.Lab('echo').start()", store_history=True, cell_id="cell-a")
    shell.run_cell("other = wslab.Lab('echo').start()", store_history=True, cell_id="cell-b")
    assert ns["first"].running and ns["other"].running
    # The same cell, edited (new text, so a new code hash) and run again: the old lab goes.
    shell.run_cell("second = wslab.Lab('echo', seed=1).start()", store_history=True, cell_id="cell-a")
    assert not ns["first"].running, "the edited cell's previous lab is still running"
    assert ns["second"].running and ns["other"].running
    # Labs made in a loop in one run of a cell all survive.
    shell.run_cell("many = [wslab.Lab('echo').start() for _ in range(2)]", store_history=True, cell_id="cell-c")
    assert all(lab.running for lab in ns["many"])
    # async with: the key is taken on the cell's thread.
    shell.run_cell("import asyncio\\n"
                   "async def go():\\n"
                   "    lab = wslab.Lab('echo')\\n"
                   "    await lab.__aenter__()\\n"
                   "    return lab\\n"
                   "alab = asyncio.run(go())", store_history=True, cell_id="cell-d")
    assert ns["alab"].cell is not None and ns["alab"].cell[0] == ("cell", "cell-d"), ns["alab"].cell
    for name in ("second", "other", "alab"):
        ns[name].stop()
    for lab in ns["many"]:
        lab.stop()
    print("ok")
""")


def test_editing_and_rerunning_a_cell_stops_its_previous_lab():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("ok")
