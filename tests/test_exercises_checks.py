"""text_frame and token_gate reject the wrong answers students write (review rows 20, 27; issue #9 item 6)."""

from __future__ import annotations

import struct
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import fails

from wslab import exercises as ex

# -- text_frame --------------------------------------------------------------------------------------

def frame_with(length_of):
    """A text_frame that is right except for what it puts in the length field."""
    def text_frame(text, mask):
        payload = text.encode()
        n = length_of(text, payload)
        head = bytes([0x81])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return text_frame


right_frame = frame_with(lambda text, payload: len(payload))


def test_text_frame_accepts_the_right_answer(capsys):
    assert ex.check_text_frame(right_frame) is None
    assert capsys.readouterr().out.startswith("✓ text_frame builds frames byte-for-byte")


def test_text_frame_rejects_a_length_counted_in_characters():
    fails(ex.check_text_frame, frame_with(lambda text, payload: len(text)), "for '服务器收到消息'",
          "your length field says 7, the number of characters", "is 21 bytes in UTF-8",
          "len(text.encode('utf-8'))")


def test_text_frame_rejects_characters_only_where_they_pick_the_form():
    # Right for the short forms, but picks the 7-bit form by characters: 100 'é' are 200 bytes.
    def mixed(text, mask):
        wire = right_frame(text, mask)
        if len(text) < 126 <= len(text.encode()):
            return bytes([0x81, 0x80 | len(text)]) + mask + wire[8:]
        return wire
    fails(ex.check_text_frame, mixed, "for 'éééé", "your length field says 100", "is 200 bytes")


def test_text_frame_rejects_no_64_bit_form():
    def only_16_bit(text, mask):
        payload = text.encode()
        if len(payload) < 126:
            return right_frame(text, mask)
        return bytes([0x81, 0x80 | 126]) + struct.pack("!H", len(payload) % 65536) + mask + \
            bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    fails(ex.check_text_frame, only_16_bit, "for 'xxxx", "over 65535 127 + a 64-bit length")


def test_text_frame_rejects_an_unmasked_payload():
    fails(ex.check_text_frame, lambda text, mask: right_frame(text, mask)[:-len(text.encode()) or None]
          + text.encode() if text else right_frame(text, mask), "expected:", "wslab reads yours as")


# -- token_gate --------------------------------------------------------------------------------------

def refuse(connection):
    return connection.respond(HTTPStatus.UNAUTHORIZED, "missing token\n")


def right_gate(connection, request):
    if parse_qs(urlsplit(request.path).query).get("token") != ["secret"]:
        return refuse(connection)
    return None


def test_token_gate_accepts_the_right_answer(capsys):
    assert ex.check_token_gate(right_gate) is None
    assert capsys.readouterr().out.startswith("✓ without the token: 401")


@pytest.mark.parametrize(("gate", "needles"), [
    (lambda c, r: refuse(c) if r.path != "/?token=secret" else None,
     ["'/?token=secret&lang=en' has the token (other parameters come after it) and should get in (101), but "
      "got 401", "parse_qs(urlsplit(request.path).query)"]),
    (lambda c, r: refuse(c) if not r.path.startswith("/?token=secret") else None,
     ["'/?lang=en&token=secret' has the token (query parameters come in any order)"]),
    (lambda c, r: refuse(c) if not r.path.startswith("/?") or "token=secret" not in r.path else None,
     ["'/chat?token=secret' has the token (the path is not always /)"]),
    (lambda c, r: refuse(c) if "token=secret" not in r.path else None,
     ["'/?token=secretive' (the token is 'secretive', not 'secret') got in; it should get 401"]),
    (lambda c, r: None if any(p.endswith("token=secret") for p in urlsplit(r.path).query.split("&")) else refuse(c),
     ["'/?mytoken=secret' (that parameter is 'mytoken', not 'token') got in"]),
    (lambda c, r: None, ["a client connecting to '/' got in; it should get 401"]),
])
def test_token_gate_rejects_brittle_answers(gate, needles):
    fails(ex.check_token_gate, gate, *needles)
