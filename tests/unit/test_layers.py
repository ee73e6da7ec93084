"""Architecture checks on the source itself (read with ``ast``, nothing is imported).

1. Imports only point down: schemas <- infra <- agents <- streams <- llm_router (the public API, the top).
   ``benchmarks`` sits beside the product: nothing in the product imports it.
2. Functions stay short: none longer than ``MAX_FUNCTION_LINES``, except an explicit allow-list that may only shrink.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# bottom to top: a module may import its own layer and the layers before it
LAYERS = ("schemas", "infra", "agents", "streams", "llm_router")
RANK = {name: i for i, name in enumerate(LAYERS)}
# beside the product, never imported by it
FORBIDDEN = frozenset({"benchmarks", "tests"})


def product_files() -> list[Path]:
    return sorted(p for layer in LAYERS for p in (REPO / layer).rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path, root: Path = REPO) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path, root: Path = REPO) -> str:
    """The package relative imports in ``path`` resolve against (a package's own ``__init__`` is in it)."""
    name = module_name(path, root)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def resolve_relative(package: str, level: int, module: str | None) -> str:
    """``from {'.' * level}{module} import ...`` inside ``package`` -> absolute dotted name."""
    base = package.split(".")
    if level > 1:
        base = base[: -(level - 1)]
    return ".".join([*base, module] if module else base)


def _import_module_literal(node: ast.Call) -> str | None:
    """The string in ``importlib.import_module("x")``, ``import_module("x")`` or ``__import__("x")``."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in {"import_module", "__import__"} or not node.args:
        return None
    arg = node.args[0]
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


def imports_of(path: Path, root: Path = REPO) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports, as (line, absolute dotted name); also inside functions and by string."""
    package = package_of(path, root)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = resolve_relative(package, node.level, node.module)
                # ``from . import x``: x may be a submodule, so report each one
                yield from ((node.lineno, f"{base}.{a.name}" if not node.module else base) for a in node.names)
            elif node.module:
                yield node.lineno, node.module
        elif isinstance(node, ast.Call):
            target = _import_module_literal(node)
            if target is None:
                continue
            name = target.lstrip(".")
            level = len(target) - len(name)
            yield node.lineno, resolve_relative(package, level, name or None) if level else target


def _is_upward(importer: str, imported: str) -> bool:
    top = imported.partition(".")[0]
    if top in FORBIDDEN:
        return True
    return top in RANK and RANK[top] > RANK[importer.partition(".")[0]]


def upward_imports() -> list[str]:
    found: list[str] = []
    for path in product_files():
        importer = module_name(path)
        for line, imported in imports_of(path):
            if _is_upward(importer, imported):
                found.append(f"{path.relative_to(REPO)}:{line}: {importer} imports {imported}")
    return found


def test_imports_only_point_down() -> None:
    found = upward_imports()
    assert not found, "upward imports (see the layer order in this module's docstring):\n" + "\n".join(found)


def test_the_import_walker_sees_every_form(tmp_path: Path) -> None:
    pkg = tmp_path / "infra" / "sub"
    pkg.mkdir(parents=True)
    source = (
        "import agents.x\n"
        "from . import sibling\n"
        "from ..cache import store\n"
        "def f():\n"
        "    from streams import app\n"
        "    importlib.import_module('benchmarks.harness')\n"
        "    return import_module('.rel', __package__)\n"
    )
    (pkg / "mod.py").write_text(source)
    assert sorted(imports_of(pkg / "mod.py", tmp_path)) == [
        (1, "agents.x"),
        (2, "infra.sub.sibling"),
        (3, "infra.cache"),
        (5, "streams"),
        (6, "benchmarks.harness"),
        (7, "infra.sub.rel"),
    ]
    assert _is_upward("infra.sub.mod", "agents.x")
    assert _is_upward("infra.sub.mod", "benchmarks.harness")
    assert _is_upward("streams.cli", "llm_router")
    assert not _is_upward("infra.sub.mod", "schemas.events")
    assert not _is_upward("llm_router", "streams.library")
    assert not _is_upward("schemas.wire", "pydantic")


# --- function length ---------------------------------------------------------------------------------------------

MAX_FUNCTION_LINES = 60

# Functions over MAX_FUNCTION_LINES when this test was written (issue #11), with their length then. The list may only
# shrink: split a function below the limit, then delete its entry. Nothing may be added. Lines counted from the
# ``def`` line to the last line of the body, docstring included, decorators excluded.
ALLOWED_LONG_FUNCTIONS: dict[str, int] = {}


@dataclass(frozen=True)
class Function:
    where: str  # path::Qualified.name
    lines: int


def _functions(tree: ast.AST, path: str, prefix: str = "") -> Iterator[Function]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            qualname = f"{prefix}{node.name}"
            assert node.end_lineno is not None
            yield Function(f"{path}::{qualname}", node.end_lineno - node.lineno + 1)
            yield from _functions(node, path, f"{qualname}.<locals>.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, path, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, path, prefix)


def product_functions() -> list[Function]:
    found: list[Function] = []
    for path in product_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found.extend(_functions(tree, str(path.relative_to(REPO))))
    return found


def test_no_function_grows_past_the_limit() -> None:
    functions = product_functions()
    longest = max(functions, key=lambda f: f.lines)
    offenders = {f.where: f.lines for f in functions if f.lines > MAX_FUNCTION_LINES}
    new = {where: n for where, n in offenders.items() if where not in ALLOWED_LONG_FUNCTIONS}
    assert not new, (
        f"functions over {MAX_FUNCTION_LINES} lines that are not in ALLOWED_LONG_FUNCTIONS (split them): {new}; "
        f"the longest is {longest.where} ({longest.lines} lines)"
    )
    grown = {w: (offenders[w], n) for w, n in ALLOWED_LONG_FUNCTIONS.items() if offenders.get(w, 0) > n}
    assert not grown, f"allow-listed functions grew (now, allowed): {grown}"
    stale = sorted(set(ALLOWED_LONG_FUNCTIONS) - set(offenders))
    assert not stale, (
        f"these are no longer over {MAX_FUNCTION_LINES} lines: drop them from ALLOWED_LONG_FUNCTIONS: {stale}"
    )


def test_function_lengths_are_counted_per_qualified_name() -> None:
    source = (
        "class A:\n"
        "    def m(self):\n"
        "        def inner():\n"
        "            return 1\n"
        "        return inner\n"
        "if True:\n"
        "    @decorated\n"
        "    async def f():\n"
        '        """doc"""\n'
        "        pass\n"
    )
    got = {f.where: f.lines for f in _functions(ast.parse(source), "p.py")}
    assert got == {"p.py::A.m": 4, "p.py::A.m.<locals>.inner": 2, "p.py::f": 3}


def test_unit_tests_mirror_the_layers() -> None:
    """Unit tests live under tests/unit/<layer>/ (architecture-wide checks at tests/unit/ itself)."""
    unit = REPO / "tests" / "unit"
    loose = sorted(p.name for p in unit.glob("test_*.py"))
    assert loose == ["test_error_codes.py", "test_layers.py", "test_public_api.py", "test_readme.py"], loose
    assert sorted(p.name for p in unit.iterdir() if p.is_dir() and p.name != "__pycache__") == [
        "agents",
        "infra",
        "schemas",
        "streams",
    ]


def test_every_integration_test_module_carries_the_marker() -> None:
    """`-m "not integration"` must leave out everything that needs the real Kafka/Redis."""
    for path in sorted((REPO / "tests" / "integration").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        marked = any(
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
            and "integration" in ast.unparse(node.value)
            for node in tree.body
        )
        assert marked, f"{path.name} lacks pytestmark = pytest.mark.integration"
