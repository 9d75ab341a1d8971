"""The log of aiohttp's connection handler, for `incident-bot serve`.

aiohttp logs a request it cannot parse (a bad request line, a duplicate Content-Type, broken
chunked framing) as an ERROR with a traceback before answering 400. Anyone can send one, so
such lines go out at INFO, in one line; errors of the bot's own stay ERROR.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

from bot.intake import one_line

NAME = "bot.web.server"


class _ClientFaultsAtInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        fault = record.exc_info[1] if record.exc_info else None
        if isinstance(fault, HttpProcessingError) and record.levelno > logging.INFO:
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.msg, record.args = "malformed request refused: %s", (one_line(fault.message),)
            record.exc_info, record.exc_text = None, None
        return True


def server_log() -> logging.Logger:
    log = logging.getLogger(NAME)
    if not any(isinstance(f, _ClientFaultsAtInfo) for f in log.filters):
        log.addFilter(_ClientFaultsAtInfo())
    return log
