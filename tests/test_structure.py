"""The shape of the hrcam package, checked statically over every file of hrcam/ (``ast``; no TensorFlow).

* **No import cycles**: no two files import each other, and no cycle between folders, at every level (the
  top-level folders and modules of ``hrcam/``, then the files and sub-folders of each folder). Together these
  forbid any cycle in the file graph. An import counts wherever it stands in a file (function-level lazy
  imports and ``if TYPE_CHECKING:`` included), and so does a string that is a module path
  (``"hrcam.casm.source:CasmMasks"``, for ``importlib``); ``from pkg import mod`` is an import of the
  submodule ``pkg.mod``, not of ``pkg/__init__.py``.
* **No private name crosses files**: no ``_name`` imported from another file, read through an imported name
  (``Class._method``), or read as an attribute that only other files define (``obj._attr``); a ``_module``
  is private to its folder. The one Keras compat module, ``hrcam/saliency/_keras_compat.py``, is imported
  from anywhere; ``__dunder__`` names are public.
* **Keras private attributes only in the compat module**: outside it no file reads a ``._name`` that hrcam
  does not define itself (``obj._x``, ``getattr(obj, "_x")``), nor one of :data:`KERAS_PRIVATE`.
* **Layer names only through** ``hrcam.highres.layers.LAYERS`` (no literal of theirs anywhere else).
* **Every file at most 400 lines.**

:data:`ALLOWED` lists what may still occur, each with its reason: what cannot change by design, and what the
files being rewritten by others still do (remove those entries as the files change). An entry that no longer
occurs fails the test, so the list only shrinks.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "hrcam"
MAX_LINES = 400
COMPAT = "hrcam.saliency._keras_compat"
LAYERS_MODULE = "hrcam.highres.layers"
#: a whole string that names an hrcam module ("hrcam.casm.source" or "hrcam.casm.source:CasmMasks"): what
#: ``importlib.import_module`` is given, so it counts as an import
DYNAMIC = re.compile(r"hrcam(\.\w+)+(:\w+)?")
#: an absolute module of a :func:`hrcam.lazy.lazy_exports` table (``"hrcam.highres: HalfModel; ..."``)
LAZY_TABLE = re.compile(r"(?:^|;)\s*(hrcam(?:\.\w+)+):\s")

_LEAD = "being rewritten around the map-source registry (issue 19); remove when it changes"
_CONSUMERS = (
    "evaluation/ holds the NumPy metrics every family uses (HR-CAM's run report, CASM's scoring, the "
    "class-mask protocol) and the consumers that reach every family through hrcam.sources (scoring, COSE): "
    f"move the consumers above the families or the metrics below them; {_LEAD}"
)
_LOADER = (
    "HalfModel.load / FullModel.load (the seed's API) go through the one loader (lazy import inside `load`), "
    "which must know both classes: it wraps files of earlier releases, and a FullModel file needs FullModel "
    "registered before HalfModel.load can give its classifier"
)

#: finding -> why it may still occur (keys are the findings' text, without line numbers)
ALLOWED: dict[str, str] = {
    # by design
    "import: hrcam/highres/half.py -> highres.loading": _LOADER,
    "import: hrcam/highres/full.py -> highres.loading": _LOADER,
    "library private attribute: hrcam/highres/refine/parallel.py reads ._forkserver": (
        "Python's multiprocessing.forkserver (not Keras): the preload list the workers inherit, read in a "
        "try/except with a fallback"
    ),
    "library private attribute: hrcam/highres/refine/parallel.py reads ._preload_modules": (
        "Python's multiprocessing.forkserver (not Keras), as above"
    ),
}

#: Keras internals flagged outside the compat module even where hrcam happens to define the same name
KERAS_PRIVATE = frozenset(
    {
        "_inbound_nodes",
        "_outbound_nodes",
        "_keras_history",
        "_keras_mask",
        "_layers",
        "_functional",
        "_nodes_by_depth",
        "_outputs_struct",
        "_standardize_inputs",
        "_call_context_args",
        "_call_has_training_arg",
        "_make_function",
        "_flatten_layers",
        "_tracker",
        "_distribute_strategy",
        "_build_shapes_dict",
        "_compile_config",
    }
)


@dataclass
class Module:
    name: str  # dotted, e.g. hrcam.highres.full; a package's __init__.py has the package's name
    path: Path
    tree: ast.Module
    is_package: bool
    imports: list[tuple[str, str | None, int]] = field(default_factory=list)  # (module, name, line)

    @property
    def file(self) -> str:
        return str(self.path.relative_to(REPO))


@functools.cache
def modules() -> dict[str, Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        found[name] = Module(name, path, ast.parse(path.read_text(), str(path)), is_package)
    for module in found.values():
        module.imports = [imp for node in ast.walk(module.tree) for imp in _imports(module, node, found)]
    return found


def _imports(module: Module, node: ast.AST, known: dict[str, Module]):
    """``(target module, imported name or None, line)`` for each hrcam import of ``node``."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] == "hrcam":
                yield alias.name, None, node.lineno
    elif isinstance(node, ast.Constant) and isinstance(node.value, str) and DYNAMIC.fullmatch(node.value):
        yield node.value.split(":")[0], None, node.lineno  # a module path for importlib: a dynamic import
    elif isinstance(node, ast.Constant) and isinstance(node.value, str) and LAZY_TABLE.search(node.value):
        for match in LAZY_TABLE.finditer(node.value):  # hrcam.lazy.lazy_exports' "module: names; ..." table
            yield match.group(1), None, node.lineno
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = module.name.split(".")[: None if module.is_package else -1]
            package = package[: len(package) - node.level + 1]
            base = ".".join(package + ([node.module] if node.module else []))
        if base.split(".")[0] != "hrcam":
            return
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            yield (sub, None, node.lineno) if sub in known else (base, alias.name, node.lineno)


