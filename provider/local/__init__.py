"""The local debug executor (no Airflow)."""
