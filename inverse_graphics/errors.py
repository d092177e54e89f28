"""The one exception a user of the pipeline should ever see.

A ``UserError`` carries a single line naming the file or key at fault and what was
expected. Stage scripts catch it, print ``error: <message>`` and exit with code 2.
"""


class UserError(Exception):
    """Bad input: a missing file, a corrupt image, a wrong param. ``str(err)`` is one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
