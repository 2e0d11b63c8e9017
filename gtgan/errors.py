"""User-facing errors. The CLI prints these as one clear line and exits non-zero, no traceback."""


class GtganError(Exception):
    """Bad input from the user (a file, field or value); the message names it and what to do."""


class DataError(GtganError):
    """A data set file or item is missing or wrong."""


class CheckpointError(GtganError):
    """A checkpoint or model folder is missing, foreign, or does not match its config."""


class EncoderError(GtganError):
    """A text encoder cannot be built, or text was given to the wrong encoder."""
