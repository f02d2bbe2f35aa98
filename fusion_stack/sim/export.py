"""Writing a simulation through the stack's own formats, so nothing downstream knows it is synthetic:

* :func:`write_rosbag`: a ROS 2 bag (mcap) through :class:`~fusion_stack.io.recording_writer.RecordingWriter`:
  every sensor topic (``/<id>/points``, ``/<id>/image_raw[/compressed]`` with ``camera_info``), ``/tf_static``
  (the rig), ``/tf`` (``map`` -> ``base_link``), ``/ego_pose/odom`` (nav_msgs/Odometry with twist) and
  ``/ground_truth/detections`` (+ markers); :func:`fusion_stack.io.recording.open_recording` replays it.
* :func:`write_nuscenes_info`: an mmdet3d nuScenes info folder (``info.json``, ``samples/<CHANNEL>/`` with
  ``.pcd.bin`` sweeps and undistorted JPEG images) that
  :func:`fusion_stack.io.nuscenes_dataset.open_nuscenes_info` loads; one keyframe every ``keyframe_every``
  LiDAR sweeps.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fusion_stack.calibration.rig import Rig
from fusion_stack.geometry.se3 import SE3
from fusion_stack.io.recording_writer import RecordingWriter
from fusion_stack.sim.classes import BOX_CLASSES
from fusion_stack.sim.errors import SimulationError
from fusion_stack.sim.run import SimulatedSample
from fusion_stack.sim.truth import BoxTruth
from fusion_stack.types import Boxes3D, CameraImage, EgoPose, PointCloud

Progress = Callable[[SimulatedSample], None]


def write_rosbag(samples: Iterable[SimulatedSample], path: str | os.PathLike[str], rig: Rig, *,
                 compress_images: bool = True, on_sample: Progress | None = None) -> int:
    """Write ``samples`` to a new mcap bag directory ``path``; returns the number of messages written.
    Images are JPEG-compressed unless ``compress_images`` is False (raw rgb8: about 0.7 MB each)."""
    p = Path(path)
    if p.exists():
        raise SimulationError(f"{p} already exists; choose a new bag directory", field="out")
    with RecordingWriter(p, rig=rig, compress_images=compress_images) as writer:
        for s in samples:
            writer.write(s.sample)
            if on_sample is not None:
                on_sample(s)
        return writer.message_count


# --- nuScenes info ------------------------------------------------------------------------------------------------
def _us(stamp_ns: int) -> int:
    return stamp_ns // 1000


def write_nuscenes_info(samples: Iterable[SimulatedSample], folder: str | os.PathLike[str], rig: Rig, *,
                        keyframe_every: int = 10, on_sample: Progress | None = None) -> int:
    """Write an mmdet3d nuScenes info folder (see the module docstring); returns the number of keyframes.

    Images are undistorted to the pinhole ``cam2img`` (nuScenes images are rectified); box ``bbox_3d`` are in
    the LiDAR frame with z at the box centre; ``velocity`` is (vx, vy) in the LiDAR frame. Each keyframe takes
    the first image of every camera at or after its sweep's stamp (the frame the sweep triggered); a keyframe
    whose cameras do not all fire again before the end is dropped."""
    out = Path(folder)
    if out.exists() and any(out.iterdir()):
        raise SimulationError(f"{out} exists and is not empty", field="out")
    lidars = rig.sensors_of_kind("lidar")
    if not lidars:
        raise SimulationError("the nuScenes info format needs a LiDAR in the rig", field="rig")
    lidar_id = lidars[0].sensor_id
    cams = {s.sensor_id: s for s in rig.sensors_of_kind("camera")}
    maps: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for cid, sensor in cams.items():
        cam = sensor.camera
        assert cam is not None
        maps[cid] = cv2.initUndistortRectifyMap(cam.K, cam.distortion_coefficients, None, cam.K,
                                                (cam.width, cam.height), cv2.CV_32FC1)
    pose: EgoPose | None = None
    pending: tuple[PointCloud, EgoPose] | None = None
    open_frames: list[dict[str, Any]] = []  # keyframes waiting for the camera frame of their sweep
    items: list[dict[str, Any]] = []
    sweep_index = -1
    lidar2ego = rig.sensor2base(lidar_id)
    for s in samples:
        if on_sample is not None:
            on_sample(s)
        x = s.sample
        if isinstance(x, EgoPose):
            pose = x
        elif isinstance(x, CameraImage):
            for kf in open_frames:
                if x.stamp_ns >= kf["cloud"].stamp_ns and x.sensor_id not in kf["images"]:
                    kf["images"][x.sensor_id] = x
            while open_frames and len(open_frames[0]["images"]) == len(cams):
                kf = open_frames.pop(0)
                items.append(_keyframe(out, kf["cloud"], kf["ego"], kf["boxes"], kf["truth"], kf["images"], cams,
                                       maps, lidar2ego, rig, len(items)))
        elif isinstance(x, PointCloud) and x.sensor_id == lidar_id:
            sweep_index += 1
            pending = (x, pose) if sweep_index % keyframe_every == 0 and pose is not None else None
        elif isinstance(x, Boxes3D) and pending is not None and isinstance(s.truth, BoxTruth):
            open_frames.append({"cloud": pending[0], "ego": pending[1], "boxes": x, "truth": s.truth,
                                "images": {}})
            pending = None
    # keyframes whose cameras never fired again before the end are dropped
    doc = {"metainfo": {"dataset": "nuscenes", "version": "sim", "info_version": "1.1",
                        "categories": {name: i for i, name in enumerate(BOX_CLASSES)}},
           "data_list": items}
    out.mkdir(parents=True, exist_ok=True)
    (out / "info.json").write_text(json.dumps(doc, indent=1))
    return len(items)


def _keyframe(out: Path, cloud: PointCloud, ego: EgoPose, boxes: Boxes3D, truth: BoxTruth,
              latest: dict[str, CameraImage], cams: dict[str, Any], maps: dict[str, tuple[np.ndarray, np.ndarray]],
              lidar2ego: SE3, rig: Rig, index: int) -> dict[str, Any]:
    stamp = _us(cloud.stamp_ns)
    lidar_dir = out / "samples" / cloud.sensor_id
    lidar_dir.mkdir(parents=True, exist_ok=True)
    name = f"samples/{cloud.sensor_id}/sim__{cloud.sensor_id}__{stamp:016d}.pcd.bin"
    ring = cloud.fields["ring"].astype(np.float32)
    np.column_stack([cloud.positions, cloud.fields["intensity"], ring]).astype("<f4").tofile(out / name)
    images: dict[str, Any] = {}
    for cid, img in sorted(latest.items()):
        cam = cams[cid].camera
        mx, my = maps[cid]
        rect = cv2.remap(np.ascontiguousarray(img.data), mx, my, cv2.INTER_LINEAR)
        cdir = out / "samples" / cid
        cdir.mkdir(parents=True, exist_ok=True)
        iname = f"samples/{cid}/sim__{cid}__{_us(img.stamp_ns):016d}.jpg"
        cv2.imwrite(str(out / iname), cv2.cvtColor(rect, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        cam2ego = rig.sensor2base(cid)
        lidar2cam = cam2ego.inverse() @ lidar2ego
        images[cid] = {"img_path": iname, "width": cam.width, "height": cam.height, "cam2img": cam.K.tolist(),
                       "cam2ego": cam2ego.as_matrix().tolist(),
                       "lidar2cam": lidar2cam.as_matrix().tolist(), "timestamp": img.stamp_ns * 1e-9,
                       "sample_data_token": f"{cid}_{_us(img.stamp_ns)}"}
    instances = []
    for i in range(len(boxes)):
        v = boxes.velocities[i]
        instances.append({
            "bbox_3d": [*map(float, boxes.centers[i]), *map(float, boxes.sizes[i]), float(boxes.yaws[i])],
            "bbox_label_3d": int(boxes.labels[i]), "bbox_3d_isvalid": bool(truth.num_lidar_pts[i] > 0),
            "velocity": [float(v[0]), float(v[1])], "num_lidar_pts": int(truth.num_lidar_pts[i]),
            "num_radar_pts": int(truth.num_radar_pts[i]), "instance_id": int(truth.instance_ids[i]),
            "visibility": float(truth.visibility[i])})
    return {"sample_idx": index, "token": f"sim_{stamp}", "timestamp": cloud.stamp_ns * 1e-9,
            "ego2global": ego.pose.as_matrix().tolist(),
            "lidar_points": {"num_pts_feats": 5, "lidar_path": name, "lidar2ego": lidar2ego.as_matrix().tolist()},
            "images": images, "instances": instances}
