"""Teacher and student versions of the notebooks: one source, no drift, checks that fail helpfully.

``solutions/`` holds the teacher versions, the single source: nbgrader source
notebooks, each exercise a solution cell followed by a locked, autograded test
cell that imports its check and calls it. ``notebooks/`` holds the student
versions, generated from them (``python -m wslab release``) and executed
(``make notebooks``). Strict nbval runs both sets and compares their stored
outputs, so what these tests read in the stored outputs of ``notebooks/`` is
what a fresh kernel produces: every check cell fails with the message that
helps, every other cell runs cleanly.
"""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from wslab.exercises import BEGIN, END, RAISES, release

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]-*.ipynb"))
STUDENT = ROOT / "notebooks"
EXPECTED = ["00-start-here", "01-handshake", "02-messages", "03-closing", "04-chat", "05-websocket-vs-http",
            "06-asyncio-in-jupyter", "07-wss-and-security", "08-capstone-your-own-client",
            "09-your-own-traffic"]
IDS = [p.stem for p in SOLUTIONS]
# A test cell: it imports its check itself, so a solution cell that redefines check_... earns nothing.
TEST_CELL = re.compile(r"from wslab\.exercises import (check_\w+)\n\n\1\((\w+)\)")


def nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def exercises(nb) -> list[tuple]:
    """(solution cell, test cell) pairs, in order."""
    return [(cell, nb.cells[i + 1]) for i, cell in enumerate(nb.cells) if nbgrader(cell).get("solution")]


def test_both_sets_have_all_notebooks_and_their_exercises():
    assert [p.stem for p in SOLUTIONS] == EXPECTED
    assert sorted(p.stem for p in STUDENT.glob("*.ipynb")) == EXPECTED
    counts = [len(exercises(nbformat.read(p, as_version=4))) for p in SOLUTIONS]
    # 08, the capstone, is one exercise: a whole client, graded from the trace.
    assert all(2 <= n <= 5 for n, p in zip(counts, SOLUTIONS, strict=True) if not p.stem.startswith("08")), counts
    assert sum(counts) == 24, counts


@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_every_exercise_is_a_solution_cell_then_its_autograded_test_cell(path):
    nb = nbformat.read(path, as_version=4)
    number = path.name[:2]
    pairs = exercises(nb)
    assert pairs
    for solution, test in pairs:
        assert solution.cell_type == test.cell_type == "code"
        assert solution.source.count(BEGIN) == solution.source.count(END) == 1, solution.source
        match = TEST_CELL.fullmatch(test.source)
        assert match, f"the cell after {nbgrader(solution)['grade_id']} is not its test cell:\n{test.source}"
        _check, function = match.groups()
        assert re.search(rf"^(async )?def {function}\(", solution.source, re.MULTILINE), solution.source
        grade_id = f"{number}-{function}"
        assert nbgrader(solution) == {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3,
                                      "solution": True, "task": False}
        assert nbgrader(test) == {"grade": True, "grade_id": f"{grade_id}-check", "locked": True, "points": 1,
                                  "schema_version": 3, "solution": False, "task": False}
        # The teacher's version passes its own checks.
        assert [o.output_type for o in test.outputs] == ["stream"] and test.outputs[0].text.startswith("✓ ")
    graded = [cell for pair in pairs for cell in pair]
    others = [cell for cell in nb.cells if not any(cell is g for g in graded)]
    assert not [cell.source for cell in others if "nbgrader" in cell.metadata]  # nbgrader leaves them alone
    assert not [cell.source for cell in others if BEGIN in cell.source]  # nbgrader refuses those
    assert not [cell.source for cell in others if cell.cell_type == "code" and re.search(r"import .*check_", cell.source)]
    assert not [cell.id for cell in nb.cells if cell.cell_type == "code" and RAISES in cell.metadata.get("tags", [])
                and not any(o.output_type == "error" for o in cell.outputs)]


@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_the_student_version_is_generated_from_the_teacher_s(path):
    expected = nbformat.read(path, as_version=4)
    release(expected)
    stored = nbformat.read(STUDENT / path.name, as_version=4)

    def cells(nb):
        return [(c.id, c.cell_type, c.source, {k: v for k, v in c.metadata.items() if k != "execution"})
                for c in nb.cells]

    assert cells(stored) == cells(expected), (
        f"notebooks/{path.name} is not what solutions/{path.name} gives: edit solutions/ only, then `make notebooks`")


@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_the_student_version_has_no_solutions(path):
    text = (STUDENT / path.name).read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    student = nbformat.read(STUDENT / path.name, as_version=4)
    by_id = {cell.id: cell for cell in student.cells}
    for solution, _ in exercises(nbformat.read(path, as_version=4)):
        answer = solution.source.split(BEGIN, 1)[1].split(END, 1)[0]
        lines = [line.strip() for line in answer.splitlines() if line.strip() and not line.strip().startswith("#")]
        stub = by_id[solution.id].source
        assert lines and not [line for line in lines if line in stub], stub
        assert "# YOUR CODE HERE" in stub and "raise NotImplementedError()" in stub


@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_in_the_student_version_every_check_fails_helpfully_and_nothing_else_fails(path):
    nb = nbformat.read(STUDENT / path.name, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert not [c.source for c in code if c.execution_count is None], "run `make notebooks`: strict nbval skips unrun cells"
    tests = [test for _, test in exercises(nb)]
    assert len(tests) == len(exercises(nbformat.read(path, as_version=4)))
    for cell in tests:
        assert RAISES in cell.metadata.get("tags", []), cell.source
        assert (cell.metadata["editable"], cell.metadata["deletable"]) == (False, False)
        [error] = cell.outputs  # nothing on stderr: only the message
        assert error.output_type == "error" and error.ename == "ExerciseError", error
        assert "not written yet" in error.evalue and "\n  expected: " in error.evalue, error.evalue
        assert "\n  hint: " in error.evalue, error.evalue
        # IPython showed the message alone (ExerciseError._render_traceback_), no traceback through wslab.
        shown = "\n".join(error.traceback)
        assert shown.endswith(error.evalue) and "Traceback" not in shown and ".py" not in shown, shown
    failing = [c for c in code if any(o.output_type == "error" for o in c.outputs)]
    tagged = [c for c in code if RAISES in c.metadata.get("tags", [])]
    assert [c.id for c in failing] == [c.id for c in tagged]  # and every other cell ran cleanly


NOTEBOOK = """{{"cells": [{{"cell_type": "code", "execution_count": 1, "id": "c1", "metadata": {{"tags": ["raises-exception"]}},
  "outputs": [{{"output_type": "error", "ename": "ValueError", "evalue": "{evalue}", "traceback": []}}],
  "source": "raise ValueError('as stored')"}}],
 "metadata": {{"kernelspec": {{"display_name": "Python 3", "language": "python", "name": "python3"}}}},
 "nbformat": 4, "nbformat_minor": 5}}"""


def test_strict_nbval_still_compares_the_outputs_of_cells_that_fail_on_purpose(tmp_path):
    (tmp_path / "same.ipynb").write_text(NOTEBOOK.format(evalue="as stored"))
    (tmp_path / "differs.ipynb").write_text(NOTEBOOK.format(evalue="something else"))
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
                             "-q", "same.ipynb", "differs.ipynb"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert "1 failed, 1 passed" in result.stdout, result.stdout + result.stderr
    assert "differs.ipynb::Cell 0 FAILED" in result.stdout or "FAILED differs.ipynb::Cell 0" in result.stdout, result.stdout
