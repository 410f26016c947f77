"""The layout shows the architecture: subpackages by layer, small modules, no import cycles, a short README."""

import ast
import os

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(TOP, "awskinesisstreams")


def modules():
    """Every module of the package: dotted name -> path (a package is named by its __init__)."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, TOP)[:-3].replace(os.sep, ".")
                found[dotted[: -len(".__init__")] if dotted.endswith(".__init__") else dotted] = path
    return found


def imports(name, path, known):
    """The package's modules that `name` imports, at module level or inside a function."""
    base = name.split(".") if path.endswith("__init__.py") else name.split(".")[:-1]
    with open(path) as f:
        tree = ast.parse(f.read())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = ".".join(base[: len(base) - node.level + 1] + [node.module or ""]).strip(".") if node.level else node.module
            for alias in node.names:
                full = "%s.%s" % (target, alias.name)
                out.add(full if full in known else target)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return out & set(known)


def test_no_module_imports_one_that_imports_it_back():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}

    def reaches(start, goal, seen):
        for nxt in graph[start]:
            if nxt == goal or (nxt not in seen and not seen.add(nxt) and reaches(nxt, goal, seen)):
                return True
        return False

    cycles = sorted(name for name in graph if reaches(name, name, set()))
    assert cycles == []


def test_subpackages_by_layer_and_few_modules_at_the_top():
    top = [name for name in os.listdir(PACKAGE) if name.endswith(".py")]
    subpackages = [name for name in os.listdir(PACKAGE) if os.path.isfile(os.path.join(PACKAGE, name, "__init__.py"))]
    assert len(top) <= 12, sorted(top)
    assert {"buffering", "worker", "reading", "leases", "wire", "transport", "cli"} <= set(subpackages)
    assert "http" not in subpackages and os.path.isfile(os.path.join(PACKAGE, "py.typed"))


def test_no_module_over_400_lines_and_a_short_readme():
    long = {}
    for name, path in modules().items():
        with open(path) as f:
            count = sum(1 for _ in f)
        if count > 400:
            long[name] = count
    assert long == {}
    with open(os.path.join(TOP, "README.md")) as f:
        assert sum(1 for _ in f) <= 400
