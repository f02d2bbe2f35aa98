"""A tf2-style frame graph: a tree of named frames joined by static and time-stamped transforms.

Each edge stores ``child2parent`` (the pose of the child frame in its parent, as a ROS ``TransformStamped`` with
``header.frame_id = parent`` and ``child_frame_id = child``). ``lookup(src, dst, stamp_ns)`` returns ``src2dst``
along the tree. Frame ids are strings; axes follow REP-103 (x forward, y left, z up; camera optical frames:
z forward, x right, y down). Stamps are integer nanoseconds.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

from fusion_stack.geometry.errors import GeometryError
from fusion_stack.geometry.se3 import SE3


class FrameGraphError(GeometryError):
    """Unknown frame, cycle, second parent, disconnected frames or a stamp outside the buffered time range."""


@dataclass(frozen=True)
class StaticTransform:
    """A fixed edge of the frame graph: ``child2parent`` maps points in ``child`` into ``parent``."""

    parent: str
    child: str
    child2parent: SE3


class _TimedEdge:
    """Time-stamped transforms of one edge, sorted by stamp, bounded to ``cache_ns`` of history."""

    def __init__(self, cache_ns: int) -> None:
        self.stamps: list[int] = []
        self.poses: list[SE3] = []
        self.cache_ns = cache_ns

    def insert(self, stamp_ns: int, child2parent: SE3) -> None:
        i = bisect.bisect_left(self.stamps, stamp_ns)
        if i < len(self.stamps) and self.stamps[i] == stamp_ns:
            self.poses[i] = child2parent
        else:
            self.stamps.insert(i, stamp_ns)
            self.poses.insert(i, child2parent)
        cutoff = self.stamps[-1] - self.cache_ns
        drop = bisect.bisect_left(self.stamps, cutoff)
        if drop:
            del self.stamps[:drop]
            del self.poses[:drop]

    def at(self, stamp_ns: int, max_extrapolation_ns: int, label: str) -> SE3:
        s = self.stamps
        if stamp_ns < s[0] - max_extrapolation_ns or stamp_ns > s[-1] + max_extrapolation_ns:
            raise FrameGraphError(
                f"stamp {stamp_ns} ns is outside the buffered range [{s[0]}, {s[-1]}] ns of {label} "
                f"(max extrapolation {max_extrapolation_ns} ns)",
                field="stamp_ns",
            )
        if len(s) == 1:
            return self.poses[0]
        i = min(max(bisect.bisect_right(s, stamp_ns), 1), len(s) - 1)
        t0, t1 = s[i - 1], s[i]
        alpha = (stamp_ns - t0) / (t1 - t0)
        return self.poses[i - 1].interpolate(self.poses[i], alpha)


class FrameGraph:
    """A tree of frames (a forest while parts are unconnected), like a tf2 buffer.

    ``cache_ns`` bounds the history kept per time-stamped edge; ``max_extrapolation_ns`` bounds how far a
    lookup may go past the newest (or before the oldest) stamp of a time-stamped edge.
    """

    def __init__(self, *, cache_ns: int = 10_000_000_000, max_extrapolation_ns: int = 0) -> None:
        self._parent: dict[str, str] = {}
        self._static: dict[str, SE3] = {}
        self._timed: dict[str, _TimedEdge] = {}
        self._frames: set[str] = set()
        self.cache_ns = int(cache_ns)
        self.max_extrapolation_ns = int(max_extrapolation_ns)

    # --- building ----------------------------------------------------------------------------
    def _check_edge(self, parent: str, child: str) -> None:
        for name, value in (("parent", parent), ("child", child)):
            if not isinstance(value, str) or not value:
                raise FrameGraphError(f"frame ids must be non-empty strings, got {value!r}", field=name)
        if parent == child:
            raise FrameGraphError(f"a frame cannot be its own parent: {child!r}", field="child")
        old = self._parent.get(child)
        if old is not None and old != parent:
            raise FrameGraphError(
                f"frame {child!r} already has parent {old!r}; a frame has one parent (tree), "
                f"cannot add {parent!r} -> {child!r}",
                field="child",
            )
        if old is None and child in self._ancestors(parent):
            chain = " -> ".join(reversed(self._ancestors(parent)))
            raise FrameGraphError(
                f"adding {parent!r} -> {child!r} would close a cycle ({chain} -> {child})", field="child"
            )

    def add_static(self, parent: str, child: str, child2parent: SE3) -> None:
        """Add or replace a fixed transform ``child2parent`` (points in ``child`` -> ``parent``)."""
        self._check_edge(parent, child)
        if child in self._timed:
            raise FrameGraphError(f"edge {parent!r} -> {child!r} is time-stamped; cannot make it static",
                                  field="child")
        self._parent[child] = parent
        self._static[child] = child2parent
        self._frames.update((parent, child))

    def add_transform(self, parent: str, child: str, stamp_ns: int, child2parent: SE3) -> None:
        """Add a time-stamped transform ``child2parent`` valid at ``stamp_ns`` (integer nanoseconds)."""
        self._check_edge(parent, child)
        if child in self._static:
            raise FrameGraphError(f"edge {parent!r} -> {child!r} is static; cannot add a stamped transform",
                                  field="child")
        if isinstance(stamp_ns, bool) or not isinstance(stamp_ns, int):
            raise FrameGraphError(f"stamp_ns must be an int (nanoseconds), got {stamp_ns!r}", field="stamp_ns")
        self._parent[child] = parent
        self._timed.setdefault(child, _TimedEdge(self.cache_ns)).insert(stamp_ns, child2parent)
        self._frames.update((parent, child))

    def add_frame(self, frame: str) -> None:
        """Declare a frame with no parent yet (a root)."""
        if not isinstance(frame, str) or not frame:
            raise FrameGraphError(f"frame ids must be non-empty strings, got {frame!r}", field="frame")
        self._frames.add(frame)

    # --- queries -----------------------------------------------------------------------------
    @property
    def frames(self) -> tuple[str, ...]:
        """All frame ids, sorted."""
        return tuple(sorted(self._frames))

    def __contains__(self, frame: object) -> bool:
        return frame in self._frames

    def parent(self, frame: str) -> str | None:
        """Parent frame id, or None for a root."""
        self._require(frame)
        return self._parent.get(frame)

    def children(self, frame: str) -> tuple[str, ...]:
        """Child frame ids, sorted."""
        self._require(frame)
        return tuple(sorted(c for c, p in self._parent.items() if p == frame))

    def roots(self) -> tuple[str, ...]:
        """Frames with no parent, sorted (one per connected tree)."""
        return tuple(sorted(f for f in self._frames if f not in self._parent))

    def root_of(self, frame: str) -> str:
        """The root of the tree holding ``frame``."""
        self._require(frame)
        return self._ancestors(frame)[-1]

    def is_static(self, frame: str) -> bool:
        """True when the edge from ``frame`` to its parent is static (False for roots and stamped edges)."""
        return frame in self._static

    def static_transforms(self) -> Iterator[StaticTransform]:
        """The static edges, ordered parents before children."""
        for frame in self._topological():
            if frame in self._static:
                yield StaticTransform(self._parent[frame], frame, self._static[frame])

    def connected(self, a: str, b: str) -> bool:
        """True when both frames exist and lie in one tree."""
        return a in self._frames and b in self._frames and self.root_of(a) == self.root_of(b)

    def lookup(self, src: str, dst: str, stamp_ns: int | None = None) -> SE3:
        """``src2dst`` at ``stamp_ns``: maps points in ``src`` into ``dst``.

        ``stamp_ns`` is required when the path crosses a time-stamped edge; stamped edges are interpolated
        (SLERP + linear). Raises FrameGraphError for unknown or disconnected frames or stamps out of range.
        """
        self._require(src, field="src")
        self._require(dst, field="dst")
        up_src = self._ancestors(src)
        up_dst = self._ancestors(dst)
        if up_src[-1] != up_dst[-1]:
            raise FrameGraphError(
                f"frames {src!r} and {dst!r} are not connected: {src!r} is in the tree rooted at "
                f"{up_src[-1]!r}, {dst!r} in the tree rooted at {up_dst[-1]!r}",
                field="dst",
            )
        common = next(f for f in up_src if f in set(up_dst))
        src2common = SE3.identity()
        for frame in up_src[: up_src.index(common)]:
            src2common = self._edge(frame, stamp_ns) @ src2common
        dst2common = SE3.identity()
        for frame in up_dst[: up_dst.index(common)]:
            dst2common = self._edge(frame, stamp_ns) @ dst2common
        return dst2common.inverse() @ src2common

    def lookup_between(self, src: str, src_stamp_ns: int, dst: str, dst_stamp_ns: int, *,
                       fixed_frame: str) -> SE3:
        """``src@src_stamp -> dst@dst_stamp`` through ``fixed_frame`` (a frame that does not move between the
        two stamps, e.g. ``map`` or ``odom``), as tf2's advanced lookupTransform: maps points observed in ``src``
        at ``src_stamp_ns`` to where they are in ``dst`` at ``dst_stamp_ns``.
        """
        src2fixed = self.lookup(src, fixed_frame, src_stamp_ns)
        fixed2dst = self.lookup(fixed_frame, dst, dst_stamp_ns)
        return fixed2dst @ src2fixed

    def copy(self) -> FrameGraph:
        """A copy sharing no mutable state."""
        g = FrameGraph(cache_ns=self.cache_ns, max_extrapolation_ns=self.max_extrapolation_ns)
        g._parent = dict(self._parent)
        g._static = dict(self._static)
        g._frames = set(self._frames)
        for child, edge in self._timed.items():
            e = _TimedEdge(edge.cache_ns)
            e.stamps, e.poses = list(edge.stamps), list(edge.poses)
            g._timed[child] = e
        return g

    def tree_text(self) -> str:
        """The frame trees as indented text, one frame per line, with each edge's translation."""
        lines: list[str] = []

        def visit(frame: str, depth: int) -> None:
            if depth == 0:
                lines.append(frame)
            else:
                if frame in self._static:
                    t = self._static[frame].translation
                    rpy = self._static[frame].rotation_angle()
                    info = f"static  t=[{t[0]:+.3f}, {t[1]:+.3f}, {t[2]:+.3f}] m  angle={rpy:.3f} rad"
                else:
                    n = len(self._timed[frame].stamps)
                    info = f"stamped ({n} transforms)"
                lines.append("  " * depth + f"└─ {frame}  ({info})")
            for child in self.children(frame):
                visit(child, depth + 1)

        for root in self.roots():
            visit(root, 0)
        return "\n".join(lines)

    # --- internals ---------------------------------------------------------------------------
    def _require(self, frame: str, *, field: str = "frame") -> None:
        if frame not in self._frames:
            known = ", ".join(sorted(self._frames)) or "none"
            raise FrameGraphError(f"unknown frame {frame!r}; known frames: {known}", field=field)

    def _ancestors(self, frame: str) -> list[str]:
        """[frame, parent, grandparent, ..., root]."""
        chain = [frame]
        while chain[-1] in self._parent:
            chain.append(self._parent[chain[-1]])
        return chain

    def _edge(self, child: str, stamp_ns: int | None) -> SE3:
        if child in self._static:
            return self._static[child]
        label = f"edge {self._parent[child]!r} -> {child!r}"
        if stamp_ns is None:
            raise FrameGraphError(f"{label} is time-stamped: lookup needs stamp_ns", field="stamp_ns")
        return self._timed[child].at(stamp_ns, self.max_extrapolation_ns, label)

    def _topological(self) -> list[str]:
        out: list[str] = []
        stack = list(reversed(self.roots()))
        while stack:
            f = stack.pop()
            out.append(f)
            stack.extend(reversed(self.children(f)))
        return out
