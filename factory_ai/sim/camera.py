"""Headless rendering of the cell's cameras (EGL, OSMesa fallback) and camera realism.

One OpenGL context per `OffscreenRenderer`; colour and depth come from one render pass.
Realism (lighting change, exposure drift, blur, sensor noise) is applied with a seeded
generator, so a seeded run renders the same images.
"""

from __future__ import annotations

import logging
import os
import weakref

import cv2
import numpy as np

from factory_ai.sim.gl_backend import ensure_headless_gl

ensure_headless_gl()  # before MuJoCo picks its OpenGL library
import mujoco  # noqa: E402

from factory_ai.sim.types import CameraRealism

log = logging.getLogger(__name__)


def _make_gl_context(width: int, height: int):
    """An offscreen GL context on the backend MuJoCo was imported with (see `gl_backend`)."""
    backend = os.environ.get("MUJOCO_GL", "").lower().strip() or "glfw"
    try:
        from mujoco import gl_context

        ctx = gl_context.GLContext(width, height)
        ctx.make_current()
    except Exception as exc:
        msg = (f"cannot create a {backend} OpenGL context ({exc}); install libegl1 + libgl1-mesa-dri (EGL) "
               "or libosmesa6 (OSMesa), or set MUJOCO_GL")
        raise RuntimeError(msg) from exc
    return ctx, backend


