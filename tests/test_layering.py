"""The layers of docs/architecture.md, checked on the source with ``ast``.

::

    cli ──▶ api ──▶ pipeline ──▶ io ──▶ core
     │        │         └──────▶ plotting ──▶ core        (arrow = may import)
     │        └──▶ drizzlepac (drop-in; imports api only)

Every module under ``src/skymatch`` is parsed (no import, so a broken module cannot
hide a violation); every import is resolved to the module it names -- absolute
(``skymatch.io``), relative (``..io``, ``from .. import io``), at module level or
inside a function -- and checked against the layer table below.  A module that no
rule classifies fails the test, so a new module has to be placed in a layer.

Also checked here:

* only ``skymatch/io/`` imports ``astropy.io.fits`` (io is "the only one that opens
  FITS for reading");
* only ``skymatch/io/`` opens files for writing: calls that write, replace or
  remove files (``open(..., 'w')``, ``.writeto``, ``.savefig``, ``Table.write``,
  ``np.save``, ``os.replace`` ...) anywhere else fail the test;
* the core imports no ``astropy.io`` and no matplotlib; plotting imports matplotlib
  only inside functions; only the CLI configures logging.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "skymatch"

# ------------------------------------------------------------------ the layer table
BASE = "base"  # models, exceptions, _version: shared vocabulary, imports nothing above it

# Which layers each layer may import (itself included).  Arrows of the architecture
# diagram, closed transitively; ``base`` is open to everyone.
ALLOWED = {
    BASE: {BASE},
    "core": {BASE, "core"},
    "io": {BASE, "core", "io"},
    "plotting": {BASE, "core", "plotting"},
    "pipeline": {BASE, "core", "io", "plotting", "pipeline"},
    "datasets": {BASE, "core", "io", "plotting", "pipeline", "datasets"},
    "api": {BASE, "core", "io", "plotting", "pipeline", "datasets", "api"},
    "drizzlepac": {BASE, "api", "root", "drizzlepac"},
    # The CLI is argument parsing, printing and exit codes on top of the api.
    "cli": {BASE, "api", "root", "cli"},
    # The package's __init__ is the public namespace: it re-exports every layer.
    "root": {BASE, "core", "io", "plotting", "pipeline", "datasets", "api", "drizzlepac", "cli",
             "root"},
}


def layer_of(module: str) -> str | None:
    """Layer of a dotted module name inside ``skymatch`` (None: unclassified)."""
    parts = module.split(".")
    assert parts[0] == "skymatch", module
    if len(parts) == 1:
        return "root"
    head = parts[1]
    if head in ("models", "exceptions", "_version"):
        return BASE
    if head == "__main__":
        return "cli"
    if head in ("core", "io", "pipeline", "plotting", "datasets", "drizzlepac"):
        return head
    if head in ("_api", "api"):
        return "api"
    if head == "cli" or head.startswith("cli_"):
        return "cli"
    if head == "chips":
        # make_chip: arrays and a WCS in, a Chip out; no I/O.  Core rules apply.
        return "core"
    if head == "alignment":
        # align/tweakback orchestration: files in, header updates out.
        return "pipeline"
    return None


# ------------------------------------------------------------------ parsing
@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. skymatch.core._pairs
    path: Path
    tree: ast.Module
    is_package: bool


def _modules() -> list[Module]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out.append(Module(".".join(parts), path, ast.parse(path.read_text(encoding="utf-8")),
                          is_package))
    return out


MODULES = _modules()
KNOWN = {m.name for m in MODULES}


def _resolve_relative(mod: Module, level: int, target: str | None) -> str:
    package = mod.name.split(".") if mod.is_package else mod.name.split(".")[:-1]
    if level - 1 > len(package) - 1:
        raise AssertionError(f"{mod.path}: relative import beyond the package")
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports_of(mod: Module):
    """``(lineno, imported module, at module level?)`` for every import in ``mod``.

    ``from X import name`` counts as importing ``X.name`` when that is a module of
    skymatch (``from .. import io``), else as importing ``X``.
    """
    top_level = {id(n) for n in mod.tree.body}
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            base = (_resolve_relative(mod, node.level, node.module) if node.level
                    else node.module or "")
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield node.lineno, (sub if sub in KNOWN else base), id(node) in top_level


def _skymatch_target(name: str) -> str | None:
    if name == "skymatch" or name.startswith("skymatch."):
        # The deepest known module that ``name`` lies in (a name may be an attribute).
        parts = name.split(".")
        while parts and ".".join(parts) not in KNOWN:
            parts.pop()
        return ".".join(parts) if parts else name
    return None


def _rel(mod: Module) -> str:
    return str(mod.path.relative_to(SRC.parent))


# ------------------------------------------------------------------ layer tests
def test_every_module_has_a_layer():
    unclassified = [_rel(m) for m in MODULES if layer_of(m.name) is None]
    assert not unclassified, f"modules outside every layer (add them to layer_of): {unclassified}"


def test_the_scan_sees_every_import_form():
    # The resolver itself: relative, absolute, from-package-import-module and imports
    # inside functions all come out as the module they name.
    src = (
        "from .. import io\n"
        "from ..core import _stats\n"
        "from ..pipeline._sky import run_sky\n"
        "import skymatch.plotting\n"
        "from skymatch import models\n"
        "def f():\n"
        "    from . import _pairs\n"
        "    import skymatch.cli as c\n"
    )
    fake = Module("skymatch.core._fake", PACKAGE / "core" / "_fake.py", ast.parse(src), False)
    got = {(name, top) for _, name, top in imports_of(fake)}
    assert got == {("skymatch.io", True), ("skymatch.core._stats", True),
                   ("skymatch.pipeline._sky", True), ("skymatch.plotting", True),
                   ("skymatch.models", True), ("skymatch.core._pairs", False),
                   ("skymatch.cli", False)}
    bad = [(name, layer_of(name)) for name, _ in got
           if layer_of(name) not in ALLOWED["core"]]
    assert sorted(bad) == [("skymatch.cli", "cli"), ("skymatch.io", "io"),
                           ("skymatch.pipeline._sky", "pipeline"),
                           ("skymatch.plotting", "plotting")]


def layer_violations() -> list[str]:
    out = []
    for mod in MODULES:
        layer = layer_of(mod.name)
        if layer is None:
            continue
        seen = set()
        for lineno, name, _ in sorted(imports_of(mod)):
            target = _skymatch_target(name)
            if target is None or (lineno, target) in seen:
                continue
            seen.add((lineno, target))
            tl = layer_of(target)
            if tl not in ALLOWED[layer]:
                out.append(f"{_rel(mod)}:{lineno} ({layer}) imports {target} ({tl})")
    return out


def test_layers_import_only_downwards():
    bad = layer_violations()
    assert not bad, f"{len(bad)} imports cross the layers of docs/architecture.md:\n" + "\n".join(bad)


def _external_violations(rule) -> list[str]:
    out = []
    for mod in MODULES:
        layer = layer_of(mod.name)
        for lineno, name, top in sorted(set(imports_of(mod))):
            why = rule(mod, layer, name, top)
            if why:
                out.append(f"{_rel(mod)}:{lineno} imports {name}: {why}")
    return out


def test_core_imports_no_file_io_or_plotting():
    def rule(mod, layer, name, top):
        if layer != "core":
            return None
        if name == "astropy.io" or name.startswith("astropy.io."):
            return "the core does no file I/O"
        if name == "matplotlib" or name.startswith("matplotlib."):
            return "the core does no plotting"
        return None

    bad = _external_violations(rule)
    assert not bad, "\n".join(bad)


def test_only_io_imports_astropy_io_fits():
    def rule(mod, layer, name, top):
        if layer == "io":
            return None
        if name in ("astropy.io.fits", "astropy.io") or name.startswith("astropy.io.fits."):
            return "only skymatch/io/ opens FITS files"
        return None

    bad = _external_violations(rule)
    assert not bad, f"{len(bad)} FITS imports outside io:\n" + "\n".join(bad)


def test_matplotlib_is_imported_only_inside_functions():
    def rule(mod, layer, name, top):
        if (name == "matplotlib" or name.startswith("matplotlib.")) and top:
            return "import matplotlib inside the plotting functions (import time, no display)"
        return None

    bad = _external_violations(rule)
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------ who writes files
# Calls that create, write, replace or remove files, by the name they are called as.
WRITE_FUNCTIONS = {
    ("fits", "writeto"), ("fits", "append"), ("fits", "update"), ("fits", "setval"),
    ("fits", "delval"), ("np", "save"), ("np", "savez"), ("np", "savez_compressed"),
    ("np", "savetxt"), ("numpy", "save"), ("numpy", "savetxt"), ("os", "replace"),
    ("os", "rename"), ("os", "remove"), ("os", "unlink"), ("os", "link"), ("os", "symlink"),
    ("os", "truncate"), ("os", "fdopen"), ("shutil", "copy"), ("shutil", "copy2"),
    ("shutil", "copyfile"), ("shutil", "copyfileobj"), ("shutil", "move"), ("shutil", "rmtree"),
    ("tempfile", "NamedTemporaryFile"), ("tempfile", "mkstemp"), ("tempfile", "TemporaryFile"),
    ("imageio", "imwrite"), ("imageio", "mimwrite"), ("imageio", "mimsave"), ("imageio", "imsave"),
    ("plt", "savefig"), ("plt", "imsave"), ("pickle", "dump"), ("logging", "FileHandler"),
    ("urllib.request", "urlretrieve"),
}
# Methods that write whatever they are called on (HDUs, figures, tables, paths, images).
# (Not ``replace``/``rename``: str.replace is everywhere; os.replace is listed above.)
WRITE_METHODS = {"writeto", "savefig", "write_text", "write_bytes", "tofile", "imsave",
                 "touch", "unlink", "flush"}
# ``.save(`` (PIL images, animations) and ``.write(`` (astropy tables, file handles)
# also count, except on the standard streams and tqdm's console writer.
WRITE_OK_RECEIVERS = {"sys.stdout", "sys.stderr", "tqdm"}
WRITE_MODE_CHARS = set("wax+")


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else node.attr
    return ""


def _open_mode(call: ast.Call, position: int) -> str | None:
    """The literal mode of an open() call; '' when absent (read), None when not literal."""
    mode = None
    if len(call.args) > position:
        mode = call.args[position]
    for kw in call.keywords:
        if kw.arg == "mode":
            mode = kw.value
    if mode is None:
        return ""
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return mode.value
    return None


def _writes_through_method(method: str, receiver: str) -> bool:
    if method in WRITE_METHODS:
        return receiver not in ("str", "np", "numpy")
    return method in ("save", "write") and receiver not in WRITE_OK_RECEIVERS


def write_calls(tree: ast.AST):
    """``(lineno, description)`` of every call in ``tree`` that writes a file."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = _dotted(func)
        if (isinstance(func, ast.Name) and func.id == "open") or name in ("io.open", "os.open"):
            if name == "os.open":
                # The null device (the CLI redirects output there after a closed pipe) is
                # not a file anyone keeps.
                if not (node.args and _dotted(node.args[0]) == "os.devnull"):
                    yield node.lineno, "os.open(...)"
                continue
            mode = _open_mode(node, 1)
            if mode is None or WRITE_MODE_CHARS & set(mode):
                yield node.lineno, f"open(..., {mode!r})"
            continue
        if not isinstance(func, ast.Attribute):
            continue
        receiver = _dotted(func.value)
        if receiver in ("sys.stdout", "sys.stderr"):  # the console, not a file
            continue
        if (receiver, func.attr) in WRITE_FUNCTIONS or (
                receiver.split(".")[-1], func.attr) in WRITE_FUNCTIONS:
            yield node.lineno, f"{name}(...)"
        elif func.attr == "open":  # Path.open / fits.open / gzip.open ...
            mode = _open_mode(node, 1 if receiver in ("fits", "gzip", "bz2") else 0)
            if receiver == "fits":
                if mode is None or mode in ("update", "append", "ostream"):
                    yield node.lineno, f"{name}(..., mode={mode!r})"
            elif mode is None or WRITE_MODE_CHARS & set(mode):
                yield node.lineno, f"{name}(..., {mode!r})"
        elif _writes_through_method(func.attr, receiver):
            yield node.lineno, f"{name}(...)"


