"""Adapt a model to one database: generate pairs from it, train an adapter, prove the gain by execution."""

from sqlora.adapt.pipeline import AdaptError, AdaptOptions, run_adapt

__all__ = ["AdaptError", "AdaptOptions", "run_adapt"]
