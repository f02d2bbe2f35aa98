"""Geometry: SE(3), rotations, 3D boxes and the frame graph. Imports nothing above it."""