def write_violations() -> list[str]:
    out = []
    for mod in MODULES:
        if layer_of(mod.name) == "io":
            continue
        for lineno, what in sorted(set(write_calls(mod.tree))):
            out.append(f"{_rel(mod)}:{lineno}: {what}")
    return out


def test_write_call_scan_finds_every_form():
    src = (
        "import numpy as np\n"
        "from astropy.io import fits\n"
        "def f(p, table, fig, hdul, img, anim, m):\n"
        "    open(p, 'w')\n"
        "    open(p, mode='ab')\n"
        "    open(p)\n"                       # read: fine
        "    open(p, 'rb')\n"                 # read: fine
        "    open(p, m)\n"                    # unknown mode: counts
        "    p.open('w')\n"
        "    p.write_text('x')\n"
        "    hdul.writeto(p)\n"
        "    fits.writeto(p, None)\n"
        "    fits.open(p, mode='update')\n"
        "    fits.open(p)\n"                  # read: fine
        "    table.write(p, format='ascii.csv')\n"
        "    fig.savefig(p)\n"
        "    img.save(p)\n"
        "    np.save(p, 1)\n"
        "    import os, shutil\n"
        "    os.replace(p, p)\n"
        "    shutil.copy(p, p)\n"
        "    import sys\n"
        "    sys.stdout.write('x')\n"         # console: fine
    )
    found = [line for line, _ in write_calls(ast.parse(src))]
    assert found == [4, 5, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 20, 21]


