"""The fusion pipeline: synchronizer -> alignment -> camera network / painting -> detectors -> fusion -> tracker.

:class:`~fusion_stack.pipeline.pipeline.FusionPipeline` runs one validated
:class:`~fusion_stack.pipeline.config.PipelineConfig` (YAML, see ``docs/pipeline.md``) over samples pushed one at a
time (a recording, a dataset, ROS callbacks) and reports per-stage latency;
:mod:`fusion_stack.pipeline.runner` replays recordings through one or several pipelines side by side into sinks
(annotated bag, pictures, metrics).
"""
