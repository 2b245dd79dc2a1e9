"""Load terraform/*.tf with python-hcl2 into plain dicts, whatever python-hcl2's major version."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parents[2]
TF_DIR = REPO_ROOT / "terraform"

_VAR = re.compile(r"^\$\{var\.(\w+)\}$")
_LOCAL = re.compile(r"^\$\{local\.(\w+)\}$")


def _unquote(value: str) -> str:
    # python-hcl2 >= 7 keeps string literals' quotes; older releases strip them.
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def normalize(node: Any) -> Any:
    """Strip literal quotes and python-hcl2's markers (__is_block__, __comments__), recursively."""
    if isinstance(node, dict):
        return {_unquote(k): normalize(v) for k, v in node.items() if not k.startswith("__")}
    if isinstance(node, list):
        return [normalize(v) for v in node]
    if isinstance(node, str):
        return _unquote(node)
    return node


@dataclass
class Module:
    """The declarations of one Terraform module, by kind."""

    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)
    # `removed` and `moved` blocks: state kept or renamed across versions of the module.
    removed: list[dict[str, Any]] = field(default_factory=list)
    moved: list[dict[str, Any]] = field(default_factory=list)
    text: dict[str, str] = field(default_factory=dict)

    def of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {name: body for (t, name), body in self.resources.items() if t == rtype}

    def resolve(self, value: Any) -> Any:
        """Follow `var.x` to its default and `local.x` to its value, repeatedly."""
        for _ in range(10):
            if not isinstance(value, str):
                return value
            if m := _VAR.match(value):
                value = self.variables[m.group(1)]["default"]
            elif m := _LOCAL.match(value):
                value = self.locals[m.group(1)]
            else:
                return value
        return value


def load_module(directory: Path = TF_DIR) -> Module:
    module = Module()
    for path in sorted(directory.glob("*.tf")):
        module.text[path.name] = path.read_text(encoding="utf-8")
        with path.open(encoding="utf-8") as f:
            doc = normalize(hcl2.load(f))
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    module.resources[(rtype, name)] = body
        for block in doc.get("data", []):
            for dtype, named in block.items():
                for name, body in named.items():
                    module.data[(dtype, name)] = body
        for block in doc.get("variable", []):
            module.variables.update(block)
        for block in doc.get("locals", []):
            module.locals.update(block)
        for block in doc.get("output", []):
            module.outputs.update(block)
        module.terraform.extend(doc.get("terraform", []))
        module.removed.extend(doc.get("removed", []))
        module.moved.extend(doc.get("moved", []))
    return module


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The single nested block `name` of a resource body (python-hcl2 gives a list)."""
    value = body[name]
    if isinstance(value, list):
        assert len(value) == 1, f"expected one {name} block, found {len(value)}"
        return value[0]
    return value
