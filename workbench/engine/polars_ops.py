"""``Ops`` over polars expressions: the batch executes the domain's formula and gates
(``server.domain.ranking``, ``server.domain.gates``) with ``pl.when`` and ``clip`` where the API uses
plain Python (``server.domain.ops.PY``)."""

from __future__ import annotations

from typing import Any

import polars as pl

from server.domain.ops import PY


class _PolarsOps:
    """``Ops`` for polars expressions (a Python value that reaches here is handled like ``PY``)."""

    @staticmethod
    def where(cond: Any, then: Any, otherwise: Any) -> Any:
        if isinstance(cond, pl.Expr):
            return pl.when(cond).then(then).otherwise(otherwise)
        return PY.where(cond, then, otherwise)

    @staticmethod
    def clamp(value: Any) -> Any:
        if isinstance(value, pl.Expr):
            return value.clip(0.0, 1.0)
        return PY.clamp(value)


POLARS = _PolarsOps()
