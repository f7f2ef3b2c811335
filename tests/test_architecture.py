"""The package's import graph: no cycles, and no import from a lower layer up to a higher one.

Every ``import`` counts, also those inside functions (a lazy import is still a dependency). The layers are
listed in docs/architecture.md; a module belongs to the layer of the longest prefix that names it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "emotionlayer"

#: Module prefix (relative to ``emotionlayer``) -> layer. Lower layers never import higher ones.
LAYERS: dict[str, int] = {
    "errors": 0,
    "labels": 0,
    "audio": 1,
    "text": 1,
    "types": 2,
    "registry": 3,
    "config": 3,
    "assets": 3,
    "prompting": 3,
    "files": 3,
    "parallel": 3,
    "evaluation.metrics": 3,
    "encoders": 4,
    "data.manifest": 4,
    "ser": 5,
    "paralinguistics": 5,
    "components": 6,
    "systems": 7,
    "pipeline": 7,
    "models": 7,
    "data": 8,
    "evaluation": 8,
    "live": 8,
    "cli": 9,
    "testing": 9,
    "__main__": 9,
}


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(("emotionlayer",) + parts)] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Module -> the emotionlayer modules it imports (anywhere in its body)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    candidate = f"{target}.{alias.name}"
                    targets.add(candidate if candidate in modules else target)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def layer_of(module: str) -> int:
    relative = module.removeprefix("emotionlayer").lstrip(".")
    if not relative:
        return 9
    parts = relative.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYERS:
            return LAYERS[prefix]
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS and to docs/architecture.md")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer():
    for module in import_graph():
        layer_of(module)


def test_no_import_cycles():
    assert _cycles(import_graph()) == []


def test_no_import_from_a_lower_layer_up():
    upward = [
        f"{source} (layer {layer_of(source)}) imports {target} (layer {layer_of(target)})"
        for source, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(source)
    ]
    assert upward == []


def test_the_checker_sees_a_cycle_and_an_upward_import():
    graph = {"emotionlayer.types": {"emotionlayer.cli.main"}, "emotionlayer.cli.main": {"emotionlayer.types"}}
    assert _cycles(graph) == [["emotionlayer.cli.main", "emotionlayer.types"]]
    assert layer_of("emotionlayer.cli.main") > layer_of("emotionlayer.types")
    with pytest.raises(AssertionError, match="no layer"):
        layer_of("emotionlayer.nowhere")


def test_the_prompt_templates_have_one_source():
    # `prompts/` at the top of the repository is the packaged folder itself, not a second copy.
    top = PACKAGE_DIR.parent / "prompts"
    if not top.exists():  # an installed copy of the tests, without the repository around it
        pytest.skip("no repository checkout")
    assert top.resolve() == (PACKAGE_DIR / "prompts").resolve()
    assert any((PACKAGE_DIR / "prompts").glob("*.j2"))
