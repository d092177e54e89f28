"""Scaffolding shared by the optimisation loops (silhouette fit, mesh-to-mesh fit, and later GAN projection).

- ``settings_from_section``: a settings dataclass from a params section (keys it does not know are left out);
- ``FiniteGuard``: remembers the last parameters whose loss terms were all finite and raises
  ``NonFiniteLossError`` naming the term and the iteration, or the step that made the parameters non-finite;
- ``log_iteration``: which iterations land in the history (every ``log_every``-th, and the last);
- ``MeshFitResult``: what a mesh fit returns.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, TypeVar

import torch

from ..errors import NonFiniteLossError

S = TypeVar("S")


def settings_from_section(cls: type[S], section: Mapping[str, Any]) -> S:
    """``cls(**section)`` restricted to ``cls``'s fields (a params section also holds e.g. input paths)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{key: value for key, value in section.items() if key in names})


def log_iteration(iteration: int, iterations: int, log_every: int) -> bool:
    """True for the iterations a loop records: every ``log_every``-th from 0, and the last."""
    return iteration % log_every == 0 or iteration == iterations - 1


class FiniteGuard:
    """NaN/Inf guard for one optimisation run; ``desc`` names the run in messages.

    ``params: (...)`` is the tensor being optimised (mesh vertices, a latent); ``context`` is passed
    on to the error after it (a mesh's ``faces: (F, 3)``). ``err.last_good`` is the last accepted
    ``params``.
    """

    def __init__(self, desc: str, params: torch.Tensor, *context: Any, what: str = "state"):
        self.desc, self.context, self.what = desc, context, what
        self.last_good = params.detach().clone()

    def _error(self, message: str) -> NonFiniteLossError:
        return NonFiniteLossError(f"{self.desc}: {message}; kept the last finite {self.what}", self.last_good,
                                  *self.context)

    def check_terms(self, terms: Mapping[str, torch.Tensor], iteration: int) -> None:
        """Raise naming the first term in ``terms`` (scalars, weighted or not) that is NaN/Inf."""
        if torch.isfinite(torch.stack([value.detach().float() for value in terms.values()])).all():
            return
        name, value = next((n, v) for n, v in terms.items() if not torch.isfinite(v))
        raise self._error(f"loss term '{name}' is {value.item()} at iteration {iteration}")

    def check_params(self, params: torch.Tensor, when: str, name: str = "parameters") -> None:
        """Raise when ``params`` holds a NaN/Inf; ``when`` says after which step (e.g. 'the last step')."""
        if not torch.isfinite(params).all():
            raise self._error(f"{name} became non-finite after {when}")

    def accept(self, params: torch.Tensor) -> None:
        """``params`` passed the checks of this iteration: keep a copy as the last good one."""
        self.last_good = params.detach().clone()

    def fail(self, message: str) -> NonFiniteLossError:
        """The guard's error for another sign of divergence (e.g. an overflowing surface area)."""
        return self._error(message)


@dataclass
class MeshFitResult:
    """``verts: (V, 3)``, ``faces: (F, 3)``; ``history``: one dict of loss terms per logged iteration
    (``iteration``, ``loss``, then each term); ``seconds``: wall clock of the loop."""

    verts: torch.Tensor
    faces: torch.Tensor
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
