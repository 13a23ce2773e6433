"""Process precision: systematic pick errors estimated from pick outcomes (Kalman / RLS).

Measurement model. After each grasp the cell reports e = p_part - p_cup (base frame, m): where
the part centre was relative to the cup. Split it along the belt (unit u, travel direction)
and across it (w = z x u). The planner predicted the part from an observation taken a lead
time T (s) before the grasp, with a belt speed v (m/s, its prediction). If the camera
extrinsic is off by c = (c_u, c_w) (true = measured + c), the image stamps lag the capture by
an unmodelled latency L, and the true belt speed is s * v, then to first order

    e_u = c_u + v * L + (s - 1) * v * T + noise
    e_w = c_w + noise

i.e. y = H x + n with state x = [c_u, L, s - 1, c_w] and H = [[1, v, v*T, 0], [0, 0, 0, 1]].
The three along-belt terms are separable when v and T vary between picks (three regressors
1, v, v*T that are not collinear). With one belt speed, c_u and L cannot be told apart, but
the filter still learns their sum c_u + v*L, which is what the grasp needs at that speed (the
prior splits it; the correction is right for the speed it was learnt at).

Closed loop: the planner applies the published corrections x_a, so the cell observes the
residual e = H (x - x_a). The filter adds H x_a back to recover the raw error before updating.

The filter is a Kalman filter on a (nearly) constant state: with no process noise it is
exactly recursive least squares with a Gaussian prior; a small random-walk process noise lets
it follow slow drift. Outliers (a part that slid in the cup) are gated on the innovation's
Mahalanobis distance. The state is clipped to the physical bounds, so corrections are bounded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from factory_ai.types import PickOutcome, PickResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Corrections:
    """Process corrections for the planner.

    Apply as: part position = vision position + camera_offset_base_m (x, y in the base frame);
    total latency = configured latency + latency_s; predicted belt speed *= belt_speed_scale.
    """

    camera_offset_base_m: tuple[float, float] = (0.0, 0.0)
    latency_s: float = 0.0
    belt_speed_scale: float = 1.0

    def as_dict(self) -> dict:
        """JSON-friendly form."""
        return {"camera_offset_base_m": [float(x) for x in self.camera_offset_base_m],
                "latency_s": float(self.latency_s), "belt_speed_scale": float(self.belt_speed_scale)}

    @classmethod
    def from_dict(cls, d: dict) -> Corrections:
        """Inverse of as_dict."""
        off = d.get("camera_offset_base_m", (0.0, 0.0))
        return cls((float(off[0]), float(off[1])), float(d.get("latency_s", 0.0)),
                   float(d.get("belt_speed_scale", 1.0)))


@dataclass(frozen=True)
class ProcessConfig:
    """Priors, noise and bounds of the process estimator (SI units)."""

    belt_dir_base: tuple[float, float, float] = (1.0, 0.0, 0.0)  # belt travel direction, base frame
    meas_noise_m: float = 0.0015  # std of one measured part-cup offset, per axis
    prior_offset_m: float = 0.01  # prior std of each camera offset component
    prior_latency_s: float = 0.05  # prior std of the unmodelled latency
    prior_scale: float = 0.03  # prior std of the belt speed scale error
    drift_offset_m: float = 2e-5  # random-walk std per pick (lets the estimate follow drift)
    drift_latency_s: float = 1e-4
    drift_scale: float = 1e-4
    max_offset_m: float = 0.02  # |camera offset| bound per component
    max_latency_s: float = 0.2  # |latency| bound
    scale_bounds: tuple[float, float] = (0.9, 1.1)
    gate_sigma: float = 5.0  # reject a pick whose innovation is beyond this many sigmas
    log_deadband: tuple[float, float, float] = (0.0005, 0.002, 0.002)  # m, s, scale: log changes above

    def __post_init__(self) -> None:
        u = np.asarray(self.belt_dir_base, dtype=float)
        if u.shape != (3,) or abs(u[2]) > 1e-6 or np.linalg.norm(u[:2]) < 1e-9:
            msg = f"ProcessConfig.belt_dir_base must be a horizontal 3-vector, got {self.belt_dir_base}"
            raise ValueError(msg)
        if self.meas_noise_m <= 0.0:
            msg = f"ProcessConfig.meas_noise_m must be > 0, got {self.meas_noise_m}"
            raise ValueError(msg)
        lo, hi = self.scale_bounds
        if not lo < 1.0 < hi:
            msg = f"ProcessConfig.scale_bounds must bracket 1.0, got {self.scale_bounds}"
            raise ValueError(msg)


@dataclass
class ProcessEstimator:
    """Kalman / RLS estimate of camera offset, latency and belt speed scale (module docstring).

    Pure and in memory; `FeedbackLearner` persists `state_dict()` with every pick.
    """

    config: ProcessConfig = field(default_factory=ProcessConfig)

    def __post_init__(self) -> None:
        cfg = self.config
        u = np.asarray(cfg.belt_dir_base, dtype=float)
        self._u = u[:2] / np.linalg.norm(u[:2])  # along the belt (base x, y)
        self._w = np.array([-self._u[1], self._u[0]])  # across: z x u
        self.x = np.zeros(4)  # [c_u m, L s, s - 1, c_w m]
        self.P = np.diag([cfg.prior_offset_m, cfg.prior_latency_s, cfg.prior_scale, cfg.prior_offset_m]) ** 2
        self._Q = np.diag([cfg.drift_offset_m, cfg.drift_latency_s, cfg.drift_scale, cfg.drift_offset_m]) ** 2
        self._R = np.eye(2) * cfg.meas_noise_m**2
        lim = np.array([cfg.max_offset_m, cfg.max_latency_s, 0.0, cfg.max_offset_m])
        self._lo = -lim
        self._hi = lim.copy()
        self._lo[2], self._hi[2] = cfg.scale_bounds[0] - 1.0, cfg.scale_bounds[1] - 1.0
        self.n_updates = 0
        self.n_rejected = 0
        self.n_skipped = 0
        self._published = self.corrections()

    # -- conversions ----------------------------------------------------------------------

    def _state_of(self, c: Corrections) -> np.ndarray:
        off = np.asarray(c.camera_offset_base_m, dtype=float)
        return np.array([off @ self._u, c.latency_s, c.belt_speed_scale - 1.0, off @ self._w])

    def corrections(self) -> Corrections:
        """The current (bounded) corrections."""
        x = np.clip(self.x, self._lo, self._hi)
        off = x[0] * self._u + x[3] * self._w
        return Corrections((float(off[0]), float(off[1])), float(x[1]), float(1.0 + x[2]))

    def std(self) -> dict:
        """1-sigma uncertainty of the estimate: camera offset along/across (m), latency (s), scale."""
        sd = np.sqrt(np.diag(self.P))
        return {"offset_along_m": float(sd[0]), "latency_s": float(sd[1]), "scale": float(sd[2]),
                "offset_across_m": float(sd[3])}

    # -- update ---------------------------------------------------------------------------

    def update(
        self, offset_part_cup_base_m: np.ndarray, v_belt_pred_mps: float, lead_time_s: float,
        applied: Corrections | None = None,
    ) -> bool:
        """Fold in one grasp's part-cup offset; returns False if gated out as an outlier.

        Args:
            offset_part_cup_base_m: (2,) or (3,) part centre minus cup position at grasp (m).
            v_belt_pred_mps: belt speed the planner predicted with (m/s, before the scale).
            lead_time_s: time from the observation the plan used to the grasp (s).
            applied: corrections the planner used for this pick (None: none).
        """
        e = np.asarray(offset_part_cup_base_m, dtype=float).reshape(-1)[:2]
        v, T = float(v_belt_pred_mps), float(lead_time_s)
        if e.shape != (2,) or not (np.all(np.isfinite(e)) and np.isfinite(v) and np.isfinite(T)):
            msg = f"ProcessEstimator.update: bad inputs offset={offset_part_cup_base_m}, v={v_belt_pred_mps}, T={lead_time_s}"
            raise ValueError(msg)
        H = np.array([[1.0, v, v * T, 0.0], [0.0, 0.0, 0.0, 1.0]])
        y = np.array([e @ self._u, e @ self._w])
        if applied is not None:
            y = y + H @ self._state_of(applied)  # raw error = residual + what the planner corrected
        self.P = self.P + self._Q
        S = H @ self.P @ H.T + self._R
        nu = y - H @ self.x
        d2 = float(nu @ np.linalg.solve(S, nu))
        if d2 > self.config.gate_sigma**2:
            self.n_rejected += 1
            logger.warning("process estimator: pick offset %s rejected as outlier (%.1f sigma)", e, np.sqrt(d2))
            return False
        K = self.P @ H.T @ np.linalg.inv(S)
        self.x = np.clip(self.x + K @ nu, self._lo, self._hi)
        # Joseph form keeps P symmetric positive definite over thousands of updates.
        A = np.eye(4) - K @ H
        self.P = A @ self.P @ A.T + K @ self._R @ K.T
        self.n_updates += 1
        self._log_if_changed()
        return True

    def update_from_outcome(self, outcome: PickOutcome, applied: Corrections | None = None) -> bool:
        """`update` from a PickOutcome; False when it carries no usable measurement."""
        if (
            # A miss with a measured offset (the part under the cup, off-centre) is the most
            # informative outcome of all: it is what a large systematic error looks like.
            outcome.result not in (PickResult.IN_BIN, PickResult.DROPPED, PickResult.MISSED)
            or outcome.offset_part_cup_base_m is None
            or not np.isfinite(getattr(outcome, "v_belt_pred_mps", float("nan")))
            or not np.isfinite(getattr(outcome, "lead_time_s", float("nan")))
        ):
            self.n_skipped += 1
            return False
        return self.update(outcome.offset_part_cup_base_m, outcome.v_belt_pred_mps, outcome.lead_time_s, applied)

    def _log_if_changed(self) -> None:
        new = self.corrections()
        old = self._published
        d_off = float(np.max(np.abs(np.subtract(new.camera_offset_base_m, old.camera_offset_base_m))))
        d_lat = abs(new.latency_s - old.latency_s)
        d_sc = abs(new.belt_speed_scale - old.belt_speed_scale)
        db = self.config.log_deadband
        if d_off > db[0] or d_lat > db[1] or d_sc > db[2]:
            logger.info(
                "process corrections: camera offset (%.2f, %.2f) mm, latency %.1f ms, belt speed scale %.4f "
                "after %d picks", 1e3 * new.camera_offset_base_m[0], 1e3 * new.camera_offset_base_m[1],
                1e3 * new.latency_s, new.belt_speed_scale, self.n_updates,
            )
            self._published = new

    # -- persistence ----------------------------------------------------------------------

    def state_dict(self) -> dict:
        """JSON-friendly state (restored by load_state_dict)."""
        return {"x": self.x.tolist(), "P": self.P.tolist(), "n_updates": self.n_updates,
                "n_rejected": self.n_rejected, "n_skipped": self.n_skipped}

    def load_state_dict(self, d: dict) -> None:
        """Restore a state saved by state_dict."""
        x = np.asarray(d["x"], dtype=float)
        P = np.asarray(d["P"], dtype=float)
        if x.shape != (4,) or P.shape != (4, 4) or not (np.all(np.isfinite(x)) and np.all(np.isfinite(P))):
            msg = f"ProcessEstimator.load_state_dict: bad state shapes x {x.shape}, P {P.shape}"
            raise ValueError(msg)
        self.x = np.clip(x, self._lo, self._hi)
        self.P = P
        self.n_updates = int(d.get("n_updates", 0))
        self.n_rejected = int(d.get("n_rejected", 0))
        self.n_skipped = int(d.get("n_skipped", 0))
        self._published = self.corrections()


class ProcessLearner:
    """Learns only the process corrections, from pick outcomes, in memory (no classifier to tune).

    For a cell inspected by something other than our classifier (the twin's ground truth in
    `factory-ai demo --inspection truth`): it has the learner's recording interface, so the
    pipeline treats it like `FeedbackLearner`, but verdicts and labels are not kept.
    """

    live_model = None
    threshold = float("nan")

    def __init__(self, config: ProcessConfig | None = None) -> None:
        self.estimator = ProcessEstimator(config or ProcessConfig())

    @property
    def corrections(self) -> Corrections:
        """The bounded corrections in force."""
        return self.estimator.corrections()

    def record_verdict(self, verdict: object, crop: object = None) -> None:
        """Verdicts carry nothing for the process estimate."""

    def record_label(self, label: object) -> None:
        """Labels carry nothing for the process estimate."""

    def record_pick(self, outcome: PickOutcome, applied: Corrections | None = None) -> Corrections:
        """Update the estimate from one pick; returns the corrections to apply."""
        self.estimator.update_from_outcome(outcome, self.corrections if applied is None else applied)
        return self.estimator.corrections()

    def maybe_update(self) -> None:
        """Nothing is ever due: the estimate updates with every pick."""

    def summary(self) -> dict:
        """Corrections and counts, for the run's metrics."""
        return {"corrections": self.corrections.as_dict(), "picks_used": self.estimator.n_updates}
