"""Student versions of the notebooks.

nbgrader's solution regions are replaced by its stub, as ``nbgrader generate_assignment`` does.
"""

from __future__ import annotations

import os
from pathlib import Path

#: nbgrader's stub for a Python solution region (``ClearSolutions.code_stub``), and what it puts in a solution cell.
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"


#: The tag that tells nbval, nbclient and JupyterLab's Run All that a cell fails on purpose.
RAISES = "raises-exception"



def _nbgrader(cell: dict, key: str) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get(key, False))



def _clear_solution_regions(source: str, stub: str) -> tuple[str, int]:
    """nbgrader's ``ClearSolutions``: each region becomes ``stub``, indented like its BEGIN line."""
    lines, regions, inside = [], 0, False
    for line in source.split("\n"):
        if "BEGIN SOLUTION" in line:
            if inside:
                raise ValueError(f"nested BEGIN SOLUTION in:\n{source}")
            inside, regions = True, regions + 1
            indent = line[: len(line) - len(line.lstrip())]
            lines += [indent + stub_line for stub_line in stub.split("\n")]
        elif "END SOLUTION" in line:
            inside = False
        elif not inside:
            lines.append(line)
    if inside:
        raise ValueError(f"BEGIN SOLUTION without END SOLUTION in:\n{source}")
    return "\n".join(lines), regions



def release(nb: dict) -> int:
    """Turn a teacher's notebook (nbformat 4, as a dict) into its student version, in place.

    What ``nbgrader generate_assignment`` does with its default settings, minus the
    gradebook: every solution region becomes nbgrader's stub (a solution cell with no
    region is replaced whole), solution cells can't be deleted, test cells can't be
    edited or deleted, and every output is cleared. The nbgrader metadata stays, so
    the student version is a valid nbgrader release (Validate works on it; autograde
    finds its cells by grade_id). One addition: the autograded test cells are tagged
    ``raises-exception``, since with the stubs they fail on purpose (nbval, nbclient
    and JupyterLab's Run All then go on to the next cell). Returns the number of
    solution cells.
    """
    language = nb.get("metadata", {}).get("kernelspec", {}).get("language", "python")
    if language != "python":
        raise ValueError(f"only Python notebooks have a code stub, not {language}")
    nb.get("metadata", {}).pop("celltoolbar", None)
    solutions = 0
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        is_solution, is_grade = _nbgrader(cell, "solution"), _nbgrader(cell, "grade")
        stub = CODE_STUB if cell["cell_type"] == "code" else TEXT_STUB
        cleared, regions = _clear_solution_regions(source, stub)
        if regions and not is_solution:
            raise ValueError(f"a solution region in a cell that is not a solution cell:\n{source}")
        if is_solution:
            solutions += 1
            cell["source"] = cleared if regions else stub
        metadata = cell.setdefault("metadata", {})
        metadata.pop("execution", None)  # nbclient's timestamps of the teacher's run
        if is_solution:
            metadata["deletable"] = False
        elif is_grade or _nbgrader(cell, "locked"):
            metadata["deletable"] = metadata["editable"] = False
        if is_grade and not is_solution and cell["cell_type"] == "code" and RAISES not in metadata.get("tags", []):
            metadata["tags"] = [*metadata.get("tags", []), RAISES]
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return solutions



def make_release(path: str | os.PathLike, out: str | os.PathLike) -> int:
    """Write the student version of the teacher's notebook ``path`` to ``out`` (see :func:`release`).

    Returns the number of solution cells. The student version has no outputs: execute it
    (``python -m wslab notebooks``) to store the outputs a student sees on a repository browser.
    """
    import nbformat

    if Path(out).resolve() == Path(path).resolve():
        raise ValueError(f"{out} is the teacher's notebook itself: write the student version elsewhere")
    nb = nbformat.read(path, as_version=4)
    solutions = release(nb)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return solutions
