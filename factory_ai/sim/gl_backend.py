"""Choose MuJoCo's headless OpenGL backend before MuJoCo is imported: EGL, else OSMesa.

`import mujoco` binds the process to the backend named by MUJOCO_GL (it loads that GL library
right away), so a failed EGL attempt cannot be followed by OSMesa in the same process. The
modules of `factory_ai.sim` that import MuJoCo call `ensure_headless_gl()` first: with
MUJOCO_GL unset or "egl" it tries EGL in a child process (about half a second, once per
process tree: the answer is kept in FACTORY_AI_GL_BACKEND) and sets MUJOCO_GL to "osmesa"
when EGL does not work here. Any other MUJOCO_GL value is left alone.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

log = logging.getLogger(__name__)

_PROBE = (
    "import mujoco\n"
    "from mujoco.egl import GLContext\n"
    "ctx = GLContext(16, 16)\n"
    "ctx.make_current()\n"
    "mujoco.MjrContext(mujoco.MjModel.from_xml_string('<mujoco/>'), 100).free()\n"
    "ctx.free()\n"
)


def egl_works() -> bool:
    """Whether MuJoCo can render with EGL here (tried in a child process)."""
    env = dict(os.environ, MUJOCO_GL="egl", PYOPENGL_PLATFORM="egl")
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                             timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("EGL probe could not run: %s", exc)
        return False
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        log.warning("EGL rendering unavailable (%s); using OSMesa", last)
    return out.returncode == 0


def ensure_headless_gl() -> str:
    """Set MUJOCO_GL to a working headless backend unless MuJoCo is already imported; returns it."""
    wanted = os.environ.get("MUJOCO_GL", "").lower().strip()
    if "mujoco" in sys.modules or wanted not in ("", "egl"):
        return wanted
    backend = os.environ.get("FACTORY_AI_GL_BACKEND", "")
    if backend not in ("egl", "osmesa"):
        backend = "egl" if egl_works() else "osmesa"
        os.environ["FACTORY_AI_GL_BACKEND"] = backend
    os.environ["MUJOCO_GL"] = backend
    if os.environ.get("PYOPENGL_PLATFORM", backend) != backend:
        log.warning("PYOPENGL_PLATFORM=%s overridden by %s", os.environ["PYOPENGL_PLATFORM"], backend)
    os.environ["PYOPENGL_PLATFORM"] = backend
    return backend
