"""Exceptions whose message is shown to users as a one-line error by the CLI."""


class DensnetError(Exception):
    """A user-facing error: bad input, wrong settings, unreadable or foreign files."""
