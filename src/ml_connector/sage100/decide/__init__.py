"""Stage 2, decide: what changed in a record (``changes``), GL lines gathered into registers
(``registers``), and what one poll means: the events to post and the new cursor (``plan``).
"""
