"""Running the project's ROS 2 launch files without ``ros2 launch``: read the XML, start the nodes as processes
with the same names, parameters and remappings, stop them all cleanly (``fusion-stack launch``)."""
