"""Opt-in nested asyncio for notebook cells.

Tutorials end with ``asyncio.run(main())``; in a notebook cell that fails with
"asyncio.run() cannot be called from a running event loop", because ipykernel
already runs a loop. The good answer is top-level ``await main()``. For pasted
code, :func:`allow_nested_asyncio` applies ``nest-asyncio2`` (the maintained
successor of the archived ``nest-asyncio``) -- only when called, never at import.
The lab itself never needs it: it runs on its own loop in its own thread.
"""

from __future__ import annotations

import asyncio


def is_nested_asyncio_allowed() -> bool:
    """True once asyncio has been patched (by nest-asyncio2 or the original nest-asyncio)."""
    return hasattr(asyncio, "_nest_patched")


def allow_nested_asyncio(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Let ``asyncio.run()`` and ``loop.run_until_complete()`` run inside a running loop.

    Applies ``nest_asyncio2.apply()`` once. Raises RuntimeError if the original
    ``nest_asyncio`` has already patched asyncio: the two must never both apply.
    """
    if hasattr(asyncio, "_nest_patched") and not hasattr(asyncio, "_nest_asyncio2"):
        raise RuntimeError(
            "asyncio is already patched by the original nest_asyncio; wslab will not apply "
            "nest_asyncio2 on top of it (restart the kernel and use only wslab.allow_nested_asyncio())"
        )
    try:
        import nest_asyncio2
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("allow_nested_asyncio() needs nest-asyncio2: pip install nest-asyncio2") from None
    nest_asyncio2.apply(loop)


