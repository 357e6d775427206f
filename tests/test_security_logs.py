"""Issue 17, logs and redirects: nothing a client sends forges a log line or picks a redirect target.

Real gateway processes (text and JSON log formats), httpx as the client.
"""

from __future__ import annotations

import json
import logging
import sys

import httpx

from gateway.logs import GridJsonFormatter, TextFormatter
from tests.conftest import MASTER_KEY, deployment

AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
FORGED = "2026-01-01 00:00:00,000 INFO grid.access: forged-record"
# a newline, a carriage return, an ANSI escape and a Unicode line separator in one path, percent-encoded
HOSTILE_PATH = "/v1/nothing%0A" + FORGED.replace(" ", "%20") + "%0D%1B[2J%E2%80%A8also-forged"


def config(mock_url: str) -> dict:
    return {
        "model_list": [deployment("m", mock_url)],
        "general_settings": {"master_key": MASTER_KEY},
    }


def access_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "grid.access" in line or '"grid.access"' in line]


def test_a_newline_in_the_path_does_not_forge_a_text_log_line(start_gateway, mock):
    gw = start_gateway(config(mock.url), env={"GRID_LOG_FORMAT": "text"})
    resp = httpx.get(gw.url + HOSTILE_PATH, headers=AUTH, timeout=15)
    assert resp.status_code == 404
    lines = gw.logs().splitlines()
    assert not [line for line in lines if line.startswith(("2026-01-01", "also-forged"))]
    (record,) = [line for line in lines if "forged-record" in line]
    assert (
        "GET /v1/nothing\\x0a2026-01-01 00:00:00,000 INFO grid.access: forged-record\\x0d\\x1b[2J" in record
    )
    assert "\\u2028also-forged 404" in record


def test_a_newline_in_the_path_stays_inside_one_json_log_record(start_gateway, mock):
    gw = start_gateway(config(mock.url), env={"GRID_LOG_FORMAT": "json"})
    resp = httpx.get(gw.url + HOSTILE_PATH, headers=AUTH, timeout=15)
    assert resp.status_code == 404
    lines = gw.logs().splitlines()  # splits on U+2028 too, as some log readers do
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == len([line for line in lines if line.strip()])  # every line is a whole record
    (access,) = [r for r in records if r.get("logger") == "grid.access" and "forged" in r["path"]]
    assert access["path"] == "/v1/nothing\n" + FORGED + "\r\x1b[2J\u2028also-forged"


def test_a_traceback_cannot_pass_for_a_record_of_its_own():
    formatter = TextFormatter("%(levelname)s %(name)s: %(message)s")
    try:
        raise ValueError("bad\nINFO grid.access: forged")
    except ValueError:
        record = logging.LogRecord("grid.app", logging.ERROR, "", 0, "failed %s", ("/x\n",), None)
        record.exc_info = sys.exc_info()
    lines = formatter.format(record).split("\n")
    assert lines[0] == "ERROR grid.app: failed /x\\x0a"
    assert all(line.startswith("  ") for line in lines[1:])


def test_json_records_escape_what_line_splitters_split_on():
    formatter = GridJsonFormatter("%(message)s")
    record = logging.LogRecord("grid.access", logging.INFO, "", 0, "%s", ("a\u2028b\x85c\nd",), None)
    line = formatter.format(record)
    assert line.splitlines() == [line]
    assert json.loads(line)["message"] == "a\u2028b\x85c\nd"


def test_no_redirect_is_built_from_a_forged_host(start_gateway, mock):
    gw = start_gateway(config(mock.url))
    headers = {**AUTH, "Host": "attacker.example"}
    for path in ("/admin/experiments/", "/v1/models/", "/health/live/", "/v1/chat/completions/"):
        for method in ("GET", "POST"):
            resp = httpx.request(method, gw.url + path, headers=headers, timeout=15, follow_redirects=False)
            assert not resp.is_redirect, (method, path, resp.headers.get("location"))
            assert "location" not in resp.headers
            assert "attacker.example" not in resp.text
            assert resp.status_code in (404, 405), (method, path, resp.status_code)
            assert set(resp.json()["error"]) == {"message", "type", "param", "code"}
