"""A picture of a rig: sensor frames seen from above and from the side, with camera frustums."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fusion_stack.calibration.rig import Rig

_COLORS = {"camera": "tab:blue", "lidar": "tab:red", "radar": "tab:green", "imu": "tab:purple",
           "gnss": "tab:brown", "other": "tab:gray"}
_MARKERS = {"camera": "s", "lidar": "o", "radar": "^", "imu": "D", "gnss": "P", "other": "x"}


def plot_rig(rig: Rig, path: str | Path, *, frustum_range_m: float | None = None, dpi: int = 110) -> Path:
    """Draw ``rig`` in its base frame (top view: x forward up the page, y left; side view: x right, z up)
    with frame axes, sensor markers and camera frustums out to ``frustum_range_m`` metres (default: scaled to
    the rig). Writes a PNG (or any format matplotlib knows by suffix) and returns its path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graph = rig.frame_graph()
    frames = [f for f in graph.frames if graph.connected(f, rig.base_frame)]
    poses = {f: graph.lookup(f, rig.base_frame) for f in frames}
    origins = np.array([poses[f].translation for f in frames])
    extent = float(np.ptp(origins[:, :2], axis=0).max()) if len(origins) > 1 else 1.0
    reach = frustum_range_m or max(1.5, 0.6 * extent)
    axis_len = 0.25 * reach

    fig, (top, side) = plt.subplots(1, 2, figsize=(13, 6.5), gridspec_kw={"width_ratios": [1.3, 1]})
    # top view: plot (-y, x) so that forward is up and left is left.
    for f in frames:
        pose = poses[f]
        o = pose.translation
        for axis, color in ((0, "r"), (1, "g"), (2, "b")):
            tip = o + axis_len * pose.rotation[:, axis]
            top.plot([-o[1], -tip[1]], [o[0], tip[0]], color=color, lw=0.8, alpha=0.6)
            side.plot([o[0], tip[0]], [o[2], tip[2]], color=color, lw=0.8, alpha=0.6)
    for s in rig.sensors:
        if s.frame_id not in poses:
            continue
        pose = poses[s.frame_id]
        o = pose.translation
        c = _COLORS.get(s.kind, "k")
        top.scatter([-o[1]], [o[0]], marker=_MARKERS.get(s.kind, "x"), color=c, s=60, zorder=5)
        side.scatter([o[0]], [o[2]], marker=_MARKERS.get(s.kind, "x"), color=c, s=60, zorder=5)
        top.annotate(s.sensor_id, (-o[1], o[0]), textcoords="offset points", xytext=(5, 5), fontsize=7, color=c)
        side.annotate(s.sensor_id, (o[0], o[2]), textcoords="offset points", xytext=(5, 5), fontsize=7, color=c)
        if s.camera is not None:
            cam = s.camera
            w, h = cam.width, cam.height
            uv = np.array([[0.0, h / 2], [w - 1.0, h / 2], [w / 2, 0.0], [w / 2, h - 1.0]])
            rays = cam.unproject(uv)
            rays = rays / np.linalg.norm(rays, axis=1, keepdims=True) * reach
            ends = pose.apply(rays)
            top.fill([-o[1], -ends[0, 1], -ends[1, 1]], [o[0], ends[0, 0], ends[1, 0]], color=c, alpha=0.15)
            top.plot([-ends[0, 1], -o[1], -ends[1, 1]], [ends[0, 0], o[0], ends[1, 0]], color=c, lw=0.8)
            side.fill([o[0], ends[2, 0], ends[3, 0]], [o[2], ends[2, 2], ends[3, 2]], color=c, alpha=0.15)
    top.set_aspect("equal")
    top.set_xlabel("-y (left <-> right) [m]")
    top.set_ylabel("x (forward) [m]")
    top.set_title(f"{rig.name}: top view of {rig.base_frame}")
    top.grid(alpha=0.3)
    side.set_aspect("equal")
    side.set_xlabel("x (forward) [m]")
    side.set_ylabel("z (up) [m]")
    side.set_title("side view (axes: x red, y green, z blue)")
    side.grid(alpha=0.3)
    handles = [plt.Line2D([], [], marker=_MARKERS[k], color=_COLORS[k], ls="", label=k)
               for k in sorted({s.kind for s in rig.sensors})]
    top.legend(handles=handles, loc="lower right", fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
