"""Several watches (and a folder of files) feed one catalog: a re-list replaces only its part."""

from __future__ import annotations

from agent_runtime.gateway.catalog import Catalog, Entry


def names(catalog: Catalog) -> list[tuple[str, str, str]]:
    return [(e.source, e.namespace, e.name) for e in catalog.entries()]


def test_a_relist_of_one_namespace_keeps_the_others_and_the_files() -> None:
    catalog = Catalog()
    catalog.put(Entry("default", "from-file", None, "examples/a.yaml"))
    catalog.replace([Entry("a", "one", None, "cluster")], source="cluster", namespace="a")
    catalog.replace([Entry("b", "two", None, "cluster")], source="cluster", namespace="b")
    catalog.replace([Entry("a", "three", None, "cluster")], source="cluster", namespace="a")
    assert names(catalog) == [
        ("cluster", "a", "three"),
        ("cluster", "b", "two"),
        ("examples/a.yaml", "default", "from-file"),
    ]
    # A cluster-wide re-list replaces every cluster entry, never the files.
    catalog.replace([Entry("c", "four", None, "cluster")], source="cluster")
    assert names(catalog) == [
        ("cluster", "c", "four"),
        ("examples/a.yaml", "default", "from-file"),
    ]


def test_other_kinds_in_a_folder_are_skipped_not_listed_as_broken(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agent_runtime.gateway.catalog import Catalog
    from tests.conftest import EXAMPLES

    catalog = Catalog()
    catalog.load_folder(EXAMPLES)
    entries = catalog.entries()
    assert not [e for e in entries if e.problems], [e.problems for e in entries if e.problems]
    assert "argocd-cm-patch" not in {e.name for e in entries}
    # one Workflow per numbered example folder, and nothing from gitops/
    assert len(entries) == len(list(EXAMPLES.glob("[0-9][0-9]-*/workflow.yaml")))
