r"""Gradient descent whose step size is certified: :class:`CertifiedGD`.

Descent lemma: if $\nabla L$ is $L_{grad}$-Lipschitz on a convex set holding $\theta$
and $\theta_+ = \theta - \eta g$ with $g = \nabla L(\theta)$ and $0 < \eta \le
1/L_{grad}$, then

$$ L(\theta_+) \le L(\theta) - \eta\big(1 - \tfrac{\eta L_{grad}}2\big)\|g\|^2
   \le L(\theta) - \tfrac{\eta}2\|g\|^2 . $$

:func:`symlip.certified_step` certifies $L_{grad}$ on the ball $B_r(\bar\theta)$ around
the current parameters (rounded up, so $\eta = 1/L_{grad}$ rounded down) and checks that
the step stays in the ball.  CertifiedGD re-certifies at most every ``every`` steps and
keeps the certified $\eta$ while the iterates stay in that ball: both ends of each step
in the (convex) ball, so each step is covered by the lemma.  The training loss is
$L(\theta) = \frac1n\sum_i \lambda(f(x_i;\theta), y_i)$ on the data given to the
optimizer; the step uses the gradient in ``p.grad`` (the caller's ``backward()`` of that
same loss, see :func:`symlip.torch.track.torch_loss`).

What is rigorous and what is not: $L_{grad}$ is a certified upper bound (outward-rounded
intervals); the ball membership of each iterate is checked in float64 with a relative
margin of $10^{-9}$ (far above the rounding error of the norm); the gradient is the float
gradient PyTorch computes.  For float64 models the decrease is then guaranteed up to the
float error of the gradient (relative order $10^{-16}$) and of the loss evaluation; for
float32 models the parameters are rounded to float32 after the step (a perturbation of
relative size $6\cdot10^{-8}$) and the guarantee is only approximate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from symlip.errors import InputError

__all__ = ["CertifiedGD"]

_MARGIN = 1e-9


def _guaranteed_decrease(res: Any) -> float | None:
    """The decrease :func:`symlip.certified_step` guarantees, whatever the field is
    called in this version (``None`` if it has none)."""
    for name in ("guaranteed_decrease", "decrease_lower", "decrease_estimate"):
        v = getattr(res, name, None)
        if v is not None:
            v = getattr(v, "lower_float", v)  # an Enclosure: its lower end
            try:
                return float(v)
            except (TypeError, ValueError):
                return None
    return None


class CertifiedGD(torch.optim.Optimizer):
    r"""Full-batch gradient descent with the certified step $\eta = 1/L_{grad}$.

    Args:
        model: an ``nn.Sequential`` of ``Linear`` (with bias) and smooth activation
            modules (tanh, sigmoid, GELU, softplus, SiLU, ELU...): the gradient of the
            loss must be Lipschitz (ReLU has no such bound; the first step raises
            :class:`~symlip.errors.NotSmoothError`).
        data: the training inputs ``(n, d)`` (array or tensor).
        targets: MSE: ``(n, outputs)``; cross-entropy: class indices ``(n,)``.
        loss: ``"mse"`` ($\frac12\|f - y\|^2$, mean over rows) or ``"cross-entropy"``.
        radius: initial radius $r$ of the parameter ball.
        every: re-certify at most every ``every`` steps (earlier when an iterate would
            leave the ball).
        adapt: after each certification move the next radius towards
            ``1.5 * every * (step length)`` (geometric mean of the two, within
            ``[min_radius, max_radius]``): the ball then holds about ``every`` steps, and
            a smaller ball gives a smaller $L_{grad}$.

    Attributes:
        history: one dictionary per step: ``eta``, ``L_grad`` (certified upper),
            ``radius``, ``certified`` (re-certified at this step), ``shortened`` (the
            step was cut to stay in the ball), ``guaranteed_decrease`` (the field of
            :class:`~symlip.bounds.smooth.StepResult` at a certification, else None).

    Example::

        opt = CertifiedGD(model, X, Y, loss="mse", every=10)
        for _ in range(200):
            opt.zero_grad()
            loss = 0.5 * ((model(Xt) - Yt) ** 2).sum(1).mean()
            loss.backward()
            opt.step()
    """

    def __init__(self, model: Any, data: Any, targets: Any, loss: str = "mse", *,
                 radius: float = 1e-2, every: int = 10, adapt: bool = True,
                 min_radius: float = 1e-6, max_radius: float = 10.0) -> None:
        if not (math.isfinite(radius) and radius > 0):
            raise InputError(f"radius={radius!r} must be finite and > 0")
        if not isinstance(every, int) or every < 1:
            raise InputError(f"every={every!r} must be an integer >= 1")
        for m in model.modules():
            if isinstance(m, torch.nn.Linear) and m.bias is None:
                raise InputError("CertifiedGD needs every Linear to have a bias "
                                 "(the parameter vector of a symlip network)")
        super().__init__(model.parameters(), {})
        self.model = model
        self.data = np.asarray(data.detach().cpu().double() if torch.is_tensor(data)
                               else data, dtype=float)
        t = targets.detach().cpu() if torch.is_tensor(targets) else targets
        self.targets = np.asarray(t)
        self.loss_name = loss
        self.radius = float(radius)
        self.every = every
        self.adapt = adapt
        self.min_radius, self.max_radius = float(min_radius), float(max_radius)
        self.history: list[dict[str, Any]] = []
        self._centre: np.ndarray | None = None
        self._ball = 0.0
        self._eta = 0.0
        self._L = math.inf
        self._since = 0

    def _params(self) -> list[torch.Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    def _certify(self, g: np.ndarray) -> dict[str, Any]:
        """Certify $L_{grad}$ on the ball around the current parameters; returns the
        record of the certification.  Grows the radius (up to twice) when the certified
        step leaves the ball."""
        from symlip.arith.enclosure import Truth
        from symlip.bounds.smooth import certified_step
        from symlip.torch._convert import params_vector, to_network

        net = to_network(self.model)
        theta = params_vector(self.model)
        r = self.radius
        for _ in range(3):
            res = certified_step(net, self.data, self.targets, self.loss_name, r)
            if res.in_ball is Truth.TRUE:
                break
            grown = min(max(2 * r, res.step_norm.upper_float * 1.1), self.max_radius)
            if grown <= r:  # at max_radius: the step will be shortened to the ball
                break
            r = grown
        self._centre, self._ball = theta, r
        self._eta, self._L = float(res.eta), res.L_grad.upper_float
        self._since = 0
        return {"in_ball": res.in_ball.value, "guaranteed_decrease": _guaranteed_decrease(res)}

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # noqa: D102 - see the class docstring
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = self._params()
        if any(p.grad is None for p in params):
            raise InputError("CertifiedGD.step: a parameter has no gradient; call "
                             "loss.backward() first (or pass a closure)")
        from symlip.torch._convert import params_vector, set_params_vector

        g = np.concatenate([p.grad.detach().cpu().double().reshape(-1).numpy()
                            for p in params])
        theta = params_vector(self.model)
        gn = float(np.linalg.norm(g))
        rec: dict[str, Any] = {"certified": False, "shortened": False,
                               "guaranteed_decrease": None}

        def inside(th: np.ndarray) -> bool:
            return (self._centre is not None and th.shape == self._centre.shape and
                    float(np.linalg.norm(th - self._centre)) <= self._ball * (1 - _MARGIN))

        new = theta - self._eta * g
        if self._centre is None or self._since >= self.every or not (inside(theta)
                                                                      and inside(new)):
            rec.update(self._certify(g), certified=True)
            new = theta - self._eta * g
            if not inside(new):  # cut the step to the ball: eta' < 1/L_grad still descends
                eta = float(np.nextafter(self._ball * (1 - 2 * _MARGIN) / gn, 0.0))
                new = theta - min(eta, self._eta) * g
                rec["shortened"] = True
                rec["eta_used"] = min(eta, self._eta)
        set_params_vector(self.model, new)
        self._since += 1
        if rec["certified"] and self.adapt:
            # geometric mean of the old radius and the target: damps the see-saw of
            # (bigger ball -> bigger L_grad -> shorter steps -> smaller ball)
            target = max(1.5 * self.every * self._eta * gn, self.min_radius)
            self.radius = min(max(math.sqrt(self._ball * target), self.min_radius),
                              self.max_radius)
        rec.update(eta=rec.get("eta_used", self._eta), L_grad=self._L, radius=self._ball)
        self.history.append(rec)
        return loss
