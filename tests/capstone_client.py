"""A WebSocket client over a plain socket (the capstone's solution), with switches for the usual mistakes."""

import base64
import hashlib
import os
import socket
import struct
from urllib.parse import urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data

def read_frame(sock):
    head = read_exactly(sock, 2)
    opcode, length = head[0] & 0x0F, head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", read_exactly(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", read_exactly(sock, 8))[0]
    return opcode, read_exactly(sock, length)

def send_frame(sock, opcode, payload, *, masked=True, length=None):
    mask = os.urandom(4) if masked else bytes(4)
    head = bytes([0x80 | opcode])
    n = len(payload) if length is None else length
    if n < 126:
        head += bytes([(0x80 if masked else 0) | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    sock.sendall(head + (mask if masked else b"") + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

def my_client(url, message, *, masked=True, chars=False, check_accept=True, close=True, wait_fin=True):
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port))
    with sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += read_exactly(sock, 1)
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            raise ConnectionError(lines[0])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if check_accept and headers.get("sec-websocket-accept") != expected:
            raise ConnectionError("wrong Sec-WebSocket-Accept")
        send_frame(sock, 0x1, message.encode("utf-8"), masked=masked, length=len(message) if chars else None)
        opcode, payload = read_frame(sock)
        reply = payload.decode("utf-8")
        if not close:
            return reply
        send_frame(sock, 0x8, struct.pack("!H", 1000))
        if not wait_fin:
            return reply
        while opcode != 0x8:
            opcode, payload = read_frame(sock)
        while sock.recv(1024):
            pass
    return reply
