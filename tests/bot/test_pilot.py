"""`delphi pilot` in a real terminal: a pseudo-terminal, and tmux when it is installed."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "engine" / "examples" / "tiny.toml"
# consent; rate 4, 5; comment on the third (then Continue back to it) and rate 2; rate 4, 3;
# submit (the review's sixth choice)
KEYS = ["1", "4", "5", "7", "Clear, but add the SPF", "1", "2", "4", "3", "6"]


def _read_until(fd: int, marker: bytes, seen: bytearray, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{marker!r} not seen; screen so far:\n{seen.decode()[-3000:]}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk


def test_pilot_in_a_pseudo_terminal() -> None:
    main, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.app.cli", "pilot", "--study", str(TINY)], cwd=ROOT,
        stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    seen = bytearray()
    try:
        _read_until(main, b"I agree to take part", seen)
        for key in KEYS:
            prompts = seen.count(b"> ")
            os.write(main, key.encode() + b"\r")
            _read_until_count(main, b"> ", prompts + 1, seen)
        _read_until(main, b"Longest message", seen)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    screen = seen.decode(errors="replace")
    assert "Round 1 · Statement 5 of 5" in screen and "Round 1 · Review" in screen
    assert "Comment saved on statement 3" in screen
    assert "Round 1 summary" in screen and "Your ballot: 5 statements" in screen


def _read_until_count(fd: int, marker: bytes, count: int, seen: bytearray) -> None:
    """Read until ``marker`` has appeared ``count`` times (the n-th prompt)."""
    deadline = time.monotonic() + 60
    while seen.count(marker) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"prompt {count} not seen:\n{seen.decode()[-3000:]}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the program has exited and closed the terminal
                break
            if not chunk:
                break
            seen += chunk


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_pilot_under_tmux(tmp_path: Path) -> None:
    session = f"pilot-{uuid.uuid4().hex[:8]}"
    command = f"cd {ROOT} && {sys.executable} -m bot.app.cli pilot --study {TINY}; sleep 30"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "50",
                    command], check=True)

    def screen() -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", session, "-S", "-2000"],
                              check=True, capture_output=True, text=True).stdout

    def wait_for(text: str, limit: float = 60.0) -> str:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            shown = screen()
            if text in shown:
                return shown
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not on the tmux screen:\n{screen()}")

    try:
        wait_for("I agree to take part")
        for key in KEYS:
            subprocess.run(["tmux", "send-keys", "-t", session, key, "Enter"], check=True)
            time.sleep(0.2)
        shown = wait_for("Longest message")
        assert "Round 1 summary" in shown
        (tmp_path / "tmux-screen.txt").write_text(shown)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
