"""configurable-agents runtime: declarative LLM-agent workflows, run locally or on Kubernetes.

Layers, highest first (enforced by import-linter): ``cli`` > ``engine`` > ``executors`` >
``providers`` | ``tools`` > ``stores`` > ``spec``.
"""

__version__ = "0.1.0"
