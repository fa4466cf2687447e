"""Shared machinery of the video builders: per-video processing, local and Beam generation."""
