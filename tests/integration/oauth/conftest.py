"""Fixtures for the OAuth tests (the helpers themselves live in ``flow.py``)."""

from tests.integration.oauth.flow import _issuer, public_vendor, vendor  # noqa: F401
