"""The one exception a user of the pipeline should ever see.

A ``UserError`` carries a single line naming the file or key at fault and what was
expected. Stage scripts catch it, print ``error: <message>`` and exit with code 2.
"""


class UserError(Exception):
    """Bad input: a missing file, a corrupt image, a wrong param. ``str(err)`` is one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class NonFiniteLossError(UserError):
    """A loss term (or the optimised tensor) became NaN/Inf during a fit.

    ``last_good`` holds the last parameters whose losses were all finite (for a mesh fit
    ``last_good_verts: (V, 3)``, with ``faces: (F, 3)``), so a stage can keep them on disk
    before stopping.
    """

    def __init__(self, message: str, last_good, faces=None):
        super().__init__(message)
        self.last_good = last_good
        self.faces = faces

    @property
    def last_good_verts(self):
        """``last_good`` under its mesh-fit name."""
        return self.last_good