def _short(name: str) -> str:
    return "hrcam/__init__" if name == "hrcam" else name.removeprefix("hrcam.")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _check(findings: dict[str, list[str]], kind: str) -> None:
    """Fail on findings (``{key: [where, ...]}``) that ALLOWED lacks, and on ALLOWED keys of ``kind`` that
    no longer occur."""
    new = [
        f"{key}  [{', '.join(sorted(where)[:3])}]" for key, where in findings.items() if key not in ALLOWED
    ]
    stale = [key for key in ALLOWED if key.startswith(kind) and key not in findings]
    assert not new, "\n".join(sorted(new))
    assert not stale, "ALLOWED lists what no longer occurs (remove it):\n" + "\n".join(stale)


# --- imports ---------------------------------------------------------------------------------------------


def import_edges() -> dict[tuple[str, str], list[str]]:
    """``{(importer, imported): [file:line, ...]}`` over hrcam's files (dotted names, no self-imports)."""
    known = modules()
    edges: dict[tuple[str, str], list[str]] = {}
    for module in known.values():
        for target, _, line in module.imports:
            while target not in known and "." in target:  # `import hrcam.x.y` of a name that is no file
                target = target.rsplit(".", 1)[0]
            if target in known and target != module.name:
                edges.setdefault((module.name, target), []).append(f"{module.file}:{line}")
    return edges


def _edge_key(a: str, b: str) -> str:
    return f"import: {modules()[a].file} -> {_short(b)}"


def checked_edges() -> set[tuple[str, str]]:
    """The import edges the cycle checks see: all but those ALLOWED lists."""
    return {edge for edge in import_edges() if _edge_key(*edge) not in ALLOWED}


def _unit(name: str, package: str) -> str | None:
    """The child of ``package`` (a file or sub-folder) that module ``name`` is in; the package's own
    ``__init__.py`` is a child too."""
    if name == package:
        return f"{package}.__init__"
    if not name.startswith(package + "."):
        return None
    return package + "." + name[len(package) + 1 :].split(".")[0]


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def folder_cycles(edges: set[tuple[str, str]] | None = None) -> dict[str, list[str]]:
    """``{"import cycle in FOLDER/: a -> b, ...": [where]}`` at every folder level (default edges: the
    checked ones)."""
    edges, lines = checked_edges() if edges is None else edges, import_edges()
    findings: dict[str, list[str]] = {}
    for package in sorted(name for name, module in modules().items() if module.is_package):
        units: dict[tuple[str, str], list[str]] = {}
        for a, b in edges:
            ua, ub = _unit(a, package), _unit(b, package)
            if ua and ub and ua != ub:
                units.setdefault((ua, ub), []).extend(lines[(a, b)])
        for cycle in cycles(set(units)):
            steps = sorted(edge for edge in units if edge[0] in cycle and edge[1] in cycle)
            key = f"import cycle in {package.replace('.', '/')}/: " + ", ".join(
                f"{_short(a)} -> {_short(b)}" for a, b in steps
            )
            findings[key] = [where for edge in steps for where in units[edge][:1]]
    return findings


