"""``make run``: start the Exchange sandbox beside the app and serve both on loopback."""

from __future__ import annotations

import argparse
import os

from werkzeug.serving import run_simple


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Exchange Connect with the sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--sandbox-port", type=int, default=5001)
    args = parser.parse_args()

    from app.sandbox import SandboxServer

    sandbox = SandboxServer(host="127.0.0.1", port=args.sandbox_port)
    sandbox.start()
    os.environ.setdefault("SANDBOX_EWS_URL", sandbox.ews_url)

    from app import create_app

    app = create_app()
    print(f" * Exchange sandbox: {sandbox.ews_url} (password for every account: Sandbox-Pass-1)")
    print(f" * Exchange Connect: http://{args.host}:{args.port}/")
    try:
        run_simple(args.host, args.port, app, threaded=True, use_reloader=False)
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
