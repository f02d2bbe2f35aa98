"""Feature-level fusion of per-modality features (camera, LiDAR, radar): fusers with one call signature.

See :mod:`fusion_stack.fuse.base` for the :class:`~fusion_stack.fuse.base.Fuser` interface and
``docs/alignment_and_fusion.md`` for how the modules map to the alignment-and-fusion taxonomy.
"""