def file_pairs(edges: set[tuple[str, str]] | None = None) -> dict[str, list[str]]:
    """``{"files import each other: a <-> b": [where]}`` (default edges: the checked ones)."""
    edges, lines = checked_edges() if edges is None else edges, import_edges()
    pairs = {tuple(sorted(edge)) for edge in edges if edge[::-1] in edges}
    return {
        f"files import each other: {_short(a)} <-> {_short(b)}": lines[(a, b)] + lines[(b, a)]
        for a, b in pairs
    }


def test_no_two_files_import_each_other():
    _check(file_pairs(), "files import each other")


def test_no_import_cycle_between_folders_at_any_level():
    _check(folder_cycles(), "import cycle")


def test_allowed_imports_occur_and_are_needed():
    """Each ALLOWED import still occurs, and on its own would close a pair or a cycle."""
    keyed = {_edge_key(*edge): edge for edge in import_edges()}
    checked = checked_edges()
    stale, unneeded = [], []
    for key in (k for k in ALLOWED if k.startswith("import:")):
        if key not in keyed:
            stale.append(key)
        elif not (file_pairs(checked | {keyed[key]}) or folder_cycles(checked | {keyed[key]})):
            unneeded.append(key)
    assert not stale, "ALLOWED lists imports that no longer occur (remove them):\n" + "\n".join(stale)
    assert not unneeded, "ALLOWED lists imports that close no cycle (remove them):\n" + "\n".join(unneeded)


