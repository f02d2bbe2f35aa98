"""Message type definitions: the ROS type stores of ``rosbags`` plus the ``.msg`` files shipped in
``fusion_stack/io/msg/<package>/msg/<Name>.msg`` (Velodyne and Nebula packets, Ouster ``PacketMsg``,
``vision_msgs`` 4.x detections), merged with the definitions stored in a recording.

Precedence when a recording is read: definitions stored in the recording, then the shipped ones, then the
ROS distribution store (chosen from the recording's ``ros_distro`` when it names one, else the latest).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from rosbags.typesys import Stores, TypesysError, get_types_from_msg, get_typestore

from fusion_stack.io.errors import RecordingError

_DISTRO_STORES = {
    "foxy": Stores.ROS2_FOXY, "galactic": Stores.ROS2_GALACTIC, "humble": Stores.ROS2_HUMBLE,
    "iron": Stores.ROS2_IRON, "jazzy": Stores.ROS2_JAZZY, "kilted": Stores.ROS2_KILTED,
}


@functools.cache
def shipped_message_definitions() -> dict[str, str]:
    """``{msgtype: .msg text}`` of the definitions shipped with fusion_stack (e.g.
    ``vision_msgs/msg/Detection3DArray``)."""
    out: dict[str, str] = {}
    root = resources.files("fusion_stack.io").joinpath("msg")
    for pkg in sorted(root.iterdir(), key=lambda p: p.name):
        sub = pkg.joinpath("msg")
        if not sub.is_dir():
            continue
        for f in sorted(sub.iterdir(), key=lambda p: p.name):
            if f.name.endswith(".msg"):
                out[f"{pkg.name}/msg/{f.name[:-4]}"] = f.read_text(encoding="utf-8")
    return out


@functools.cache
def _shipped_fielddefs() -> dict[str, Any]:
    typs: dict[str, Any] = {}
    for name, text in shipped_message_definitions().items():
        typs.update(get_types_from_msg(text, name))
    return typs


def store_for_distro(ros_distro: str | None, *, ros1: bool = False) -> Stores:
    """The rosbags store of a ROS distribution name (ROS 1: Noetic; unknown or None: the latest ROS 2)."""
    if ros1:
        return Stores.ROS1_NOETIC
    return _DISTRO_STORES.get((ros_distro or "").lower(), Stores.LATEST)


def build_typestore(stored: dict[str, Any], *, base: Stores = Stores.LATEST) -> Any:
    """A rosbags ``Typestore``: ``base`` + the shipped definitions + ``stored`` (a recording's own ``fielddefs``),
    later ones winning where they disagree."""
    base_store = get_typestore(base)
    extra = {**_shipped_fielddefs(), **stored}

    def fields(defn: Any) -> list[tuple[str, Any]]:
        return [(f[0].lower(), f[1]) for f in defn[1]]

    conflicts = {k for k, v in extra.items() if k in base_store.fielddefs and fields(base_store.fielddefs[k])
                 != fields(v)}
    try:
        if not conflicts:
            new = {k: v for k, v in extra.items() if k not in base_store.fielddefs}
            if new:
                base_store.register(new)
            return base_store
        # The recording (or a shipped file) redefines a distribution type: start from an empty store and add
        # only the distribution types nobody redefined.
        store = get_typestore(Stores.EMPTY)
        merged = {**{k: v for k, v in base_store.fielddefs.items() if k not in conflicts}, **extra}
        store.register(merged)
        return store
    except TypesysError as err:
        raise RecordingError(f"cannot build the message type store: {err}", field="type") from err


def default_typestore() -> Any:
    """The latest ROS 2 store plus the shipped definitions (for writing recordings and for tests)."""
    return build_typestore({}, base=Stores.LATEST)
