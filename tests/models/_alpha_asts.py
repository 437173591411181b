"""Hypothesis strategy of random alpha ASTs, shared by the parser and evaluator tests."""

from hypothesis import strategies as st

from models.alpha.language import (FUNCTIONS, BinOp, Call, Cond, Neg, Num, Var)
from models.alpha.language.parser import VARIABLES

CANONICAL_VARS = sorted(set(VARIABLES.values()))


def _leaf():
    return st.one_of(
        st.builds(Var, st.sampled_from(CANONICAL_VARS)),
        st.builds(Num, st.floats(0, 1e6, allow_nan=False, allow_infinity=False)),
        st.builds(Num, st.integers(0, 500).map(float)),
    )


def _call(children):
    @st.composite
    def build(draw):
        name = draw(st.sampled_from(sorted(FUNCTIONS)))
        kinds, required, _ = FUNCTIONS[name]
        n_args = draw(st.integers(required, len(kinds)))
        args = []
        for kind in kinds[:n_args]:
            if kind == "x":
                args.append(draw(children))
            elif kind == "n":
                args.append(Num(float(draw(st.integers(1, 60)))))
            else:
                args.append(Num(draw(st.floats(0, 10, allow_nan=False))))
        if name in ("macd", "macd_signal") and n_args >= 2:
            fast = draw(st.integers(1, 30))
            slow = draw(st.integers(fast + 1, 80))
            args[1] = Num(float(fast))
            if n_args >= 3:
                args[2] = Num(float(slow))
            else:  # default slow span is 26
                args[1] = Num(float(min(fast, 25)))
        return Call(name, tuple(args))
    return build()


def _tree(children):
    return st.one_of(
        st.builds(Neg, children),
        st.builds(BinOp, st.sampled_from(["+", "-", "*", "/", ">", "<", ">=", "<=", "==", "!="]),
                  children, children),
        st.builds(Cond, children, children, children),
        _call(children),
    )


ASTS = st.recursive(_leaf(), _tree, max_leaves=12)
