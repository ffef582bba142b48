"""Pure functions from an AgentPool to the objects that serve it; no API calls here."""

from agents_operator.builders.children import build_children, child_names
from agents_operator.builders.labels import pool_labels, pool_selector

__all__ = ["build_children", "child_names", "pool_labels", "pool_selector"]
