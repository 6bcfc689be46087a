"""Top-level conftest: makes the fixtures in ``fixtures/`` available to every test tree."""

pytest_plugins = ["fixtures.machine", "fixtures.cluster", "fixtures.training"]
