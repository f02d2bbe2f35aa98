"""ament_python package of the fusion_stack ROS 2 nodes (``colcon build`` on a vehicle; ``pip install -e nodes``
or PYTHONPATH=nodes where rclpy comes from PyPI wheels)."""

from glob import glob

from setuptools import find_packages, setup

package_name = "fusion_stack_nodes"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", glob("../launch/*.launch.xml")),
        (f"share/{package_name}/launch/params", glob("../launch/params/*.yaml")),
        (f"share/{package_name}/calib", glob("../calib/*.yaml")),
    ],
    install_requires=["setuptools", "fusion-stack"],
    zip_safe=True,
    maintainer="fusion_stack maintainers",
    maintainer_email="maintainers@fusion-stack.dev",
    description="ROS 2 nodes of fusion_stack: drivers, bag player, fusion",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "fusion_node = fusion_stack_nodes.fusion_node:main",
            "bag_player = fusion_stack_nodes.bag_player:main",
            "driver_node = fusion_stack_nodes.driver_node:main",
        ],
    },
)
