"""The one small hierarchy of user-facing errors.

Every error a user can fix (a missing file, an unknown ticker, too little history, a bundle that
does not match the data) is raised as one of these, with a one-line message that says what is
wrong and what to do. The CLIs turn them into a line on stderr and exit code 2; anything else
that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class PluginError(Exception):
    """Base class of every error a user can act on."""

    exit_code = 2


class DataError(PluginError):
    """Prices are missing, malformed, too short, or cannot be fetched."""


class ConfigError(PluginError):
    """An option, preset, universe or parameter is unknown or out of range."""


class BundleError(PluginError):
    """A trained bundle is missing, corrupt, or does not match the data it is run on."""
