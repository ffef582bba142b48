"""The agent's routes: node tasks, and health and metrics."""
