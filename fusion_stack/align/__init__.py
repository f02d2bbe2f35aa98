"""Alignment: bring sensors' data into correspondence in time, in space or in a shared embedding.

Modules (import what you use; the torch-based ones import torch):

- temporal: ``synchronizer`` and ``approximate_time`` (grouping samples around a reference sensor with drop
  accounting), ``pose_buffer`` (ego poses, interpolation, ``src@t1 -> dst@t2``), ``deskew`` (LiDAR deskew,
  sweep accumulation, radar ego-motion compensation), ``time_offset`` (offset estimation between sensors);
- statistical: ``cca``, ``kernel_cca``, ``deep_cca`` (torch), ``dtw``;
- optimal transport and assignment: ``sinkhorn``, ``assignment`` (gated Hungarian for decision-level fusion);
- contrastive (torch): ``contrastive`` (InfoNCE, SupCon, SigLIP, margin);
- attention (torch): ``cross_attention`` (alignment weights a user can inspect).

See docs/alignment_and_fusion.md for the map from the survey's taxonomy to these modules.
"""
