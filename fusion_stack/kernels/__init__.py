"""Point-cloud kernels with a numba CPU and a numba CUDA implementation each.

* :func:`project_points`: points -> pixels, depth and validity in one or several cameras in one pass.
* :func:`depth_image`: per-camera z-buffer depth image and pixel -> point index map.
* :func:`gather`: image values at pixel coordinates (nearest / bilinear), for point painting.
* :func:`voxelize`: hard voxelization / pillarization with deterministic choice of kept points.

Every function runs where its data is (NumPy -> CPU, CUDA array -> CUDA) unless ``device=`` says otherwise;
cameras are plain :class:`CameraParams` built with :func:`camera_params` from a camera model and a ``src2cam``
transform.  NumPy references of every kernel are in :mod:`fusion_stack.kernels.reference`.  Errors are
:class:`KernelError`.  This package imports nothing from fusion_stack above it except ``fusion_stack.errors``.
"""

from fusion_stack.kernels.depth import DepthImages, depth_image
from fusion_stack.kernels.errors import KernelError
from fusion_stack.kernels.gather import gather
from fusion_stack.kernels.params import CameraParams, camera_params, pack_cameras
from fusion_stack.kernels.projection import MultiProjection, project_points
from fusion_stack.kernels.voxelize import Voxels, voxelize

__all__ = [
    "CameraParams",
    "DepthImages",
    "KernelError",
    "MultiProjection",
    "Voxels",
    "camera_params",
    "depth_image",
    "gather",
    "pack_cameras",
    "project_points",
    "voxelize",
]
