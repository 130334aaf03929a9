"""The ``ml-connector`` command line; one module per command group."""
