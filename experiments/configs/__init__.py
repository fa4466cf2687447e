"""Experiments by name (registry.py), the recipes of the paper's tables (recipes.py) and the
paper's own figures (paper_tables.py)."""
