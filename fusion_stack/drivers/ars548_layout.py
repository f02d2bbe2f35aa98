"""Byte layouts of the Continental ARS548 UDP messages (big-endian, packed), as NumPy dtypes.

Every message starts with an 8-byte SOME/IP header ``service_id (u16), method_id (u16), length (u32: bytes
after this header)``. The detection list (method 336, 35336 bytes) and the object list (method 329, 9401 bytes)
continue with the rest of the SOME/IP header (client id, session id, protocol/interface version, message type,
return code), an AUTOSAR E2E profile 7 header (``crc u64, length u32, counter u32, data id u32``) and the
sensor time stamp (``nanoseconds u32, seconds u32, sync status u8``: 1 ok, 2 never synced, 3 lost). Then:

* detection list: event data qualifier, extended qualifier, origin (invalid flags, x/y/z position and std in
  metres, roll/pitch/yaw and std in radians: the sensor's mounting in the vehicle frame), list invalid flags,
  800 detections of :data:`DETECTION` (the first ``number_of_detections`` are valid), the ambiguity-free radial
  velocity domain (m/s), the number of detections, alignment corrections (rad) and status;
* object list: event data qualifier, extended qualifier, ``number_of_objects`` (u8) and 50 objects of
  :data:`OBJECT` (positions, velocities and accelerations in the vehicle frame, metres and radians).

The sensor status (method 380, 84 bytes) carries the configuration, among it the cycle time in ms.
Field names and order follow Continental's interface specification as transcribed by tier4/nebula
(``continental_ars548.hpp``).
"""

from __future__ import annotations

import numpy as np

SERVICE_ID = 0
DETECTION_LIST_METHOD = 336
OBJECT_LIST_METHOD = 329
SENSOR_STATUS_METHOD = 380
DETECTION_LIST_SIZE = 35336
OBJECT_LIST_SIZE = 9401
SENSOR_STATUS_SIZE = 84
MAX_DETECTIONS = 800
MAX_OBJECTS = 50

_F = ">f4"

HEADER = np.dtype([
    ("service_id", ">u2"), ("method_id", ">u2"), ("length", ">u4"),
    ("client_id", ">u2"), ("session_id", ">u2"), ("protocol_version", "u1"), ("interface_version", "u1"),
    ("message_type", "u1"), ("return_code", "u1"),
    ("crc", ">u8"), ("e2e_length", ">u4"), ("counter", ">u4"), ("data_id", ">u4"),
    ("timestamp_nanoseconds", ">u4"), ("timestamp_seconds", ">u4"), ("sync_status", "u1"),
])
"""The common 45-byte head of the detection and object lists."""

DETECTION = np.dtype([
    ("azimuth", _F), ("azimuth_std", _F), ("invalid_flags", "u1"), ("elevation", _F), ("elevation_std", _F),
    ("range", _F), ("range_std", _F), ("range_rate", _F), ("range_rate_std", _F), ("rcs", "i1"),
    ("measurement_id", ">u2"), ("positive_predictive_value", "u1"), ("classification", "u1"),
    ("multi_target_probability", "u1"), ("object_id", ">u2"), ("ambiguity_flag", "u1"), ("sort_index", ">u2"),
])
"""One detection (44 bytes): polar position in the sensor frame (rad, m), range rate (m/s), RCS (dBsm), and
quality: standard deviations, invalid flags (bit 0 distance, 1 distance std, 2 azimuth, 3 azimuth std,
4 elevation, 5 elevation std, 6 range rate, 7 range rate std), positive predictive value and multi-target
probability and ambiguity flag (percent), classification, the id of the object it belongs to."""

DETECTION_LIST_HEAD = np.dtype([
    *HEADER.descr,
    ("event_data_qualifier", ">u4"), ("extended_qualifier", "u1"), ("origin_invalid_flags", ">u2"),
    ("origin_x", _F), ("origin_x_std", _F), ("origin_y", _F), ("origin_y_std", _F), ("origin_z", _F),
    ("origin_z_std", _F), ("origin_roll", _F), ("origin_roll_std", _F), ("origin_pitch", _F),
    ("origin_pitch_std", _F), ("origin_yaw", _F), ("origin_yaw_std", _F), ("list_invalid_flags", "u1"),
])
DETECTION_LIST_TAIL = np.dtype([
    ("ambiguity_free_velocity_min", _F), ("ambiguity_free_velocity_max", _F), ("number_of_detections", ">u4"),
    ("alignment_azimuth_correction", _F), ("alignment_elevation_correction", _F), ("alignment_status", "u1"),
    ("reserved", "u1", (14,)),
])
DETECTION_LIST = np.dtype([*DETECTION_LIST_HEAD.descr, ("detections", DETECTION, (MAX_DETECTIONS,)),
                          *DETECTION_LIST_TAIL.descr])


