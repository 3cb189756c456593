"""The playground's JSON API over HTTP on 127.0.0.1: tokenizing, UDHR premiums, loading files,
training with progress, and clear errors for bad requests."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tokenforge as tf
from tokenforge import data
from tokenforge.cli import build_parser
from tokenforge.serve import LOOPBACK, Playground, PlaygroundServer, start

from conftest import load_vocab


@pytest.fixture(scope="module")
def server() -> Iterator[PlaygroundServer]:
    playground = Playground()
    running = start(playground)
    yield running
    running.shutdown()
    running.server_close()
    playground.close()


def request(
    server: PlaygroundServer, method: str, path: str, body: Any = None, host: str | None = None
) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(LOOPBACK, server.server_address[1], timeout=60)
    payload = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    headers = {"Host": host} if host else {}
    connection.request(method, path, body=payload, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    kind = response.getheader("Content-Type", "")
    return response.status, json.loads(raw) if kind.startswith("application/json") else raw


def test_listens_on_loopback_only(server: PlaygroundServer) -> None:
    assert server.server_address[0] == "127.0.0.1"
    status, page = request(server, "GET", "/")
    assert status == 200 and b"tokenforge playground" in page
    status, body = request(server, "GET", "/", host="evil.example:80")
    assert status == 403 and "127.0.0.1" in body["error"]


def test_tokenize_matches_the_tokenizers(server: PlaygroundServer) -> None:
    text = "Hello, wörld! 🙂 <|endoftext|> 12345"
    status, body = request(
        server, "POST", "/api/tokenize", {"text": text, "tokenizers": ["cl100k_base", "gpt2"]}
    )
    assert status == 200 and body["udhr"] is None
    for result in body["results"]:
        tokenizer = load_vocab(result["name"])
        ids = tokenizer.encode(text, allowed_special="all")
        assert result["count"] == len(ids)
        assert [i for segment in result["segments"] for i in segment["ids"]] == ids
        assert "".join(segment["text"] for segment in result["segments"]) == text
        assert result["bytes_per_token"] == round(len(text.encode()) / len(ids), 3)
        assert result["premium"] is None


def test_udhr_text_gets_its_premium(server: PlaygroundServer) -> None:
    status, body = request(server, "GET", "/api/udhr/fra")
    assert status == 200
    french = body["text"]
    status, body = request(
        server, "POST", "/api/tokenize", {"text": french + "\n", "tokenizers": ["cl100k_base"]}
    )
    assert body["udhr"] == {"code": "fra", "name": "French", "article": 1}
    cl100k = load_vocab("cl100k_base")
    english = cl100k.count(data.udhr_articles("eng")[1])
    assert body["results"][0]["premium"] == round(cl100k.count(french + "\n") / english, 3)
    status, body = request(server, "GET", "/api/udhr")
    assert {"code": "fra", "name": "French"} in body["languages"]


def test_load_a_tokenizer_file(server: PlaygroundServer, tmp_path: Path) -> None:
    mine = tf.train(["aa bb aa bb cc"] * 20, vocab_size=262)
    content = mine.save(tmp_path / "tokenizer.json").read_bytes()
    status, body = request(server, "POST", "/api/load?filename=tokenizer.json", content)
    assert status == 200
    name = body["name"]
    status, body = request(server, "POST", "/api/tokenize", {"text": "aa bb", "tokenizers": [name]})
    assert body["results"][0]["count"] == len(mine.encode("aa bb"))
    status, body = request(server, "GET", "/api/tokenizers")
    assert {"name": name, "origin": "file"} in body["tokenizers"]
    for bad in (b"", b"{not json", b"\x00\x01garbage"):
        status, body = request(server, "POST", "/api/load?filename=x.json", bad)
        assert status == 400 and body["error"]


def test_training_reports_progress_and_adds_the_tokenizer(server: PlaygroundServer) -> None:
    text = "\n".join(["the quick brown fox jumps over the lazy dog"] * 50)
    status, job = request(server, "POST", "/api/train", {"text": text, "vocab_size": 300})
    assert status == 200 and job["state"] == "running"
    deadline = time.monotonic() + 60
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        _, job = request(server, "GET", f"/api/train/{job['id']}")
        assert 0.0 <= job["fraction"] <= 1.0
    assert job["state"] == "finished" and job["fraction"] == 1.0
    expected = tf.train(text.splitlines(), vocab_size=300)
    _, body = request(server, "POST", "/api/tokenize", {"text": "the lazy fox", "tokenizers": [job["name"]]})
    assert body["results"][0]["count"] == expected.count("the lazy fox")


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/api/train", {"text": "", "vocab_size": 300}, 400),
        ("POST", "/api/train", {"text": "abc", "vocab_size": 10}, 400),
        ("POST", "/api/train", {"text": "abc", "vocab_size": "300"}, 400),
        ("GET", "/api/train/nope", None, 400),
        ("POST", "/api/tokenize", b"[1, 2", 400),
        ("POST", "/api/tokenize", {"text": 5, "tokenizers": []}, 400),
        ("GET", "/api/udhr/xx_nope", None, 400),
        ("GET", "/nowhere", None, 404),
    ],
)
def test_bad_requests_get_clear_errors(
    server: PlaygroundServer, method: str, path: str, body: Any, status: int
) -> None:
    got, answer = request(server, method, path, body)
    assert got == status and answer["error"]


def test_unknown_tokenizer_is_reported_in_its_column(server: PlaygroundServer) -> None:
    status, body = request(server, "POST", "/api/tokenize", {"text": "x", "tokenizers": ["nope"]})
    assert status == 200 and "nope" in body["results"][0]["error"]


def test_cli_has_serve() -> None:
    args = build_parser().parse_args(["serve", "-p", "0", "-t", "cl100k_base"])
    assert args.port == 0 and args.tokenizer == ["cl100k_base"]
