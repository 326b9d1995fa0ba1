"""Retention engine: the schedule (rules.py), the sweep functions (jobs.py), the
sweeper (sweeper.py), reconcile (reconcile.py) and hold review (holds.py)."""
