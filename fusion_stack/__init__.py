"""fusion_stack: a Python sensor-fusion stack for robots and autonomous vehicles.

Data flows one way: drivers / io / sim -> align -> models + fuse -> pipeline -> sinks.
The library never imports rclpy, never prints and never exits; errors derive from
:class:`fusion_stack.errors.FusionStackError`.
"""

from fusion_stack.errors import FusionStackError

__all__ = ["FusionStackError", "__version__"]
__version__ = "0.1.0"
