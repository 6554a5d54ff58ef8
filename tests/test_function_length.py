"""Functions a reader can hold in their head: none in ``src/skymatch`` is longer than
:data:`MAX_LINES` lines of code (the docstring not counted) unless :data:`ALLOWED` says
why.  Split a long function along its natural steps rather than adding it here."""

from __future__ import annotations

import ast
import pathlib
import textwrap

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "skymatch"
MAX_LINES = 60

# Qualified name ("module:Class.function") -> why it may stay longer than MAX_LINES.
ALLOWED = {
    "skymatch.pipeline._mosaic:drizzle_products": "62 lines: one transaction's steps in order (frame, "
    "blocks, staged products, HDRTAB, commit) read best together; the next change to it should split it",
}


def code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from ``def`` to the function's last line, less its docstring's lines, with a
    signature spread over several lines counted as one.

    The public functions take every option keyword-only, one per line (DESIGN.md:
    options in signatures, AstroDrizzle's names), so ``run`` and ``compare`` have 40-line
    signatures; a list of declarations, each documented, is not what makes a function
    hard to hold in one's head: its steps are.
    """
    n = node.end_lineno - node.lineno + 1
    first = node.body[0]
    n -= max(0, first.lineno - node.lineno - 1)  # signature lines beyond the first
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        n -= first.end_lineno - first.lineno + 1
    return n


def functions(tree: ast.AST, module: str):
    """``(qualified name, code lines)`` of every function and method, nested ones too."""
    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                yield f"{module}:{name}", code_lines(child)
                yield from walk(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, prefix + child.name + ".")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


@pytest.fixture(scope="module")
def long_functions() -> dict[str, int]:
    """Every function of ``src/skymatch`` over the limit, with its length."""
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
        out.update((name, n) for name, n in functions(ast.parse(path.read_text(encoding="utf-8")), module)
                   if n > MAX_LINES)
    return out


def test_counter_leaves_out_the_docstring_and_the_signature_lines():
    body = "\n".join(f"    x{k} = {k}" for k in range(59))
    src = textwrap.dedent('''\
        class A:
            def f(
                self,
                *,
                option=1,
            ):
                """One.

                Three lines of docstring.
                """
        ''') + textwrap.indent(body, "    ") + "\n\n" + 'def g():\n    "one line"\n    return 1\n' \
        + "def h(): return 2\n"
    got = dict(functions(ast.parse(src), "m"))
    assert got == {"m:A.f": 60, "m:g": 2, "m:h": 1}  # def + 59 statements; def + return; one line


def test_no_function_is_longer_than_the_limit_without_a_reason(long_functions):
    unexplained = {name: n for name, n in long_functions.items() if name not in ALLOWED}
    assert not unexplained, (
        f"functions over {MAX_LINES} lines of code (docstring excluded): {unexplained}; split them "
        "along their natural steps, or add them to ALLOWED in tests/test_function_length.py with a reason")


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_allowlist_has_a_reason_and_no_stale_entry(name, long_functions):
    assert ALLOWED[name].strip()
    assert name in long_functions, f"{name} is no longer over {MAX_LINES} lines (or is gone): remove it from ALLOWED"
