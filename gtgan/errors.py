"""User-facing errors. The CLI prints these as one clear line and exits non-zero, no traceback."""


class GtganError(Exception):
    """Bad input from the user (a file, field or value); the message names it and what to do."""


class DataError(GtganError):
    """A data set file or item is missing or wrong."""


class CheckpointError(GtganError):
    """A checkpoint or model folder is missing, foreign, or does not match its config."""


class EncoderError(GtganError):
    """A text encoder cannot be built, or text was given to the wrong encoder."""


class TimeCapReached(Exception):
    """Work stopped because a time cap (run.max_minutes) passed; not an error of the user's."""


class GtganWarning(UserWarning):
    """Something the user should know that does not stop the command; the CLI prints it as a
    `gtgan <command>: ...` line."""


class UnknownWordsWarning(GtganWarning):
    """Words of a caption the text encoder cannot represent (ignored), named once per request."""

    def __init__(self, words):
        self.words = list(words)
        super().__init__(unknown_words_line(self.words))


def unknown_words_line(words) -> str:
    return "unknown words ignored: " + ", ".join(words)
