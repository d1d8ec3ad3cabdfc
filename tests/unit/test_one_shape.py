"""One shape (docs/architecture.md, steps/): one Step class, one runner, one host as a run of one.

A second step type (a class with an action beside its title), a branch on whether there is a run at all
(`run is None`), or a step looked up by its name as a string (getattr on the workflows) fails here.
"""

from __future__ import annotations

import ast

from tests.unit.test_layers import MODULES


def _trees():
    return {name: ast.parse(path.read_text()) for name, path in MODULES.items()}


def _fields(cls: ast.ClassDef) -> set[str]:
    return {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


def test_there_is_one_step_class():
    steps = [f"{name}.{node.name}" for name, tree in _trees().items() for node in ast.walk(tree)
             if isinstance(node, ast.ClassDef) and (node.name.endswith("Step") or {"title", "action"} <= _fields(node))]
    assert steps == ["u7s.steps.step.Step"]


def _is_run(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "run"


def _asks_whether_there_is_a_run(node: ast.AST) -> bool:
    if isinstance(node, ast.Compare) and _is_run(node.left):
        return any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops)
    if isinstance(node, (ast.If, ast.IfExp, ast.While)):
        test = node.test.operand if isinstance(node.test, ast.UnaryOp) else node.test
        return _is_run(test)
    return isinstance(node, ast.BoolOp) and any(_is_run(v) for v in node.values)


def test_no_branch_on_whether_there_is_a_run():
    # One host on its own is a run of one member (u7s/session.py: one_host): an action always gets a run.
    found = [f"{name}:{node.lineno}" for name, tree in _trees().items() for node in ast.walk(tree)
             if _asks_whether_there_is_a_run(node)]
    assert found == []


def test_no_step_is_looked_up_by_its_name():
    def names_workflows(arg: ast.AST) -> bool:
        target = arg.func if isinstance(arg, ast.Call) else arg
        return isinstance(target, (ast.Name, ast.Attribute)) and "workflows" in ast.unparse(target)

    found = [f"{name}:{node.lineno}" for name, tree in _trees().items() for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
             and node.args and names_workflows(node.args[0])]
    assert found == []
