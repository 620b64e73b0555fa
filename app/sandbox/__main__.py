"""Run the sandbox: python -m app.sandbox [--host H] [--port P] [--data FILE] [--latency-ms N]
[--tls-cert C --tls-key K [--extended-protection]]"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import SandboxServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.sandbox",
                                     description="Run the Exchange (EWS) sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--data", default=None, help="directory data file (TOML or JSON)")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--tls-cert", default=None)
    parser.add_argument("--tls-key", default=None)
    parser.add_argument("--extended-protection", action="store_true",
                        help="require the TLS channel binding in NTLM sign-ins (needs --tls-cert)")
    parser.add_argument("--log-dir", default=None)
    args = parser.parse_args(argv)
    server = SandboxServer(directory=args.data, host=args.host, port=args.port,
                           latency_ms=args.latency_ms, tls_cert=args.tls_cert,
                           tls_key=args.tls_key, log_dir=args.log_dir,
                           extended_protection=args.extended_protection)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print(server.ews_url, flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