class OffscreenRenderer:
    """Renders model cameras into numpy arrays (RGB uint8 and depth in metres)."""

    def __init__(self, model: mujoco.MjModel, max_geom: int = 2000, samples: int | None = None,
                 shadow_size: int | None = None) -> None:
        self.model = model
        w, h = model.vis.global_.offwidth, model.vis.global_.offheight
        self._gl, self.backend = _make_gl_context(w, h)
        # Multisampling and shadow map size are fixed when the context is made.
        quality = model.vis.quality
        saved = (quality.offsamples, quality.shadowsize)
        if samples is not None:
            quality.offsamples = samples
        if shadow_size is not None:
            quality.shadowsize = shadow_size
        try:
            self._ctx = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_100.value)
        finally:
            quality.offsamples, quality.shadowsize = saved
        # Free GL before interpreter teardown (PyOpenGL may be half gone by then).
        self._finalizer = weakref.finalize(self, _free_gl, self._ctx, self._gl)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN.value, self._ctx)
        self._ctx.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        self._scene = mujoco.MjvScene(model, maxgeom=max_geom)
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self.option = mujoco.MjvOption()
        self._buffers: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._max_w, self._max_h = w, h

    def upload_texture(self, texture_id: int) -> None:
        """Send a texture whose `model.tex_data` changed to the GPU."""
        self._gl.make_current()
        mujoco.mjr_uploadTexture(self.model, self._ctx, texture_id)

    def render(self, data: mujoco.MjData, camera_id: int, width: int, height: int,
               depth: bool = True, shadows: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Render one camera: (H, W, 3) uint8 RGB and (H, W) float32 depth along the view axis (m)."""
        if width > self._max_w or height > self._max_h:
            msg = (f"render size {width}x{height} exceeds the offscreen buffer "
                   f"{self._max_w}x{self._max_h}; raise SimConfig/cell resolution before building")
            raise ValueError(msg)
        self._gl.make_current()
        self._camera.fixedcamid = camera_id
        mujoco.mjv_updateScene(self.model, data, self.option, None, self._camera,
                               mujoco.mjtCatBit.mjCAT_ALL.value, self._scene)
        self._scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = shadows
        rect = mujoco.MjrRect(0, 0, width, height)
        mujoco.mjr_render(rect, self._scene, self._ctx)
        key = (width, height)
        if key not in self._buffers:
            self._buffers[key] = (np.empty((height, width, 3), np.uint8), np.empty((height, width), np.float32))
        rgb_buf, depth_buf = self._buffers[key]
        mujoco.mjr_readPixels(rgb_buf, depth_buf if depth else None, rect, self._ctx)
        rgb = np.ascontiguousarray(rgb_buf[::-1])  # OpenGL rows start at the bottom
        if not depth:
            return rgb, None
        return rgb, self._linear_depth(depth_buf[::-1])

    def _linear_depth(self, z_buffer: np.ndarray) -> np.ndarray:
        # MuJoCo renders with reversed Z: undo its projection (as mujoco.Renderer does).
        extent = self.model.stat.extent
        near = np.float32(self.model.vis.map.znear * extent)
        far = np.float32(self.model.vis.map.zfar * extent)
        c = -(far + near) / (far - near)
        d = -(np.float32(2.0) * far * near) / (far - near)
        c = np.float32(-0.5) * c - np.float32(0.5)
        d = np.float32(-0.5) * d
        return (d / (z_buffer.astype(np.float32) + c)).astype(np.float32)

    def close(self) -> None:
        """Free the GL resources (idempotent)."""
        self._finalizer()
        self._ctx = self._gl = None


def _free_gl(mjr_context, gl_context) -> None:
    try:
        gl_context.make_current()
        mjr_context.free()
        gl_context.free()
    except Exception:  # noqa: BLE001 - at shutdown GL may already be gone; nothing left to free
        pass


class RealismState:
    """Slow random drifts of lighting and exposure (Ornstein-Uhlenbeck), advanced per frame."""

    def __init__(self, realism: CameraRealism, rng: np.random.Generator) -> None:
        self.realism = realism
        self.rng = rng
        self.log_exposure = 0.0
        self.light_change = 0.0
        self._last_s: float | None = None
        self._bank: np.ndarray | None = None

    def advance(self, now_s: float) -> None:
        """Move the drifts to time `now_s` (exact OU transition, so any frame rate gives the same law)."""
        r = self.realism
        if r.enabled and self._last_s is None:  # first frame: draw from the stationary law
            self.log_exposure = float(self.rng.normal(0.0, r.exposure_drift_std))
            self.light_change = float(self.rng.normal(0.0, r.light_change_std))
        elif r.enabled:
            dt = max(0.0, now_s - self._last_s)
            a = np.exp(-dt / max(r.drift_time_constant_s, 1e-6))
            s = np.sqrt(max(0.0, 1.0 - a * a))
            self.log_exposure = a * self.log_exposure + s * float(self.rng.normal(0.0, r.exposure_drift_std))
            self.light_change = a * self.light_change + s * float(self.rng.normal(0.0, r.light_change_std))
        self._last_s = now_s

    def resample(self) -> None:
        """Draw lighting and exposure afresh from their stationary law (independent scenes)."""
        r = self.realism
        if r.enabled:
            self.log_exposure = float(self.rng.normal(0.0, r.exposure_drift_std))
            self.light_change = float(self.rng.normal(0.0, r.light_change_std))

    def snapshot(self) -> tuple:
        """Everything that makes the next frame's degradations (to render a scene twice alike)."""
        return (self.log_exposure, self.light_change, self._last_s, self.rng.bit_generator.state, self._bank)

    def restore(self, state: tuple) -> None:
        """Go back to a `snapshot`."""
        self.log_exposure, self.light_change, self._last_s, rng_state, self._bank = state
        self.rng.bit_generator.state = rng_state

    @property
    def light_gain(self) -> float:
        return float(np.clip(1.0 + self.light_change, 0.3, 2.0))

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """Exposure gain, blur and sensor noise on an (H, W, 3) uint8 image."""
        r = self.realism
        if not r.enabled:
            return rgb
        img = rgb
        if r.blur_sigma_px > 0.0:
            img = cv2.GaussianBlur(img, (0, 0), r.blur_sigma_px)
        img = img.astype(np.float32)
        gain = np.float32(np.exp(self.log_exposure))
        if gain != 1.0:
            img *= gain
        if r.noise_std > 0.0:
            img += self._noise(img.size).reshape(img.shape)
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)

    def _noise(self, n: int) -> np.ndarray:
        # Drawing fresh Gaussians for a whole frame costs more than rendering it; a seeded bank
        # of four frames' worth, read at a random offset each frame, is as random to a detector.
        if self._bank is None or self._bank.size < 2 * n:
            self._bank = self.realism.noise_std * self.rng.standard_normal(4 * n, dtype=np.float32)
        start = int(self.rng.integers(0, self._bank.size - n))
        return self._bank[start: start + n]
