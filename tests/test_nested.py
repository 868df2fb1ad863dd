"""The opt-in nested-asyncio helper (each test in a fresh interpreter: patching is global)."""

import subprocess
import sys
import textwrap

from timeouts import scaled


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=scaled(60))


def test_importing_wslab_patches_nothing():
    result = run("""
        import asyncio, sys, wslab
        print('nest_asyncio2' in sys.modules, hasattr(asyncio, '_nest_patched'))
    """)
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_asyncio_run_inside_a_running_loop_needs_the_opt_in():
    result = run("""
        import asyncio, wslab

        async def tutorial():
            return 42

        async def cell():  # what ipykernel does: the cell runs inside a loop
            try:
                asyncio.run(tutorial())
            except RuntimeError as exc:
                print("before:", exc)
            wslab.allow_nested_asyncio()
            print("after:", asyncio.run(tutorial()))
            async with wslab.Lab("echo") as lab:   # the lab still works, patched or not
                async with lab.connect() as ws:
                    await ws.send("Hello Server")
                    print("lab:", await ws.recv())

        asyncio.run(cell())
    """)
    assert "before: asyncio.run() cannot be called from a running event loop" in result.stdout, result.stderr
    assert "after: 42" in result.stdout, result.stderr
    assert "lab: Hello Client" in result.stdout, result.stderr


def test_refuses_to_stack_on_the_original_nest_asyncio():
    result = run("""
        import asyncio, wslab
        asyncio._nest_patched = True   # what the archived nest_asyncio leaves behind
        try:
            wslab.allow_nested_asyncio()
        except RuntimeError as exc:
            print("refused:", exc)
    """)
    assert "refused: asyncio is already patched by the original nest_asyncio" in result.stdout, result.stderr
