"""Exchange sandbox: a wire-level EWS server that unmodified exchangelib talks to over HTTP.

Imports nothing else from ``app``. See README.md in this directory.
"""

from .directory import DEMO_PASSWORD, Directory, load_directory
from .server import SandboxApp, SandboxServer

__all__ = ["DEMO_PASSWORD", "Directory", "SandboxApp", "SandboxServer", "load_directory"]
