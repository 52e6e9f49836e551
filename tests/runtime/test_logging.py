"""configure_logging: text for people, or one JSON object per line with extra fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from core.config import Settings
from core.runtime.logging import configure_logging, writes_json


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logger")
def test_json_log_lines_carry_level_logger_message_and_extra_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(Settings(log_format="json", log_level="debug"))

    logging.getLogger("paycore.test").debug("captured %s", "payment", extra={"payment_id": "p1"})

    line = capsys.readouterr().err.strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["level"] == "DEBUG"
    assert entry["logger"] == "paycore.test"
    assert entry["message"] == "captured payment"
    assert entry["payment_id"] == "p1"
    assert entry["time"].endswith("+00:00")


@pytest.mark.usefixtures("restore_root_logger")
def test_json_log_line_includes_the_exception(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(Settings(log_format="json"))

    try:
        raise ValueError("bad amount")
    except ValueError:
        logging.getLogger("paycore.test").exception("refused")

    entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert "ValueError: bad amount" in entry["exception"]


@pytest.mark.usefixtures("restore_root_logger")
def test_reconfiguring_replaces_the_handler_and_honours_the_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(Settings(log_format="json"))
    configure_logging(Settings(log_format="text", log_level="WARNING"))

    logging.getLogger("paycore.test").info("hidden")
    logging.getLogger("paycore.test").warning("shown")

    err = capsys.readouterr().err
    assert "hidden" not in err
    assert err.count("shown") == 1
    assert "WARNING" in err and "paycore.test: shown" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_log_format_is_json_off_a_terminal_and_text_on_one() -> None:
    assert Settings().log_format == "auto"
    assert writes_json("auto", io.StringIO()) is True
    assert writes_json("auto", _Terminal()) is False
    assert writes_json("text", io.StringIO()) is False
    assert writes_json("json", _Terminal()) is True
