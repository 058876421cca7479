"""The machinery that runs, grades and reports the course (not imported by the notebooks).

- :mod:`.exercises` finds each exercise's solution and check cells in a notebook.
- :mod:`.student` builds student copies (nbgrader's preprocessors: solutions stubbed, checks locked).
- :mod:`.execute` runs a notebook cell by cell in one kernel and records each cell's outcome.
- :mod:`.grade` grades a submitted notebook: points per exercise, JSON and a table.
"""