def _xy_block(prefix: str) -> list[tuple[str, str]]:
    return [(f"{prefix}_invalid_flags", "u1"), (f"{prefix}_x", _F), (f"{prefix}_x_std", _F), (f"{prefix}_y", _F),
            (f"{prefix}_y_std", _F), (f"{prefix}_covariance_xy", _F)]


CLASSES = ("car", "truck", "motorcycle", "bicycle", "pedestrian", "animal", "hazard", "unknown")
"""The object classes of the ARS548, in packet order."""

OBJECT = np.dtype([
    ("status_sensor", ">u2"), ("id", ">u4"), ("age", ">u2"), ("status_measurement", "u1"),
    ("status_movement", "u1"), ("position_invalid_flags", ">u2"), ("position_reference", "u1"),
    ("position_x", _F), ("position_x_std", _F), ("position_y", _F), ("position_y_std", _F), ("position_z", _F),
    ("position_z_std", _F), ("position_covariance_xy", _F), ("orientation", _F), ("orientation_std", _F),
    ("existence_invalid_flags", "u1"), ("existence_probability", _F), ("existence_ppv", _F),
    *[(f"classification_{c}", "u1") for c in CLASSES],
    ("classification_overdrivable", "u1"), ("classification_underdrivable", "u1"),
    *_xy_block("absolute_velocity"), *_xy_block("relative_velocity"), *_xy_block("absolute_acceleration"),
    *_xy_block("relative_acceleration"),
    ("orientation_rate_invalid_flags", "u1"), ("orientation_rate", _F), ("orientation_rate_std", _F),
    ("shape_length_status", ">u4"), ("shape_length_invalid_flags", "u1"), ("shape_length", _F),
    ("shape_length_std", _F),
    ("shape_width_status", ">u4"), ("shape_width_invalid_flags", "u1"), ("shape_width", _F), ("shape_width_std", _F),
])
"""One object (187 bytes): track id and age, measurement status (0 measured, 1 predicted, 2 new) and movement
status (0 dynamic, 1 static), the reference point the position refers to, position/orientation with std,
existence probability (percent), class probabilities (percent), absolute and relative velocity and
acceleration (m/s, m/s^2) with std and covariance, yaw rate (rad/s) and the length/width of the box (m)."""

OBJECT_LIST = np.dtype([
    *HEADER.descr,
    ("event_data_qualifier", ">u4"), ("extended_qualifier", "u1"), ("number_of_objects", "u1"),
    ("objects", OBJECT, (MAX_OBJECTS,)),
])

SENSOR_STATUS = np.dtype([
    ("service_id", ">u2"), ("method_id", ">u2"), ("length", ">u4"),
    ("timestamp_nanoseconds", ">u4"), ("timestamp_seconds", ">u4"), ("sync_status", "u1"),
    ("sw_version_major", "u1"), ("sw_version_minor", "u1"), ("sw_version_patch", "u1"),
    ("longitudinal", _F), ("lateral", _F), ("vertical", _F), ("yaw", _F), ("pitch", _F), ("plug_orientation", "u1"),
    ("length_m", _F), ("width_m", _F), ("height_m", _F), ("wheelbase_m", _F), ("maximum_distance", ">u2"),
    ("frequency_slot", "u1"), ("cycle_time", "u1"), ("time_slot", "u1"), ("hcc", "u1"),
    ("powersave_standstill", "u1"), ("sensor_ip_address0", "u1", (4,)), ("sensor_ip_address1", "u1", (4,)),
    ("configuration_counter", "u1"), ("longitudinal_velocity_status", "u1"),
    ("longitudinal_acceleration_status", "u1"), ("lateral_acceleration_status", "u1"), ("yaw_rate_status", "u1"),
    ("steering_angle_status", "u1"), ("driving_direction_status", "u1"), ("characteristic_speed_status", "u1"),
    ("radar_status", "u1"), ("voltage_status", "u1"), ("temperature_status", "u1"), ("blockage_status", "u1"),
])

assert DETECTION.itemsize == 44 and DETECTION_LIST.itemsize == DETECTION_LIST_SIZE
assert OBJECT.itemsize == 187 and OBJECT_LIST.itemsize == OBJECT_LIST_SIZE
assert SENSOR_STATUS.itemsize == SENSOR_STATUS_SIZE
