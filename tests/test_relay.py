"""The fault-injection relay (tests/support/servers.py) is a faithful network when it is
up: a server that sends a response whole and closes is read whole, however slowly the
client reads. (A reset in its place made the client's kernel drop what it had not read:
a flaky "connection broke off" in the S3 tests.)"""

from __future__ import annotations

import socket
import threading
import time

from tests.support.servers import LOOPBACK, Relay

PAYLOAD = bytes(range(256)) * (16 * 1024)  # 4 MiB: more than the socket buffers hold


def _send_all_then_close(listener: socket.socket) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.sendall(PAYLOAD)


def test_a_response_sent_whole_then_closed_is_read_whole_through_the_relay() -> None:
    with socket.create_server((LOOPBACK, 0)) as listener:
        threading.Thread(target=_send_all_then_close, args=(listener,), daemon=True).start()
        relay = Relay(listener.getsockname()[:2]).start()
        try:
            with socket.create_connection((LOOPBACK, relay.port), timeout=10) as client:
                time.sleep(0.5)  # the server has sent and closed before we read a byte
                received = bytearray()
                while chunk := client.recv(1 << 16):
                    received += chunk
        finally:
            relay.stop()
    assert len(received) == len(PAYLOAD) and received == PAYLOAD
