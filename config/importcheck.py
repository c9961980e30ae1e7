"""`make check`'s import rules, read from the source (nothing is imported or run):

1. no import cycle between modules of the project (imports under ``if TYPE_CHECKING:`` do not
   run, so they do not count);
2. no import inside a function or method, unless the line says why with a comment that starts
   ``# import here:`` (a framework that needs it, such as a fork hook or an app registry that
   is not ready yet);
3. no private name (``_name``) imported from another module.

``python -m config.importcheck`` prints what breaks a rule and exits 1, or prints a summary
and exits 0. Tests, migrations and benchmarks are outside rules 2 and 3 but inside rule 1.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "config",
    "clinic",
    "patients",
    "scheduling",
    "equipment",
    "billing",
    "comms",
    "telehealth",
    "tests",
    "bench",
)
REASON_MARK = "# import here:"


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    imports: dict[str, int] = field(default_factory=dict)  # module -> first line
    problems: list[str] = field(default_factory=list)


def module_name(path: Path, root: Path = ROOT) -> tuple[str, bool]:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def source_files(root: Path = ROOT) -> Iterator[Path]:
    for package in PACKAGES:
        base = root / package
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            if "migrations" in path.parts or "node_modules" in path.parts:
                continue
            yield path
    if (root / "conftest.py").exists():
        yield root / "conftest.py"


def is_exempt(name: str) -> bool:
    """Tests and benchmarks may reach inside modules and import where they please."""
    parts = name.split(".")
    return "tests" in parts or parts[0] in {"bench", "conftest"}


def _type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(
    node: ast.AST, in_function: bool, type_only: bool
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, in_function, type_only
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and child.name == "ready":
            # AppConfig.ready(): Django's app registry is ready only here, so this is where an
            # app imports what wires it in (handlers, registries). Its imports still count for
            # cycles.
            yield from _walk(child, False, type_only)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _walk(child, True, type_only)
        elif _type_checking_block(child):
            assert isinstance(child, ast.If)
            for stmt in child.body:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), in_function, True)
            for stmt in child.orelse:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), in_function, type_only)
        else:
            yield from _walk(child, in_function, type_only)


def resolve(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def scan(known: dict[str, Module], root: Path = ROOT) -> None:
    for module in known.values():
        lines = (root / module.path).read_text().splitlines()
        tree = ast.parse("\n".join(lines), filename=str(module.path))
        exempt = is_exempt(module.name)
        for node, in_function, type_only in _walk(tree, False, False):
            targets: list[tuple[str, str | None]] = []
            if isinstance(node, ast.Import):
                targets = [(alias.name, None) for alias in node.names]
            else:
                source = resolve(module, node)
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    targets.append((sub, None) if sub in known else (source, alias.name))
            line_text = lines[node.lineno - 1]
            reported: set[str] = set()
            for target, imported_name in targets:
                if not _project(target):
                    continue
                if (
                    not exempt
                    and imported_name
                    and imported_name.startswith("_")
                    and not imported_name.startswith("__")
                ):
                    module.problems.append(
                        f"{module.path}:{node.lineno}: private name "
                        f"{imported_name} imported from {target}"
                    )
                if (
                    in_function
                    and not exempt
                    and REASON_MARK not in line_text
                    and target not in reported
                ):
                    reported.add(target)
                    module.problems.append(
                        f"{module.path}:{node.lineno}: import of {target} inside "
                        f"a function (move it to the top, or say why: '{REASON_MARK} ...')"
                    )
                if type_only or in_function:
                    continue
                # ``import a.b.c`` runs a, a.b and a.b.c: the deepest known module stands for them.
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target != module.name:
                    module.imports.setdefault(target, node.lineno)
                    # Importing a.b.c also runs the packages above it.
                    parent = target.rpartition(".")[0]
                    while parent:
                        if parent in known and not (module.name + ".").startswith(parent + "."):
                            module.imports.setdefault(parent, node.lineno)
                        parent = parent.rpartition(".")[0]


def _project(name: str) -> bool:
    return name.split(".")[0] in {*PACKAGES, "conftest"}


def cycles(known: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(known):
        if root in index:
            continue
        work = [(root, iter(sorted(known[root].imports)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(known[child].imports))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return found


def app_cycles(known: dict[str, Module]) -> list[str]:
    """Apps must import each other one way (clinic <- domains)."""
    edges: dict[tuple[str, str], str] = {}
    for module in known.values():
        if is_exempt(module.name):
            continue
        app = module.name.split(".")[0]
        for target, line in module.imports.items():
            other = target.split(".")[0]
            if other != app and other not in {"config"} and app not in {"config"}:
                edges.setdefault((app, other), f"{module.path}:{line}")
    problems = []
    for (a, b), where in sorted(edges.items()):
        if (b, a) in edges and a < b:
            problems.append(
                f"apps {a} and {b} import each other ({where} -> {b}; {edges[(b, a)]} -> {a})"
            )
        if a == "clinic":
            problems.append(f"the platform app imports a domain app: {where} -> {b}")
    return problems


def problems_in(root: Path = ROOT) -> tuple[list[str], dict[str, Module]]:
    """Every broken rule in the tree under ``root``, and the modules read."""
    known: dict[str, Module] = {}
    for path in source_files(root):
        name, is_package = module_name(path, root)
        known[name] = Module(name=name, path=path.relative_to(root), is_package=is_package)
    scan(known, root)
    problems = [p for m in known.values() for p in m.problems]
    for component in cycles(known):
        detail = ", ".join(
            f"{m} -> {t}" for m in component for t in known[m].imports if t in component
        )
        problems.append(f"import cycle between {len(component)} modules: {detail}")
    problems.extend(app_cycles(known))
    return problems, known


def main() -> int:
    problems, known = problems_in()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} import rule(s) broken")
        return 1
    edges = sum(len(m.imports) for m in known.values())
    print(f"imports: {len(known)} modules, {edges} imports, no cycle, no private name")
    return 0


if __name__ == "__main__":
    sys.exit(main())
