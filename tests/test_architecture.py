"""ARCHITECTURE.md stays true: it names every module of the package, and the import
contracts it describes are the ones ``make lint`` checks (``[tool.importlinter]`` in
pyproject.toml)."""

from __future__ import annotations

import re
import tomllib

from tests.perfrun import ROOT

PACKAGE = ROOT / "src" / "bf16perf"
DOC = (ROOT / "ARCHITECTURE.md").read_text()


def _named(module: str) -> bool:
    """``module`` (a path under the package) is named: by its path, or, inside a
    subpackage, by its file name where the subpackage is named."""
    if module in DOC:
        return True
    folder, _, name = module.rpartition("/")
    if folder:
        return f"{folder}/" in DOC and re.search(rf"(?<![\w/]){re.escape(name)}", DOC) is not None
    return re.search(rf"(?<![\w/.]){re.escape(name)}", DOC) is not None


def test_every_module_is_named_in_the_architecture() -> None:
    modules = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    )
    assert len(modules) > 40
    missing = [m for m in modules if not _named(m)]
    assert not missing, f"ARCHITECTURE.md does not name {missing}: add each to its row"


def test_the_architecture_names_the_import_contracts_make_lint_checks() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    assert len(contracts) >= 4
    for contract in contracts:
        assert contract["name"] in DOC, f"contract {contract['name']!r} is not in ARCHITECTURE.md"
    makefile = (ROOT / "Makefile").read_text()
    assert "lint-imports" in makefile


def test_only_the_formats_module_writes_a_schema_version() -> None:
    """Every stored document gets its version from :func:`bf16perf.store.formats.versioned`."""
    writers = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "formats.py" and '"schema_version":' in path.read_text()
    ]
    assert not writers, f"{writers} write a schema version: use bf16perf.store.formats.versioned"


def test_no_module_over_300_lines_and_no_function_over_60() -> None:
    """The size limits of src/, fixtures/, perf/ and benchmarks/: a module that outgrows
    them is split by what it owns, not trimmed."""
    import ast

    over = []
    for folder in ("src", "fixtures", "perf", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            name = str(path.relative_to(ROOT))
            if len(text.splitlines()) > 300:
                over.append(f"{name}: {len(text.splitlines())} lines")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > 60:
                        over.append(f"{name}: {node.name} is {length} lines")
    assert not over, over


def test_the_session_core_imports_no_pytest() -> None:
    """The session's state and its verdicts' failure are pytest-free; only the plugin turns
    a failure into a test's (#33)."""
    import subprocess
    import sys

    core = sorted(p.stem for p in (PACKAGE / "session").glob("*.py") if p.stem != "__init__")
    assert len(core) >= 8
    code = (
        "import sys, importlib, bf16perf.session;"
        f" [importlib.import_module('bf16perf.session.' + m) for m in {core!r}];"
        " assert 'pytest' not in sys.modules, sorted(m for m in sys.modules if 'pytest' in m)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_package_is_a_few_layers_each_saying_its_job() -> None:
    """At most 14 entries at the top of the package (#33), and every package's
    ``__init__`` docstring says its job."""
    import ast

    entries = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__")
    assert len(entries) <= 14, entries
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc.split()) >= 8, f"{init}: say the package's job in its docstring"


def test_the_plugin_loads_light() -> None:
    """Every pytest run in the environment imports the plugin: it must not pull in scipy
    (1.7 s), matplotlib, TensorFlow or Spark before a perf session needs them."""
    import subprocess
    import sys

    heavy = ("scipy", "matplotlib", "tensorflow", "pyspark", "torch")
    code = f"import sys, bf16perf.plugin.hooks; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr[-2000:]
