"""Pipelines: sales pipelines, their ordered stages, transition rules, stage history, metrics."""
