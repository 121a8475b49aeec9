"""The application core: what every door (HTTP, CLI, web, schedules) and the worker ask of Migrayt.

Below the doors (`migrayt.api`, the CLI, `migrayt.launcher`), above the workflows it starts. One
module per job: migrations, runs, intake (connect, scan, map, preview), reports, and the two rules every
service shares — ownership (`ownership.owned`) and the start gate (`start_gate.start_refusal`).
"""