def test_only_io_writes_files():
    bad = write_violations()
    assert not bad, (f"{len(bad)} file-writing calls outside skymatch/io/ (route them through "
                     "io's atomic writer):\n" + "\n".join(bad))


# Calls that read files: the core gets arrays, WCS objects and chips (whose pixel
# sources io provides), never a path to open.
READ_FUNCTIONS = {("np", "load"), ("np", "loadtxt"), ("np", "genfromtxt"), ("np", "fromfile"),
                  ("np", "memmap"), ("fits", "open"), ("fits", "getdata"), ("fits", "getheader"),
                  ("fits", "getval"), ("os", "listdir"), ("os", "scandir"), ("glob", "glob")}


def read_calls(tree: ast.AST):
    """``(lineno, call)`` of every call in ``tree`` that opens or lists files."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        parts = tuple(name.rsplit(".", 1)) if "." in name else ("", name)
        if (name in ("open", "io.open", "os.open") or parts in READ_FUNCTIONS
                or parts[1] in ("read_text", "read_bytes", "iterdir")):
            yield node.lineno, f"{name}(...)"


def test_core_opens_no_files():
    src = "def f(p, chip):\n    open(p)\n    np.load(p)\n    chip.pixels.read()\n    p.read_text()\n"
    assert [line for line, _ in read_calls(ast.parse(src))] == [2, 3, 5]
    bad = [f"{_rel(mod)}:{line}: {what}" for mod in MODULES if layer_of(mod.name) == "core"
           for line, what in read_calls(mod.tree)]
    assert not bad, "the core opens files:\n" + "\n".join(bad)


# ------------------------------------------------------------------ logging set-up
LOGGING_SETUP = {"basicConfig", "addHandler", "setLevel", "dictConfig", "fileConfig",
                 "captureWarnings", "disable"}


# The per-run log file (io/_logfile.py) lowers the 'skymatch' logger's level to INFO for
# the run it records and restores it afterwards: that is the log file, not a set-up.
LOGGING_SETUP_ALLOWED = ("skymatch.io._logfile",)


def test_only_the_cli_configures_logging():
    bad = [f"{_rel(mod)}:{node.lineno}: {_dotted(node.func)}(...)"
           for mod in MODULES if layer_of(mod.name) != "cli" and mod.name not in LOGGING_SETUP_ALLOWED
           for node in ast.walk(mod.tree)
           if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
           and node.func.attr in LOGGING_SETUP and "log" in _dotted(node.func.value).lower()]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module, layer", [
    ("skymatch", "root"), ("skymatch.models", BASE), ("skymatch.core._stats", "core"),
    ("skymatch.io._fits", "io"), ("skymatch.pipeline._sky", "pipeline"),
    ("skymatch._api", "api"), ("skymatch.cli._sky", "cli"), ("skymatch.plotting", "plotting"),
    ("skymatch.drizzlepac.astrodrizzle", "drizzlepac"), ("skymatch.datasets", "datasets"),
    ("skymatch.somethingnew", None),
])
def test_layer_table(module, layer):
    assert layer_of(module) == layer
