"""The error of one bad message in a recording: a :class:`RecordingError` that also carries the topic, the
log stamp, the message type and why it was rejected."""

from __future__ import annotations

from fusion_stack.io.errors import RecordingError

#: why a message was rejected (the keys of ``Recording.skipped``)
SKIP_REASONS = ("unknown_type", "deserialize", "convert", "storage")


class BadMessageError(RecordingError):
    """A message that could not be read or converted. The text reads
    ``<file>: <field>: topic <topic> at <stamp> ns (<type>): <reason>``; for a storage failure (``topic`` empty)
    ``<file>: storage: after <stamp> ns: <reason>``."""

    def __init__(self, message: str, *, source: str | None, field: str | None, topic: str, stamp_ns: int,
                 msgtype: str, reason_kind: str) -> None:
        where = f"topic {topic} at {stamp_ns} ns ({msgtype})" if topic else f"after {stamp_ns} ns"
        super().__init__(f"{where}: {message}", source=source, field=field)
        self.topic = topic
        self.stamp_ns = stamp_ns
        self.msgtype = msgtype
        self.reason_kind = reason_kind
