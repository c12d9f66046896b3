#!/usr/bin/env python3
"""Small network helpers for the test harness scripts (test-only, stdlib only).

  netutil.py free-ports N            print N distinct free TCP ports on 127.0.0.1
  netutil.py kafka-ready HOST PORT   exit 0 when a Kafka broker at HOST:PORT
                                     answers a Metadata request listing at
                                     least one broker, 1 otherwise

kafka-ready speaks the Kafka wire protocol itself instead of starting a JVM
tool: a JVM costs about two seconds per call, this costs milliseconds, so the
harness can poll the broker often while it starts.
"""

import socket
import struct
import sys


def free_ports(count):
    # Hold every socket open until all are bound, so the ports are distinct.
    # The kernel hands out ports that are free right now; a caller that loses
    # a race for one later retries with new ports.
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        data += chunk
    return data


def kafka_ready(host, port, timeout=2.0):
    client_id = b"imislink-harness"
    # Metadata v1 (api key 3): request header v1, then an empty topic array
    # (v1 reads an empty array as "no topics": we only want the brokers).
    body = struct.pack(">hhih", 3, 1, 1, len(client_id)) + client_id
    body += struct.pack(">i", 0)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(body)) + body)
        size, = struct.unpack(">i", recv_exact(sock, 4))
        resp = recv_exact(sock, size)
    corr, nbrokers = struct.unpack_from(">ii", resp, 0)
    return corr == 1 and nbrokers >= 1


def main(argv):
    if len(argv) == 3 and argv[1] == "free-ports":
        print(" ".join(str(p) for p in free_ports(int(argv[2]))))
        return 0
    if len(argv) == 4 and argv[1] == "kafka-ready":
        try:
            return 0 if kafka_ready(argv[2], int(argv[3])) else 1
        except (OSError, ValueError, struct.error):
            return 1
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
