"""Logging set-up: one JSON object per line (python-json-logger), or plain text for humans.

Every record gets the current request id from the contextvar, so lines written anywhere while serving
a request can be traced back to it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time

import orjson
from pythonjsonlogger.orjson import OrjsonFormatter

from gateway.context import request_id_var


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            rid = request_id_var.get()
            if rid is not None:
                record.request_id = rid
        return True


# attributes other libraries hang on records (uvicorn's ANSI copy, LiteLLM's redaction marker)
_DROPPED = ("color_message", "litellm_redacted")
# A record's own attributes, in the order `LogRecord.__init__` sets them: they come first in every
# record's __dict__, before what `extra`, filters and formatters add.
_OWN = tuple(logging.LogRecord("", 0, "", 0, "", None, None).__dict__)


def _added_keys(fields: dict) -> list[str]:
    """A record's extra fields, in the record's order. The record's own ~20 attributes are passed over
    by position, unless one of them was deleted (then every key is looked at)."""
    keys = list(fields)
    own = len(_OWN)
    return keys[own:] if len(keys) >= own and keys[own - 1] == _OWN[-1] else keys


class GridJsonFormatter(OrjsonFormatter):
    """python-json-logger's orjson formatter with GRID's fixed fields (timestamp, level, logger).

    `add_fields` is written out for the one format GRID uses (`%(message)s` plus the record's extra
    fields): the library's generic version probes every LogRecord attribute with `hasattr` and
    `startswith`, most of the cost of an access line."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._skip = frozenset(self._skip_fields).union(_DROPPED)
        self._second = -1  # the second whose timestamp prefix is kept in `_prefix`
        self._prefix = ""
        # OrjsonFormatter.jsonify_log_record's options, worked out once (see `jsonify_log_record`)
        self._option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if self.json_indent else 0)

    def add_fields(self, log_record, record, message_dict) -> None:
        fields = record.__dict__
        for field in self._required_fields:
            log_record[field] = fields.get(field)
        log_record.update(message_dict)
        skip = self._skip
        # `_added_keys(fields)`, inlined: the access log's path, one record a request
        keys = list(fields)
        own = len(_OWN)
        for key in keys[own:] if len(keys) >= own and keys[own - 1] == _OWN[-1] else keys:
            if key not in skip and key[0] != "_":
                log_record[key] = fields[key]
        log_record["timestamp"] = self._timestamp(record)
        log_record["level"] = record.levelname
        log_record["logger"] = record.name
        if record.exc_info and "exc_info" in log_record:
            log_record["exception"] = log_record.pop("exc_info")

    def jsonify_log_record(self, log_data) -> str:
        """orjson escapes the C0 control characters; NEL and the Unicode line and paragraph separators
        it leaves as they are (valid JSON), and readers that split lines on them (Python's
        `splitlines`, some log shippers) would cut a record in two. Only a non-ASCII line is looked at."""
        # OrjsonFormatter's own serialization, without its frame
        line = orjson.dumps(log_data, default=self.json_default, option=self._option).decode()
        return line if line.isascii() else line.translate(_JSON_BREAKS)

    def _timestamp(self, record: logging.LogRecord) -> str:
        """ISO 8601 in UTC to the millisecond ("2026-12-06T05:19:20.123+00:00"); the date and time
        are formatted once a second, the milliseconds are the record's own."""
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int(record.msecs):03d}+00:00"


# C0 and C1 control characters, DEL, and the Unicode line and paragraph separators: in a text log each
# could end a line early or rewrite what a terminal shows, so a client's path could forge a record.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROL.update({0x2028: "\\u2028", 0x2029: "\\u2029"})
_JSON_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def escape_control(text: str) -> str:
    """`text` with every control character written as an escape (`\\x0a`): one line stays one line."""
    return text if text.isprintable() else text.translate(_CONTROL)


# what a text line leaves out: the formatter's own fields and the record's standard attributes
_TEXT_SKIP = frozenset(_OWN).union(_DROPPED, ("message", "asctime"))


class TextFormatter(logging.Formatter):
    """The human format. Every record is one line whatever it holds (the message and its arguments come
    from clients: paths, model names, upstream messages); a traceback follows on lines indented by
    two spaces, so no line of it can pass for a record of its own. The extra fields (the request id,
    the access line's model, status, latency, ...) follow the message as `key=value`, a value with a
    space, quote or `=` in double quotes."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = record.__dict__
        pairs = [
            f"{key}={_text_value(fields[key])}"
            for key in _added_keys(fields)
            if key not in _TEXT_SKIP and key[0] != "_"
        ]
        if pairs:
            line = f"{line} {' '.join(pairs)}"
        return escape_control(line)

    def formatException(self, ei) -> str:
        return _indent(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indent(stack_info)


def _text_value(value: object) -> str:
    text = "" if value is None else str(value)
    if text and not any(c in text for c in ' "=\\'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _indent(text: str) -> str:
    return "\n".join("  " + escape_control(line) for line in text.split("\n"))


def log_fields(logger: logging.Logger, level: int, msg: str, args: tuple, fields: dict) -> None:
    """`logger.log(level, msg, *args, extra=fields)`, for a caller that has already asked
    `logger.isEnabledFor(level)` and whose field names are not `LogRecord` attributes: the fields
    are set on the record in one update, where `extra` checks and sets them one by one (the access
    log writes ~16 a request)."""
    record = logger.makeRecord(logger.name, level, "(unknown file)", 0, msg, args, None)
    record.__dict__.update(fields)
    logger.handle(record)


class BatchedStreamHandler(logging.StreamHandler):
    """A stream handler that writes once per event-loop iteration, not once per line.

    Under load several requests finish in one iteration of the loop; their lines now leave in one
    write() instead of one system call each. Lines are never held longer than the current iteration;
    outside a running loop (start-up, other threads) every line is written at once, and the logging
    module's exit hook flushes whatever is left."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._flush_on: asyncio.AbstractEventLoop | None = None  # the loop a flush is scheduled on

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._pending.append(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if self._flush_on is not loop:
            self._flush_on = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        with self.lock:
            self._flush_on = None
            if self._pending:
                text = "".join(self._pending)
                self._pending.clear()
                self.stream.write(text)
            super().flush()


def setup_logging(level: str | None = None, fmt: str | None = None) -> None:
    # No line shows the caller's file, thread or process, so records need not look them up (the
    # logging HOWTO's "Optimization" switches): a frame walk and three lookups saved per line.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    level = (level or os.environ.get("GRID_LOG_LEVEL") or "INFO").upper()
    fmt = (fmt or os.environ.get("GRID_LOG_FORMAT") or "json").lower()
    handler = BatchedStreamHandler(sys.stderr)
    if fmt == "text":
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(GridJsonFormatter("%(message)s"))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # GRID writes its own access lines
    for noisy in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
