"""Reading ROS 2 XML launch files (the subset fusion_stack's launch files use) into node process specs.

``ros2 launch`` runs the files of ``launch/`` on a vehicle; :func:`load_launch_file` reads the same files so that
``fusion-stack launch`` can start the same nodes, with the same names, parameters and remappings, where only
rclpy from PyPI is installed (``launch``/``launch_ros`` have no wheels).

Supported: ``<launch>``, ``<arg name default description>``, ``<let name value>``, ``<group>`` (scopes
``set_parameter`` and ``let``), ``<set_parameter name value>``, ``<node pkg exec name namespace output args
on_exit if unless>`` with ``<param name value>``, ``<param from="file.yaml">`` and ``<remap from to>``;
substitutions ``$(var NAME)``, ``$(env NAME [DEFAULT])``, ``$(find-pkg-share PKG)``, ``$(dirname)``; conditions
``true``/``false``/``1``/``0``. Anything else is a :class:`LaunchError` naming the file and element.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fusion_stack.errors import FusionStackError


class LaunchError(FusionStackError, ValueError):
    """A launch file this launcher cannot read or run; names the file and the element."""


@dataclass(frozen=True)
class NodeSpec:
    """One node to start: ``package`` and ``executable``, ROS ``name`` and ``namespace``, parameter files and
    ``name := value`` parameters (values as written, YAML-typed by rclpy), remappings, extra arguments, and
    whether its exit shuts the whole launch down (``on_exit="shutdown"``)."""

    package: str
    executable: str
    name: str
    namespace: str = ""
    param_files: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    remaps: tuple[tuple[str, str], ...] = ()
    arguments: tuple[str, ...] = ()
    shutdown_on_exit: bool = False

    def ros_arguments(self) -> list[str]:
        """The ``--ros-args`` command-line arguments that give the node its name, namespace, parameters and
        remappings (as ``ros2 launch`` passes them)."""
        out = [*self.arguments, "--ros-args", "-r", f"__node:={self.name}"]
        if self.namespace:
            out += ["-r", f"__ns:={self.namespace if self.namespace.startswith('/') else '/' + self.namespace}"]
        for f in self.param_files:
            out += ["--params-file", f]
        for k, v in self.params:
            out += ["-p", f"{k}:={v}"]
        for a, b in self.remaps:
            out += ["-r", f"{a}:={b}"]
        return out


@dataclass(frozen=True)
class LaunchDescription:
    """A launch file read with its arguments: ``nodes`` in file order and the declared ``arguments`` (name ->
    (default or None, description))."""

    path: Path
    nodes: tuple[NodeSpec, ...]
    arguments: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)


_SUB = re.compile(r"\$\(([a-z-]+)((?:\s+[^\s)]+)*)\s*\)")


@dataclass
class _Scope:
    variables: dict[str, str]
    global_params: list[tuple[str, str]]


def _resolve(text: str, scope: _Scope, *, path: Path, element: str, package_share: Callable[[str], Path]) -> str:
    def one(m: re.Match[str]) -> str:
        kind, rest = m.group(1), m.group(2).split()
        if kind == "var" and len(rest) == 1:
            if rest[0] not in scope.variables:
                raise LaunchError(f"argument {rest[0]!r} has no value (pass {rest[0]}:=...)", source=str(path),
                                  field=element)
            return scope.variables[rest[0]]
        if kind == "env" and 1 <= len(rest) <= 2:
            value = os.environ.get(rest[0], rest[1] if len(rest) == 2 else None)
            if value is None:
                raise LaunchError(f"environment variable {rest[0]} is not set", source=str(path), field=element)
            return value
        if kind == "find-pkg-share" and len(rest) == 1:
            return str(package_share(rest[0]))
        if kind == "dirname" and not rest:
            return str(path.parent)
        raise LaunchError(f"unsupported substitution {m.group(0)!r}", source=str(path), field=element)

    previous = None
    while previous != text:  # substitutions may produce substitutions ($(var x) holding $(find-pkg-share ...))
        previous, text = text, _SUB.sub(one, text)
    return text


def _condition(el: ET.Element, scope: _Scope, path: Path, share: Callable[[str], Path]) -> bool:
    for attr, want in (("if", True), ("unless", False)):
        raw = el.get(attr)
        if raw is None:
            continue
        value = _resolve(raw, scope, path=path, element=f"<{el.tag}> {attr}", package_share=share).strip().lower()
        if value not in ("true", "false", "1", "0"):
            raise LaunchError(f"condition must be true/false/1/0, got {value!r}", source=str(path),
                              field=f"<{el.tag}> {attr}")
        if (value in ("true", "1")) != want:
            return False
    return True


def load_launch_file(path: str | os.PathLike[str], *, arguments: Mapping[str, str] | None = None,
                     package_share: Callable[[str], Path] | None = None) -> LaunchDescription:
    """Read a launch XML file with ``arguments`` (``name -> value``, like ``ros2 launch f.xml name:=value``).
    ``package_share(pkg)`` resolves ``$(find-pkg-share pkg)`` (default: :func:`default_package_share`)."""
    p = Path(path)
    share = package_share or default_package_share
    try:
        root = ET.parse(p).getroot()
    except (OSError, ET.ParseError) as err:
        raise LaunchError(f"cannot read launch file: {err}", source=str(p)) from err
    if root.tag != "launch":
        raise LaunchError(f"the root element must be <launch>, got <{root.tag}>", source=str(p), field=root.tag)
    given = dict(arguments or {})
    declared: dict[str, tuple[str | None, str]] = {}
    nodes: list[NodeSpec] = []

    def walk(parent: ET.Element, scope: _Scope) -> None:
        for el in parent:
            where = f"<{el.tag}>"
            if not _condition(el, scope, p, share):
                continue
            if el.tag == "arg":
                name = el.get("name")
                if not name:
                    raise LaunchError("<arg> needs a name", source=str(p), field=where)
                default = el.get("default")
                declared[name] = (default, el.get("description", ""))
                if name in given:
                    scope.variables[name] = given[name]
                elif default is not None:
                    scope.variables[name] = _resolve(default, scope, path=p, element=f"arg {name}",
                                                     package_share=share)
            elif el.tag == "let":
                scope.variables[el.get("name", "")] = _resolve(el.get("value", ""), scope, path=p, element=where,
                                                               package_share=share)
            elif el.tag == "set_parameter":
                scope.global_params.append((el.get("name", ""), _resolve(el.get("value", ""), scope, path=p,
                                                                         element=where, package_share=share)))
            elif el.tag == "group":
                walk(el, _Scope(dict(scope.variables), list(scope.global_params)))
            elif el.tag == "node":
                nodes.append(_node(el, scope))
            else:
                raise LaunchError(f"unsupported element {where}", source=str(p), field=where)

    def _node(el: ET.Element, scope: _Scope) -> NodeSpec:
        def r(text: str, what: str) -> str:
            return _resolve(text, scope, path=p, element=what, package_share=share)

        pkg, exe = el.get("pkg"), el.get("exec")
        if not pkg or not exe:
            raise LaunchError("<node> needs pkg and exec", source=str(p), field="<node>")
        name = r(el.get("name", exe), "<node> name")
        files: list[str] = []
        params: list[tuple[str, str]] = list(scope.global_params)
        remaps: list[tuple[str, str]] = []
        for child in el:
            what = f"<node {name}> <{child.tag}>"
            if child.tag == "param":
                if child.get("from") is not None:
                    f = r(child.get("from", ""), what)
                    if not Path(f).is_file():
                        raise LaunchError(f"parameter file {f} does not exist", source=str(p), field=what)
                    files.append(f)
                elif child.get("name") is not None and child.get("value") is not None:
                    params.append((child.get("name", ""), r(child.get("value", ""), what)))
                else:
                    raise LaunchError("<param> needs name and value, or from", source=str(p), field=what)
            elif child.tag == "remap":
                if not child.get("from") or not child.get("to"):
                    raise LaunchError("<remap> needs from and to", source=str(p), field=what)
                remaps.append((r(child.get("from", ""), what), r(child.get("to", ""), what)))
            else:
                raise LaunchError(f"unsupported element <{child.tag}> in <node>", source=str(p), field=what)
        on_exit = el.get("on_exit", "")
        if on_exit not in ("", "shutdown"):
            raise LaunchError(f"on_exit must be 'shutdown', got {on_exit!r}", source=str(p), field=f"<node {name}>")
        args = tuple(r(el.get("args", ""), f"<node {name}> args").split())
        return NodeSpec(pkg, exe, name, r(el.get("namespace", ""), "<node> namespace"), tuple(files),
                        tuple(params), tuple(remaps), args, on_exit == "shutdown")

    walk(root, _Scope({}, []))
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise LaunchError(f"unknown launch arguments {unknown}; declared: {sorted(declared)}", source=str(p),
                          field="arguments")
    return LaunchDescription(p, tuple(nodes), declared)


def default_package_share(package: str) -> Path:
    """``$(find-pkg-share PKG)``: the ament index of an installed package (``AMENT_PREFIX_PATH``), else for
    ``fusion_stack_nodes`` the source checkout (whose ``launch/`` and ``calib/`` the installed share mirrors)."""
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix and (Path(prefix) / "share" / "ament_index" / "resource_index" / "packages" / package).exists():
            return Path(prefix) / "share" / package
    if package == "fusion_stack_nodes":
        return source_root()
    raise LaunchError(f"package {package!r} is not installed (AMENT_PREFIX_PATH) and not part of this checkout",
                      field="find-pkg-share")


def source_root() -> Path:
    """The checkout's root (the folder holding ``nodes/``, ``launch/`` and ``calib/``)."""
    return Path(__file__).resolve().parents[2]
