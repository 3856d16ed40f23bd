"""The operations the ranking formula and its gates need, for two execution paths.

Every score and gate is written once over an ``Ops`` value (``where`` and ``clamp``) and plain
arithmetic: ``PY`` runs it on Python floats, one request at a time in the API; the workbench's
vectorised batch has its own ``Ops`` over polars expressions (``pl.when`` and ``clip``).
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T", covariant=True)
"""What ``where`` and ``clamp`` produce (a float on ``PY``, a polars expression on the workbench's batch);
covariant because ``Ops`` only returns it."""


class Ops(Protocol, Generic[T]):
    def where(self, cond: Any, then: Any, otherwise: Any) -> T: ...

    def clamp(self, value: Any) -> T: ...


class _PythonOps:
    """Scalar path: plain floats and booleans."""

    @staticmethod
    def where(cond: Any, then: Any, otherwise: Any) -> Any:
        return then if cond else otherwise

    @staticmethod
    def clamp(value: Any) -> Any:
        if value < 0.0:
            return 0.0
        if value > 1.0:
            return 1.0
        return value


PY = _PythonOps()
