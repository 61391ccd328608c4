"""Storage unit tests: ``fakerunner`` imports by name (``from fakerunner import
FakeRunner, cmd``) through the ``pythonpath`` of pyproject.toml."""
