""":class:`Boxes3D` <-> ``vision_msgs/Detection3DArray`` (4.x, shipped in ``fusion_stack/io/msg``) and ->
``visualization_msgs/MarkerArray`` (for viewers).

Each box is one ``Detection3D``: ``bbox.center`` = centre and yaw (a rotation about z), ``bbox.size`` = (l, w,
h), one result with ``hypothesis.class_id`` = the class name and ``score``, ``id`` = the track id ("" when
unknown). Box velocities have no place in the message and are not written (read back as NaN).

Reading needs the class-name table: :func:`detections_from_msg` (the default converter) uses the class ids of
each message in order of first appearance; :func:`detections_converter` builds a converter with a fixed table
(ids outside it are an error), which keeps labels stable across messages.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from typing import Any

import numpy as np

from fusion_stack.io.convert_common import ConversionContext, Converter, header_of
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.ros_messages import make_header, message_class
from fusion_stack.types import Boxes3D, SampleError


def _boxes_from_msg(msg: Any, ctx: ConversionContext, class_names: Sequence[str] | None) -> Boxes3D:
    stamp, frame = header_of(msg)
    names: list[str] = list(class_names) if class_names is not None else []
    rows, labels, scores, tracks = [], [], [], []
    for i, det in enumerate(msg.detections):
        where = f"detections[{i}]"
        if not det.results:
            raise RecordingError("a detection needs at least one result (class and score)",
                                 field=f"{where}.results")
        best = max(det.results, key=lambda r: float(r.hypothesis.score))
        cls = str(best.hypothesis.class_id)
        if cls not in names:
            if class_names is not None:
                raise RecordingError(f"class id {cls!r} is not one of {tuple(class_names)}",
                                     field=f"{where}.results.hypothesis.class_id")
            names.append(cls)
        c, q, s = det.bbox.center.position, det.bbox.center.orientation, det.bbox.size
        yaw = np.arctan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))
        rows.append([c.x, c.y, c.z, s.x, s.y, s.z, yaw])
        labels.append(names.index(cls))
        scores.append(float(best.hypothesis.score))
        try:
            tracks.append(int(det.id) if str(det.id).strip() else -1)
        except ValueError as err:
            raise RecordingError(f"id {det.id!r} is not an integer track id", field=f"{where}.id") from err
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
    try:
        return Boxes3D(ctx.stamp(stamp), ctx.frame(frame), ctx.sensor_id, arr[:, :3], arr[:, 3:6], arr[:, 6],
                       np.asarray(labels, dtype=np.int64), tuple(names), np.asarray(scores, dtype=np.float64),
                       track_ids=np.asarray(tracks, dtype=np.int64))
    except SampleError as err:
        raise RecordingError(err.reason, field=f"detections.{err.field}") from err


def detections_from_msg(msg: Any, ctx: ConversionContext) -> Boxes3D:
    """``vision_msgs/Detection3DArray`` -> Boxes3D, class names in order of first appearance."""
    return _boxes_from_msg(msg, ctx, None)


def detections_converter(class_names: Sequence[str]) -> Converter:
    """A Detection3DArray converter whose labels index ``class_names``."""
    names = tuple(class_names)

    def convert(msg: Any, ctx: ConversionContext) -> Boxes3D:
        return _boxes_from_msg(msg, ctx, names)

    return convert


def _box_pose(typestore: Any, x: float, y: float, z: float, yaw: float) -> Any:
    return message_class(typestore, "geometry_msgs/msg/Pose")(
        position=message_class(typestore, "geometry_msgs/msg/Point")(x=float(x), y=float(y), z=float(z)),
        orientation=message_class(typestore, "geometry_msgs/msg/Quaternion")(
            x=0.0, y=0.0, z=float(np.sin(yaw / 2.0)), w=float(np.cos(yaw / 2.0))))


def boxes_to_detections_msg(boxes: Boxes3D, typestore: Any) -> Any:
    """A ``vision_msgs/msg/Detection3DArray`` of ``boxes``."""
    header = make_header(typestore, boxes.stamp_ns, boxes.frame_id)
    v_cls = message_class(typestore, "geometry_msgs/msg/Vector3")
    dets = []
    for i in range(len(boxes)):
        (x, y, z), (length, width, height), yaw = boxes.centers[i], boxes.sizes[i], float(boxes.yaws[i])
        pose = _box_pose(typestore, x, y, z, yaw)
        hyp = message_class(typestore, "vision_msgs/msg/ObjectHypothesis")(
            class_id=boxes.class_names[int(boxes.labels[i])], score=float(boxes.scores[i]))
        result = message_class(typestore, "vision_msgs/msg/ObjectHypothesisWithPose")(
            hypothesis=hyp, pose=message_class(typestore, "geometry_msgs/msg/PoseWithCovariance")(
                pose=pose, covariance=np.zeros(36)))
        bbox = message_class(typestore, "vision_msgs/msg/BoundingBox3D")(
            center=pose, size=v_cls(x=float(length), y=float(width), z=float(height)))
        track = int(boxes.track_ids[i])
        dets.append(message_class(typestore, "vision_msgs/msg/Detection3D")(
            header=header, results=[result], bbox=bbox, id=str(track) if track >= 0 else ""))
    return message_class(typestore, "vision_msgs/msg/Detection3DArray")(header=header, detections=dets)


def _color(label: int) -> tuple[float, float, float]:
    """A distinct colour per label (golden-ratio steps around the hue circle)."""
    return colorsys.hsv_to_rgb((label * 0.61803398875) % 1.0, 0.8, 0.95)


def boxes_to_marker_array(boxes: Boxes3D, typestore: Any, *, lifetime_ns: int = 0) -> Any:
    """A ``visualization_msgs/msg/MarkerArray``: a DELETEALL marker, then one translucent CUBE per box
    (namespace = sensor id, id = box index, colour per label)."""
    m_cls = message_class(typestore, "visualization_msgs/msg/Marker")
    names = {f[0] for f in typestore.fielddefs["visualization_msgs/msg/Marker"][1]}
    header = make_header(typestore, boxes.stamp_ns, boxes.frame_id)
    v_cls = message_class(typestore, "geometry_msgs/msg/Vector3")
    c_cls = message_class(typestore, "std_msgs/msg/ColorRGBA")
    d_cls = message_class(typestore, "builtin_interfaces/msg/Duration")
    life = d_cls(sec=int(lifetime_ns // 1_000_000_000), nanosec=int(lifetime_ns % 1_000_000_000))

    def marker(action: int, i: int, pose: Any, scale: Any, color: Any) -> Any:
        kw: dict[str, Any] = {
            "header": header, "ns": boxes.sensor_id, "id": i, "type": 1, "action": action, "pose": pose,
            "scale": scale, "color": color, "lifetime": life, "frame_locked": False, "points": [], "colors": [],
            "text": "", "mesh_resource": "", "mesh_use_embedded_materials": False}
        if "texture_resource" in names:
            kw.update(texture_resource="", uv_coordinates=[], mesh_file=message_class(
                typestore, "visualization_msgs/msg/MeshFile")(filename="", data=np.zeros(0, np.uint8)),
                      texture=message_class(typestore, "sensor_msgs/msg/CompressedImage")(
                          header=header, format="", data=np.zeros(0, np.uint8)))
        return m_cls(**kw)

    markers = [marker(3, 0, _box_pose(typestore, 0, 0, 0, 0), v_cls(x=1.0, y=1.0, z=1.0),
                      c_cls(r=0.0, g=0.0, b=0.0, a=0.0))]
    for i in range(len(boxes)):
        (x, y, z), (length, width, height) = boxes.centers[i], boxes.sizes[i]
        r, g, b = _color(int(boxes.labels[i]))
        markers.append(marker(0, i, _box_pose(typestore, x, y, z, float(boxes.yaws[i])),
                              v_cls(x=float(length), y=float(width), z=float(height)),
                              c_cls(r=r, g=g, b=b, a=0.5)))
    return message_class(typestore, "visualization_msgs/msg/MarkerArray")(markers=markers)
