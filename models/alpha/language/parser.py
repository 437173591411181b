"""Tokenizer, Pratt parser and printer for the alpha expression language.

The language is tiny and safe: user text is tokenised and parsed into the frozen AST below; it is
never handed to Python's ``eval``/``exec``/``ast.literal_eval``.

Grammar (lowest to highest precedence)::

    expr     := cond
    cond     := compare [ '?' expr ':' expr ]          (right associative)
    compare  := sum [ ('>' | '<' | '>=' | '<=' | '==' | '!=') sum ]
    sum      := product { ('+' | '-') product }
    product  := unary { ('*' | '/') unary }
    unary    := '-' unary | '+' unary | primary
    primary  := NUMBER | NAME | NAME '(' expr { ',' expr } ')' | '(' expr ')'

Variables: ``open high low close volume`` (aliases ``O H L C V``, also lower case ``o h l c v``),
``typical`` = (high+low+close)/3 (alias ``vwap``), ``returns`` = close/close[t-1] - 1.
Function aliases: ``ref`` = ``delay``, ``sma`` = ``ts_mean``, ``where(c, a, b)`` = ``c ? a : b``.
Names are case-sensitive apart from the documented aliases. Aliases are resolved while parsing,
so the AST holds canonical names only.

Functions come from the operator table (:data:`~models.alpha.language.operators.OPERATORS`):
a call is checked against its entry (name or alias, number of arguments, window arguments ``n``
must be positive integer literals, ``k`` arguments numeric literals, then the entry's own
``check``). Adding a function means adding one entry there; nothing in this module changes.
:data:`FUNCTIONS` and :data:`FUNCTION_ALIASES` are read-only views derived from that table.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Union

from feeds.errors import ConfigError
from models.alpha.language.operators import OPERATORS, Operator, OperatorTable

__all__ = [
    "AlphaSyntaxError", "Num", "Var", "Neg", "BinOp", "Cond", "Call", "Node",
    "FUNCTIONS", "FUNCTION_ALIASES", "VARIABLES", "parse", "to_text", "tokenize",
]


class AlphaSyntaxError(ConfigError):
    """A formula that cannot be parsed.

    Attributes:
        formula: the formula text.
        column: 1-based column of the offending character.
        detail: what went wrong / what was expected (without the position).
    """

    def __init__(self, detail: str, formula: str, column: int, hint: str = ""):
        self.formula = formula
        self.column = column
        self.detail = detail
        self.hint = hint
        caret = " " * (column - 1) + "^"
        super().__init__(f"{self.short}\n  {formula}\n  {caret}")

    @property
    def short(self) -> str:
        """One-line message: ``detail at column N[; hint]``."""
        return f"{self.detail} at column {self.column}" + (f"; {self.hint}" if self.hint else "")


# --------------------------------------------------------------------------------------- AST
@dataclass(frozen=True)
class Num:
    """A numeric literal (always non-negative; ``-3`` parses as ``Neg(Num(3))``)."""

    value: float


@dataclass(frozen=True)
class Var:
    """A canonical variable name (``open``, ``high``, ``low``, ``close``, ``volume``, ...)."""

    name: str


@dataclass(frozen=True)
class Neg:
    """Unary minus."""

    operand: "Node"


@dataclass(frozen=True)
class BinOp:
    """Binary operator: one of ``+ - * / > < >= <= == !=``."""

    op: str
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Cond:
    """``cond ? then : other`` (also written ``where(cond, then, other)``)."""

    cond: "Node"
    then: "Node"
    other: "Node"


@dataclass(frozen=True)
class Call:
    """Function call with a canonical function name; ``pos`` is not part of equality."""

    func: str
    args: tuple
    pos: int = field(default=0, compare=False, repr=False)


Node = Union[Num, Var, Neg, BinOp, Cond, Call]

VARIABLES: dict[str, str] = {
    "open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume",
    "O": "open", "H": "high", "L": "low", "C": "close", "V": "volume",
    "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume",
    "typical": "typical", "vwap": "typical", "returns": "returns", "ret": "returns",
}

#: canonical function -> (argument kinds, number of required arguments, defaults for optional),
#: derived from the operator table. kinds: ``x`` any expression, ``n`` positive integer literal
#: (window), ``k`` numeric literal.
FUNCTIONS = MappingProxyType({name: (op.kinds, op.required, op.defaults)
                              for name, op in OPERATORS.items()})
#: alias -> canonical function (``where`` is the syntax for ``cond ? then : other``).
FUNCTION_ALIASES = MappingProxyType({**OPERATORS.aliases, "where": "where"})

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>>=|<=|==|!=|[-+*/()<>?:,])
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    kind: str  # 'num', 'name', 'op', 'end'
    text: str
    col: int  # 1-based


def tokenize(formula: str) -> list[Token]:
    """Split a formula into tokens; unknown characters raise :class:`AlphaSyntaxError`."""
    tokens: list[Token] = []
    i = 0
    while i < len(formula):
        m = _TOKEN_RE.match(formula, i)
        if m is None:
            raise AlphaSyntaxError(f"unexpected character {formula[i]!r}", formula, i + 1)
        kind = m.lastgroup
        if kind != "ws":
            tokens.append(Token(kind, m.group(), i + 1))
        i = m.end()
    tokens.append(Token("end", "", len(formula) + 1))
    return tokens


_BINARY_BP = {"?": 1, ">": 3, "<": 3, ">=": 3, "<=": 3, "==": 3, "!=": 3,
              "+": 5, "-": 5, "*": 7, "/": 7}
_COMPARE = {">", "<", ">=", "<=", "==", "!="}
_UNARY_BP = 9


def _describe(tok: Token) -> str:
    return "end of formula" if tok.kind == "end" else repr(tok.text)


class _Parser:
    def __init__(self, formula: str, table: OperatorTable):
        self.formula = formula
        self.table = table
        self.tokens = tokenize(formula)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, detail: str, tok: Token, hint: str = ""):
        raise AlphaSyntaxError(detail, self.formula, tok.col, hint)

    def expect(self, text: str) -> Token:
        tok = self.peek()
        if tok.text != text or tok.kind != "op":
            self.fail(f"expected {text!r}, found {_describe(tok)}", tok)
        return self.next()

    def parse(self) -> Node:
        node = self.expr(0)
        tok = self.peek()
        if tok.kind != "end":
            self.fail(f"expected an operator or end of formula, found {_describe(tok)}", tok)
        return node

    def expr(self, min_bp: int) -> Node:
        left = self.prefix()
        while True:
            tok = self.peek()
            if tok.kind != "op" or tok.text not in _BINARY_BP:
                return left
            bp = _BINARY_BP[tok.text]
            if bp <= min_bp:
                return left
            self.next()
            if tok.text == "?":
                then = self.expr(0)
                self.expect(":")
                other = self.expr(0)  # right associative: a ? b : c ? d : e
                left = Cond(left, then, other)
            else:
                right = self.expr(bp)
                left = BinOp(tok.text, left, right)

    def prefix(self) -> Node:
        tok = self.next()
        if tok.kind == "num":
            return Num(float(tok.text))
        if tok.kind == "op" and tok.text == "-":
            return Neg(self.expr(_UNARY_BP))
        if tok.kind == "op" and tok.text == "+":
            return self.expr(_UNARY_BP)
        if tok.kind == "op" and tok.text == "(":
            node = self.expr(0)
            self.expect(")")
            return node
        if tok.kind == "name":
            if self.peek().kind == "op" and self.peek().text == "(":
                return self.call(tok)
            if tok.text in VARIABLES:
                return Var(VARIABLES[tok.text])
            if tok.text == "where" or self.table.resolve(tok.text) is not None:
                self.fail(f"function '{tok.text}' needs arguments in parentheses", tok)
            known = ", ".join(sorted(set(VARIABLES)))
            self.fail(f"unknown variable '{tok.text}'", tok, f"known: {known}")
        self.fail(f"expected a number, variable, function or '(', found {_describe(tok)}", tok)
        raise AssertionError  # pragma: no cover

    def call(self, name_tok: Token) -> Node:
        op = self.table.resolve(name_tok.text)
        if op is None and name_tok.text != "where":
            known = ", ".join(sorted({*self.table, *self.table.aliases, "where"}))
            self.fail(f"unknown function '{name_tok.text}'", name_tok, f"known: {known}")
        self.expect("(")
        args: list[Node] = []
        arg_toks: list[Token] = []
        if not (self.peek().kind == "op" and self.peek().text == ")"):
            while True:
                arg_toks.append(self.peek())
                args.append(self.expr(0))
                tok = self.peek()
                if tok.kind == "op" and tok.text == ",":
                    self.next()
                    continue
                if tok.kind == "op" and tok.text == ")":
                    break
                self.fail(f"expected ',' or ')' in call to '{name_tok.text}', "
                          f"found {_describe(tok)}", tok)
        self.expect(")")
        if op is None:  # where(cond, then, other)
            if len(args) != 3:
                self.fail(f"'where' takes 3 arguments (cond, then, else), got {len(args)}",
                          name_tok)
            return Cond(*args)
        self.check_call(op, name_tok, args, arg_toks)
        return Call(op.name, tuple(args), pos=name_tok.col)

    def check_call(self, op: Operator, name_tok: Token, args: list, arg_toks: list) -> None:
        """Validate a call against its table entry: arity, literal arguments, entry check."""
        if not op.required <= len(args) <= len(op.kinds):
            n = len(op.kinds)
            want = str(n) if op.required == n else f"{op.required} to {n}"
            self.fail(f"'{name_tok.text}' takes {want} arguments ({op.signature()}), "
                      f"got {len(args)}", name_tok)
        for kind, arg, tok in zip(op.kinds, args, arg_toks):
            if kind == "n":
                if not (isinstance(arg, Num) and arg.value.is_integer() and arg.value >= 1):
                    self.fail(f"window must be a positive integer literal in "
                              f"'{name_tok.text}' ({op.signature()})", tok)
            elif kind == "k":
                if not isinstance(arg, Num):
                    self.fail(f"argument must be a numeric literal in '{name_tok.text}' "
                              f"({op.signature()})", tok)
        if op.check is not None:
            bound = op.bind(args, lambda a: None, lambda a: a.value)
            problem = op.check(*op.constants(bound))
            if problem is not None:
                detail, index = problem
                self.fail(detail, arg_toks[index] if index < len(arg_toks) else name_tok)


def parse(formula: str, *, table: OperatorTable = OPERATORS) -> Node:
    """Parse formula text to an AST; raises :class:`AlphaSyntaxError` (a ``ConfigError``).

    ``table`` is the operator table to resolve functions in (the built-in one by default).
    """
    if not isinstance(formula, str):
        raise ConfigError(f"formula must be a string, got {type(formula).__name__}")
    if not formula.strip():
        raise AlphaSyntaxError("empty formula", formula, 1)
    return _Parser(formula, table).parse()


def _num_text(v: float) -> str:
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    text = repr(float(v))
    if "inf" in text or "nan" in text:
        raise ValueError(f"cannot print non-finite literal {v}")
    return text


def to_text(node: Node) -> str:
    """Print an AST back to formula text (fully parenthesised; ``parse(to_text(a)) == a``)."""
    if isinstance(node, Num):
        return _num_text(node.value)
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Neg):
        return f"(-{to_text(node.operand)})"
    if isinstance(node, BinOp):
        return f"({to_text(node.left)} {node.op} {to_text(node.right)})"
    if isinstance(node, Cond):
        return f"({to_text(node.cond)} ? {to_text(node.then)} : {to_text(node.other)})"
    if isinstance(node, Call):
        return f"{node.func}({', '.join(to_text(a) for a in node.args)})"
    raise TypeError(f"not an alpha AST node: {node!r}")


def is_finite_literal(v: float) -> bool:
    return math.isfinite(v)
