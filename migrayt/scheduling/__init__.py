"""Scheduled runs: a cutover at a set time and a recurring delta sync, on Temporal Schedules."""
