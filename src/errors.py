"""The one exception hierarchy of sugo.

Library code raises these with enough context to be understood on their own;
only process entry points turn them into exit codes or error replies.
"""


class SugoError(Exception):
    """Base class of every error sugo raises on purpose."""


class ConfigError(SugoError):
    """A settings, devices or payload file is missing or invalid."""


class ProtocolError(SugoError):
    """A message on the wire is malformed, unknown or too large."""


class RequestTimeout(SugoError):
    """A request got no reply in time; the message names the endpoint."""


class RequestFailed(SugoError):
    """The peer answered with an error reply."""


class DriverError(SugoError):
    """A driver could not be loaded or refused an operation."""


class StoreError(SugoError):
    """The SQLite store refused an operation (bad transition, missing row...)."""
