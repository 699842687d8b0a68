"""Run the app under bjoern: N forked processes sharing one port (SO_REUSEPORT).

    python -m bench.bjoern_server --bind 127.0.0.1:8000 --workers 2

bjoern is a single-threaded libev server written in C; it has no process
manager of its own, so this forks the workers and restarts any that die.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import time


def serve(host: str, port: int) -> None:
    import bjoern

    from wsgi import app

    bjoern.run(app, host, port, reuse_port=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", default="127.0.0.1:8000")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    host, _, port = args.bind.rpartition(":")
    children: set[int] = set()

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            serve(host, int(port))
            os._exit(0)
        children.add(pid)

    def stop(_sig: int, _frame: object) -> None:
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(args.workers):
        spawn()
    while True:
        pid, _status = os.wait()
        children.discard(pid)
        time.sleep(0.2)
        spawn()


if __name__ == "__main__":
    main()
