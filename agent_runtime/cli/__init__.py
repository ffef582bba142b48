"""The ``configurable-agents`` command line: run, validate, graph, runs, crds."""
