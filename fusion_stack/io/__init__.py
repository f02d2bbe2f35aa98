"""Recordings and datasets: bag reading/writing, message conversion, dataset readers (nuScenes, KITTI, AV2)."""
