"""Stage 1, collect: the streams (what each reads from the agent), the values of a record as
read (``records``) and where a stream stands (``cursor``).
"""
