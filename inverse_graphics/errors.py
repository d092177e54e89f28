"""The one exception a user of the pipeline should ever see.

A ``UserError`` carries a single line naming the file or key at fault and what was
expected. Stage scripts catch it, print ``error: <message>`` and exit with code 2.
"""


class UserError(Exception):
    """Bad input: a missing file, a corrupt image, a wrong param. ``str(err)`` is one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class NonFiniteLossError(UserError):
    """A loss term became NaN/Inf during a fit.

    ``last_good_verts: (V, 3)`` and ``faces: (F, 3)`` are the last mesh whose losses were all
    finite, so a stage can keep it on disk before stopping.
    """

    def __init__(self, message: str, last_good_verts, faces):
        super().__init__(message)
        self.last_good_verts = last_good_verts
        self.faces = faces
