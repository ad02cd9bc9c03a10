"""Shared fixtures of the reliability tests."""

import logging

import pytest
from mmengine.logging import MMLogger


@pytest.fixture
def warnings_log():
    """The WARNING records of MMEngine's current logger during a test."""
    records = []

    class _Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = _Keep(level=logging.WARNING)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
