"""Published numbers of each reproduced paper, as data (one module per paper).

Each module defines ``CITATION`` (str) and dictionaries of :class:`pdedenoise.scoreboard.Published`
values keyed by a readable quantity name, each with its source (table, row, figure).
"""
