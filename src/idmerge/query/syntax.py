"""The syntax tree of a ``where`` / ``on`` expression, as ``expr.parse`` builds it.

Frozen dataclasses: a tree is a value, compared and printed as one, which tests use.
Every node records where it starts in the text, so the compiler can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Source = Literal["properties", "event", "user"]
Function = Literal["defined", "boolean", "number", "string", "floor", "round", "ceil"]
BinaryOp = Literal["+", "-", "*", "/", "%", "==", "!=", ">", ">=", "<", "<=", "in"]
Scalar = str | float | bool | None


@dataclass(frozen=True, kw_only=True)
class Node:
    """A node starts at ``pos`` in the text, except that a binary operator's ``pos`` is
    the operator's own (where an error about it should point). ``height`` is the depth
    of the tree below it, counted once at construction: checking the limit then needs
    no recursive walk."""

    pos: int
    height: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        below = max((child.height for child in self.children()), default=0)
        object.__setattr__(self, "height", below + 1)

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True, kw_only=True)
class Const(Node):
    value: Scalar


@dataclass(frozen=True, kw_only=True)
class ConstList(Node):
    items: tuple[Const, ...]


@dataclass(frozen=True, kw_only=True)
class Ref(Node):
    """``properties["x"]``, ``event["x"]`` or ``user["x"]``."""

    source: Source
    name: str


@dataclass(frozen=True, kw_only=True)
class DateTimeConst(Node):
    """``datetime(...)``, resolved while parsing to milliseconds since the epoch."""

    ms: int


@dataclass(frozen=True, kw_only=True)
class Call(Node):
    func: Function
    arg: Expr

    def children(self) -> tuple[Node, ...]:
        return (self.arg,)


@dataclass(frozen=True, kw_only=True)
class Not(Node):
    operand: Expr

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True, kw_only=True)
class Negate(Node):
    operand: Expr

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True, kw_only=True)
class Binary(Node):
    op: BinaryOp
    left: Expr
    right: Expr

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, kw_only=True)
class Logical(Node):
    """A run of ``and`` (or of ``or``) kept flat: a filter OR-ing a hundred values is
    common, and as a left-leaning chain it would count a hundred levels deep."""

    op: Literal["and", "or"]
    operands: tuple[Expr, ...]

    def children(self) -> tuple[Node, ...]:
        return self.operands


Expr = Const | ConstList | Ref | DateTimeConst | Call | Not | Negate | Binary | Logical


# The parser has checked the text already; these only tell the type checker.


def as_binary_op(text: str) -> BinaryOp:
    match text:
        case "+" | "-" | "*" | "/" | "%" | "==" | "!=" | ">" | ">=" | "<" | "<=" | "in":
            return text
    raise AssertionError(text)


def as_source(text: str) -> Source:
    match text:
        case "properties" | "event" | "user":
            return text
    raise AssertionError(text)


def as_function(text: str) -> Function:
    match text:
        case "defined" | "boolean" | "number" | "string" | "floor" | "round" | "ceil":
            return text
    raise AssertionError(text)
