"""The one error type a2f raises for bad input: callers show its message and exit, no traceback."""


class A2FError(Exception):
    """Expected failure with a one-line message saying what is wrong and what to do."""


class AudioError(A2FError):
    """Audio that cannot be read or used."""


class CheckpointError(A2FError):
    """A checkpoint file that is missing, corrupt, hostile or of an unknown version."""


class DatasetError(A2FError):
    """A training dataset whose layout, lengths or values are invalid."""
