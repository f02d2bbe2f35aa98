"""Perception models: per-sensor detectors (classical and learned) and the multi-object tracker.

Each model is built from plain keyword values and works on arrays and :mod:`fusion_stack.types` samples in a
stated frame; :mod:`fusion_stack.pipeline` wires them to recordings.
"""
