"""Shared machinery of the video dataset builders (per-video processing, local and Beam generation)."""
