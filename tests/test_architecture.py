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
    "evaluation.asr": 4,
    "evaluation.reply_metrics": 4,
    "encoders": 4,
    "data.manifest": 4,
    "ser": 5,
    "paralinguistics": 5,
    "paralinguistics.corpus": 9,
    "components": 6,
    "systems": 7,
    "pipeline": 8,
    "models": 8,
    "systems.topline": 8,
    "systems.builtin": 8,
    "data": 9,
    "evaluation": 9,
    "live": 9,
    "cli": 10,
    "testing": 10,
    "__main__": 10,
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
        return max(LAYERS.values())
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


def _imports_of(prefix: str) -> dict[str, set[str]]:
    return {m: t for m, t in import_graph().items() if m == prefix or m.startswith(prefix + ".")}


def test_models_never_import_the_cascade():
    # Speaking systems share build_tts, the fallback reply and the no-speech turn through systems.speech.
    found = [
        f"{m} imports {t}"
        for m, ts in _imports_of("emotionlayer.models").items()
        for t in ts
        if t == "emotionlayer.pipeline"
    ]
    assert found == []


def test_the_system_seam_imports_no_system():
    # systems.base and systems.speech are what every system builds on; the systems sit above them.
    above = (
        "emotionlayer.pipeline",
        "emotionlayer.models",
        "emotionlayer.systems.topline",
        "emotionlayer.systems.builtin",
    )
    found = [
        f"{m} imports {t}"
        for seam in ("emotionlayer.systems.base", "emotionlayer.systems.speech")
        for m, ts in _imports_of(seam).items()
        for t in ts
        if t.startswith(above)
    ]
    assert found == []


def test_one_model_package_never_imports_another():
    packages = ("echat", "paralingpt")
    found = [
        f"{m} imports {t}"
        for own in packages
        for m, ts in _imports_of(f"emotionlayer.models.{own}").items()
        for t in ts
        if any(t.startswith(f"emotionlayer.models.{other}") for other in packages if other != own)
    ]
    assert found == []


#: Constants with one meaning, defined in one module: name -> the module that defines it.
ONE_DEFINITION = {
    "SAMPLE_RATE": "emotionlayer.audio",
    "FRAME_SAMPLES": "emotionlayer.audio",
    "NO_SPEECH_THRESHOLD": "emotionlayer.audio",
    "FALLBACK_REPLY": "emotionlayer.systems.speech",
    "NO_SPEECH_REPLY": "emotionlayer.systems.speech",
    "NO_SPEECH": "emotionlayer.systems.speech",
}


def test_shared_constants_are_defined_once():
    found = []
    for module, path in _modules().items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign)
                else []
            )
            for target in targets:
                name = getattr(target, "id", None)
                if name in ONE_DEFINITION and module != ONE_DEFINITION[name]:
                    found.append(f"{module} defines {name} (use {ONE_DEFINITION[name]}'s)")
    assert found == []


def test_no_speech_travels_as_speech_detected():
    # Reading the transcript's model name to tell whether speech was heard is for old perceptions only.
    found = []
    for module, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Compare) and any(
                isinstance(part, ast.Name)
                and part.id == "NO_SPEECH"
                or isinstance(part, ast.Constant)
                and part.value == "no-speech"
                for part in [node.left, *node.comparators]
            ):
                found.append(f"{module}:{node.lineno}")
    assert found == [
        "emotionlayer.pipeline:" + str(_line_of("emotionlayer.pipeline", "perception.transcript.model != NO_SPEECH"))
    ]


def _line_of(module: str, text: str) -> int:
    lines = _modules()[module].read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


#: Most lines in one function (its def to its last line, docstring included). A long flow is a short function
#: that calls named steps; a command's option list in cli/ is not a flow and is not counted.
MAX_FUNCTION_LINES = 80
#: The functions still longer, by name, and why.
LONG_FUNCTIONS: set[str] = set()


def _long_functions() -> dict[str, int]:
    found = {}
    for module, path in _modules().items():
        if module.startswith("emotionlayer.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found[f"{module}.{node.name}"] = lines
    return found


def test_no_function_is_longer_than_a_screen():
    found = _long_functions()
    assert sorted(set(found) - LONG_FUNCTIONS) == [], f"split these into named steps: {found}"
    assert sorted(LONG_FUNCTIONS - set(found)) == [], "these are short now: take them off LONG_FUNCTIONS"
