"""The operator's dashboard: a browser login, the pipelines' rows, charts, dead letters."""
