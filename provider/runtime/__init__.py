"""Run one task (no Airflow). ``python -m provider.runtime`` is the container entrypoint."""