def test_the_checks_see_what_they_should():
    assert cycles({("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}) == [["a", "b", "c"]]
    assert cycles({("a", "b"), ("b", "c")}) == []
    assert _unit("hrcam.highres.refine.core", "hrcam") == "hrcam.highres"
    assert _unit("hrcam", "hrcam") == "hrcam.__init__" and _unit("hrcam.io", "hrcam.highres") is None
    # `from hrcam.highres.refine import core` imports the submodule; a lazy import inside a function counts
    edges = import_edges()
    assert ("hrcam.highres.refine.figure", "hrcam.highres.refine.core") in edges
    assert ("hrcam.highres.half", "hrcam.highres.loading") in edges  # inside HalfModel.load
    assert ("hrcam.postprocessing", "hrcam.highres.refine") in edges  # a star import
    assert ("hrcam", "hrcam.plotting") in edges  # hrcam/__init__'s lazy table: a module path in a string
    assert layer_names()["conv_aux"] == "cam_features" and layer_names()["tr_up_early"] == "high_res"


# --- private names ---------------------------------------------------------------------------------------


def _private_module(target: str, importer: str) -> bool:
    """``target`` is (or lies in) a ``_module`` of a folder that ``importer`` is not in."""
    if target == COMPAT:
        return False
    parts = target.split(".")
    return any(
        _private(part) and not importer.startswith(".".join(parts[:i]) + ".") for i, part in enumerate(parts)
    )


def _bound_names(module: Module) -> dict[str, str]:
    """Local names bound by the file's hrcam imports -> the module they come from."""
    bound = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ImportFrom):
            for alias, (target, _, _) in zip(node.names, _imports(module, node, modules())):
                bound[alias.asname or alias.name] = target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "hrcam" and alias.asname:
                    bound[alias.asname] = alias.name
    return bound


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    return node.func.attr if isinstance(node.func, ast.Attribute) else None


@functools.cache
def private_definitions() -> dict[str, frozenset[str]]:
    """``{_name: the modules that define it}``: functions, classes, assignments, attributes set (also by
    ``setattr`` / ``object.__setattr__``), parameters, keyword arguments (``set_defaults(_module=...)``)."""
    found: dict[str, set[str]] = {}
    for module in modules().values():
        for node in ast.walk(module.tree):
            names = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.append(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.append(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.append(node.attr)
            elif isinstance(node, ast.Call) and _call_name(node) in ("setattr", "__setattr__"):
                if len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                    names.append(node.args[1].value)
            elif isinstance(node, ast.arg):
                names.append(node.arg)
            elif isinstance(node, ast.keyword) and node.arg:
                names.append(node.arg)
            elif isinstance(node, ast.alias):
                names.append(node.asname or node.name.split(".")[0])
            for name in names:
                if isinstance(name, str) and _private(name):
                    found.setdefault(name, set()).add(module.name)
    return {name: frozenset(where) for name, where in found.items()}


def _own_object(node: ast.expr) -> bool:
    """``self`` / ``cls`` / ``super()``: a class reading what it (or a base it extends) defines."""
    if isinstance(node, ast.Name):
        return node.id in ("self", "cls")
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def private_findings() -> dict[str, list[str]]:
    defined = private_definitions()
    findings: dict[str, list[str]] = {}
    for module in modules().values():
        for target, name, line in module.imports:
            where = f"{module.file}:{line}"
            if name and name != "*" and _private(name) and target not in (module.name, COMPAT):
                findings.setdefault(
                    f"private name: {module.file} imports {name} from {_short(target)}", []
                ).append(where)
            elif _private_module(target, module.name):
                findings.setdefault(f"private name: {module.file} imports {_short(target)}", []).append(where)
        bound = _bound_names(module)
        for node in ast.walk(module.tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)) or isinstance(
                node.ctx, ast.Store
            ):
                continue
            where = f"{module.file}:{node.lineno}"
            value = node.value
            if isinstance(value, ast.Name) and value.id in bound and bound[value.id] != COMPAT:
                source = _short(bound[value.id])
                key = f"private name: {module.file} reads {value.id}.{node.attr} (from {source})"
                findings.setdefault(key, []).append(where)
            elif not _own_object(value) and defined.get(node.attr) and module.name not in defined[node.attr]:
                owners = ", ".join(sorted(_short(m) for m in defined[node.attr]))
                findings.setdefault(
                    f"private name: {module.file} reads .{node.attr} (defined in {owners})", []
                ).append(where)
    return findings


def test_no_private_name_crosses_files():
    _check(private_findings(), "private name")


def test_keras_private_attributes_only_in_the_compat_module():
    defined = private_definitions()
    findings: dict[str, list[str]] = {}
    for module in modules().values():
        if module.name == COMPAT:
            continue
        for node in ast.walk(module.tree):
            attr = None
            if isinstance(node, ast.Attribute) and _private(node.attr):
                attr = node.attr
            elif isinstance(node, ast.Call) and _call_name(node) in ("getattr", "hasattr", "setattr"):
                arg = node.args[1] if len(node.args) > 1 else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _private(arg.value):
                    attr = arg.value
            if attr and (attr in KERAS_PRIVATE or attr not in defined):
                key = f"library private attribute: {module.file} reads .{attr}"
                findings.setdefault(key, []).append(f"{module.file}:{node.lineno}")
    _check(findings, "library private attribute")


# --- layer names and file size ---------------------------------------------------------------------------


@functools.cache
def layer_names() -> dict[str, str]:
    """``{layer name: LAYERS field}``, read from the dataclass defaults in hrcam/highres/layers.py."""
    names = {}
    for node in ast.walk(modules()[LAYERS_MODULE].tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            for value in ast.walk(node.value):
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    names[value.value] = node.target.id
    return names


#: fields whose names only a layer has (a literal of theirs counts anywhere); the others ("logits",
#: "probabilities", "reconstruction", "preprocess") are also output keys and words, so theirs count where
#: they name a layer: ``name=...`` and ``get_layer(...)``
DISTINCT = ("cam_features", "pool", "high_res")


def layer_literal_findings() -> dict[str, list[str]]:
    names = layer_names()
    findings: dict[str, list[str]] = {}
    for module in modules().values():
        if module.name == LAYERS_MODULE:
            continue
        for node in ast.walk(module.tree):
            hit = None
            if isinstance(node, ast.Constant) and names.get(node.value) in DISTINCT:
                hit = node.value
            elif (
                isinstance(node, ast.keyword) and node.arg == "name" and isinstance(node.value, ast.Constant)
            ):
                hit = node.value.value
            elif isinstance(node, ast.Call) and _call_name(node) == "get_layer" and node.args:
                hit = node.args[0].value if isinstance(node.args[0], ast.Constant) else None
            if isinstance(hit, str) and hit in names:
                key = f"layer name literal: {module.file} spells {hit!r} (LAYERS.{names[hit]})"
                findings.setdefault(key, []).append(f"{module.file}:{node.lineno}")
    return findings


def test_layer_names_only_through_the_layers_table():
    _check(layer_literal_findings(), "layer name literal")


def test_every_file_is_at_most_400_lines():
    findings = {}
    for module in modules().values():
        count = len(module.path.read_text().splitlines())
        if count > MAX_LINES:
            findings[f"file too long: {module.file} has {count} lines (> {MAX_LINES})"] = [module.file]
    _check(findings, "file too long")


def test_allowed_entries_name_a_check_and_a_reason():
    kinds = (
        "import:",
        "files import each other",
        "import cycle",
        "private name",
        "library private",
        "layer name",
    )
    for key, reason in ALLOWED.items():
        assert key.startswith(kinds), f"ALLOWED[{key!r}] names no check"
        assert reason.strip(), f"ALLOWED[{key!r}] gives no reason"
