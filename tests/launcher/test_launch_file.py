"""Reading the launch files of launch/: nodes, parameters, remappings, conditions and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fusion_stack.launcher.launch_file import LaunchError, load_launch_file, source_root
from fusion_stack.launcher.process_group import node_command
from fusion_stack.pipeline.config import preset_names

LAUNCH = source_root() / "launch"


@pytest.mark.parametrize("preset", ["lidar_only", "camera_only", "radar_only", "data_level", "decision_level"])
def test_every_preset_has_a_launch_file_and_a_ros2_params_file(preset: str) -> None:
    assert preset in preset_names()
    params = yaml.safe_load((LAUNCH / "params" / f"{preset}.yaml").read_text())
    assert params["/**"]["ros__parameters"]["pipeline"] == preset
    alone = load_launch_file(LAUNCH / f"{preset}.launch.xml")
    assert [n.name for n in alone.nodes] == ["fusion"]
    played = load_launch_file(LAUNCH / f"{preset}.launch.xml", arguments={"play": "true", "bag": "/data/x.mcap"})
    fusion, player = played.nodes
    assert player.name == "bag_player" and player.shutdown_on_exit and not fusion.shutdown_on_exit
    assert ("use_sim_time", "true") in fusion.params and ("bag", "/data/x.mcap") in player.params
    assert fusion.param_files == (str(LAUNCH / "params" / f"{preset}.yaml"),)
    assert dict(fusion.params)["rig"] == str(source_root() / "calib" / "sim_default.yaml")
    cmd = node_command(fusion)
    assert cmd[1:3] == ["-m", "fusion_stack_nodes.fusion_node"]
    assert cmd[cmd.index("--ros-args") + 1:][:2] == ["-r", "__node:=fusion"]


def test_substitutions_conditions_groups_and_remaps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("/**:\n  ros__parameters: {a: 1}\n")
    monkeypatch.setenv("FS_TEST_RATE", "2.5")
    f = tmp_path / "x.launch.xml"
    f.write_text("""<launch>
      <arg name="name" default="n1"/>
      <arg name="on" default="false"/>
      <let name="file" value="$(dirname)/p.yaml"/>
      <group>
        <set_parameter name="use_sim_time" value="true"/>
        <node pkg="fusion_stack_nodes" exec="bag_player" name="$(var name)" namespace="car">
          <param from="$(var file)"/>
          <param name="rate" value="$(env FS_TEST_RATE)"/>
          <param name="home" value="$(env FS_NOT_SET_X fallback)"/>
          <remap from="/clock" to="/car/clock"/>
        </node>
      </group>
      <node pkg="fusion_stack_nodes" exec="fusion_node" name="maybe" if="$(var on)"/>
      <node pkg="fusion_stack_nodes" exec="fusion_node" name="other" unless="$(var on)"/>
    </launch>""")
    d = load_launch_file(f)
    first, other = d.nodes
    assert first.name == "n1" and first.namespace == "car" and first.param_files == (str(params),)
    assert first.params == (("use_sim_time", "true"), ("rate", "2.5"), ("home", "fallback"))
    assert first.remaps == (("/clock", "/car/clock"),)
    assert other.name == "other" and other.params == ()  # set_parameter stays in its group
    args = first.ros_arguments()
    assert args[args.index("-r", 2) + 1] == "__ns:=/car" and "rate:=2.5" in args and "/clock:=/car/clock" in args
    d2 = load_launch_file(f, arguments={"on": "true", "name": "n2"})
    assert [n.name for n in d2.nodes] == ["n2", "maybe"]


@pytest.mark.parametrize(("body", "field"), [
    ('<node pkg="fusion_stack_nodes" name="x"/>', "<node>"),
    ('<include file="a.xml"/>', "<include>"),
    ('<node pkg="p" exec="e"><param name="a"/></node>', "<node e> <param>"),
    ('<node pkg="p" exec="e"><param from="/no/such/file.yaml"/></node>', "<node e> <param>"),
    ('<node pkg="p" exec="e" name="$(var nope)"/>', "<node> name"),
    ('<node pkg="p" exec="e" name="$(anon x)"/>', "<node> name"),
    ('<node pkg="p" exec="e" if="maybe"/>', "<node> if"),
    ('<node pkg="p" exec="e" on_exit="restart"/>', "<node e>"),
])
def test_bad_launch_files_name_file_and_element(tmp_path: Path, body: str, field: str) -> None:
    f = tmp_path / "bad.launch.xml"
    f.write_text(f"<launch>{body}</launch>")
    with pytest.raises(LaunchError) as info:
        load_launch_file(f)
    assert info.value.field == field and str(f) in str(info.value)


def test_unknown_arguments_foreign_packages_and_broken_xml(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="unknown launch arguments"):
        load_launch_file(LAUNCH / "lidar_only.launch.xml", arguments={"rgi": "x"})
    f = tmp_path / "f.launch.xml"
    f.write_text('<launch><node pkg="demo_nodes_py" exec="talker"/></launch>')
    (node,) = load_launch_file(f).nodes
    with pytest.raises(LaunchError, match="only fusion_stack_nodes"):
        node_command(node)
    f.write_text("<launch><node")
    with pytest.raises(LaunchError, match="cannot read"):
        load_launch_file(f)
    f.write_text("<other/>")
    with pytest.raises(LaunchError, match="root element"):
        load_launch_file(f)


def test_drivers_launch_file_needs_its_rig_argument() -> None:
    with pytest.raises(LaunchError, match="rig"):
        load_launch_file(LAUNCH / "drivers.launch.xml")
    d = load_launch_file(LAUNCH / "drivers.launch.xml", arguments={"rig": "car.yaml"})
    assert [n.name for n in d.nodes] == ["velodyne", "ars548", "camera"]
    assert ("options", "[model=VLP-32C]") in d.nodes[0].params
