"""permessage-deflate (RFC 7692): the settings each sender's compressor uses, read from the handshake."""

from __future__ import annotations

import dataclasses
from typing import Any

from .enums import Sender
from .problems import Problem
from .problems import ProblemCode as P

#: RFC 7692 §7.2.2: the empty stored block removed from the end of each
#: compressed message and appended again before inflating it.
EMPTY_BLOCK = b"\x00\x00\xff\xff"


@dataclasses.dataclass(frozen=True)
class DeflateParams:
    """permessage-deflate settings of ONE sender's compressor (RFC 7692 §7.1).

    ``window_bits`` is the LZ77 window (8-15) that sender may use;
    ``no_context_takeover`` means it resets its compressor for every message.
    """

    window_bits: int = 15
    no_context_takeover: bool = False


def parse_deflate(value: str) -> tuple[dict[str, DeflateParams] | None, list[Problem]]:
    """Read the permessage-deflate offer in a Sec-WebSocket-Extensions value."""
    problems: list[Problem] = []
    for extension in value.split(","):
        parts = [part.strip() for part in extension.split(";")]
        if parts[0].lower() != "permessage-deflate":
            continue
        options: dict[str, dict[str, Any]] = {"client": {}, "server": {}}
        for part in parts[1:]:
            if not part:
                continue
            name, equals, raw = part.partition("=")
            name, raw = name.strip().lower(), raw.strip().strip('"')
            side, _, param = name.partition("_")
            if side not in options or param not in ("no_context_takeover", "max_window_bits"):
                problems.append(Problem(P.DEFLATE_UNKNOWN_PARAMETER, f"unknown permessage-deflate parameter {name!r}",
                                        "RFC 7692 §7.1"))
            elif param == "no_context_takeover":
                if equals:
                    problems.append(Problem(P.DEFLATE_BAD_PARAMETER, f"{name} takes no value, got {raw!r}",
                                            "RFC 7692 §7.1.1"))
                options[side]["no_context_takeover"] = True
            elif raw.isdigit() and 8 <= int(raw) <= 15:
                options[side]["window_bits"] = int(raw)
            else:
                problems.append(Problem(P.DEFLATE_BAD_PARAMETER, f"{name}={raw!r} in a response must be 8-15",
                                        "RFC 7692 §7.1.2"))
        return {side: DeflateParams(**opts) for side, opts in options.items()}, problems
    return None, problems


def deflate_params(extensions: str) -> dict[Sender, DeflateParams] | None:
    """What a 101 response's Sec-WebSocket-Extensions value agrees for permessage-deflate.

    Returns ``{"client": ..., "server": ...}``, each the settings of that
    sender's compressor (``server_*`` parameters govern the server's frames,
    ``client_*`` the client's), or None if permessage-deflate wasn't accepted.
    """
    params, _ = parse_deflate(extensions)
    return params  # type: ignore[return-value]


__all__ = ["EMPTY_BLOCK", "DeflateParams", "deflate_params", "parse_deflate"]
