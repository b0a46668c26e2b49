"""Airflow operators that run flow steps.

With ``provider.dag``, the only code of airstep that imports Airflow.
"""

from provider.operators.step import ForeachFanoutOperator, StepOperator

__all__ = ["ForeachFanoutOperator", "StepOperator"]
