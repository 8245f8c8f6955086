"""Read a board's results from its serial port: what ``firmforge monitor`` and ``flash
--monitor`` do with a real board (and, for the tests, with QEMU's ``-serial pty``).

The firmware prints the runner's protocol on its UART (``templates/common/main.c``):

    ff:out <index> <v0> <v1> ...       one line per test vector
    ff:cycles <index> <n>              after it, on cores with a DWT cycle counter
    ff:stack <index> <used> <reserved> after it, the stack's high-water mark
    ff:done                            all vectors ran
    ff:exit <status>                   then the firmware sleeps (FF_EXIT_SPIN boards)

``read_port`` opens the port (pyserial, 8N1 at the board's baud rate) and collects lines until
``ff:exit`` (or ``ff:done`` when no exit line follows within a short grace), a fault line, or the
timeout. The port is opened before anything is flashed or started, so no line is lost to a race
with the board's reset. Errors say what to check: a missing port lists the ports there are; a
line that is not the protocol (a wrong baud rate makes noise) is shown as received.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

BAUD = 115200
_LINE = re.compile(r"^ff:(out|cycles|stack|done|exit|fault|stack-overflow)\b")
_CYCLES = re.compile(r"^ff:cycles (\d+) (\d+)$")
_EXIT = re.compile(r"^ff:exit (\d+)$")
DONE_GRACE = 0.5  # seconds to wait for "ff:exit" after "ff:done"


class MonitorError(RuntimeError):
    """The serial port cannot be read, or what it says is not the firmware's protocol."""


@dataclass(frozen=True)
class SerialText:
    text: str  # the protocol lines received, in order
    status: int | None  # the ff:exit status (None: the firmware printed none)
    cycles: list[int]  # ff:cycles per vector, in order (empty without a cycle counter)
    seconds: float


class SerialPort:
    """An open serial port (``open_port``); ``read(timeout)`` collects the firmware's lines."""

    def __init__(self, port: str, baud: int = BAUD) -> None:
        import serial
        from serial.tools import list_ports

        self._serial = serial
        try:
            self._s = serial.Serial(port, baud, timeout=0.1)
        except (serial.SerialException, OSError) as e:
            present = ", ".join(p.device for p in list_ports.comports()) or "none"
            hint = ("it does not exist: is the board plugged in (and its USB cable a data "
                    "cable)?" if not Path(port).exists() else
                    "it exists but cannot be opened (permissions: the dialout group; or another "
                    "program holds it)")
            raise MonitorError(f"cannot open serial port {port}: {hint} Serial ports here: "
                               f"{present}. ({e})") from None
        self.port = port

    def close(self) -> None:
        self._s.close()

    def __enter__(self) -> SerialPort:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, timeout: float) -> SerialText:
        """Lines until ``ff:exit``, a fault, or ``ff:done`` and a short grace; at most
        ``timeout`` seconds."""
        t0 = time.monotonic()
        buf, lines, done_at = b"", [], None
        while True:
            now = time.monotonic()
            if now - t0 > timeout:
                tail = "\n".join(lines[-6:]) or "(nothing)"
                raise MonitorError(f"{self.port}: no complete result within {timeout:g} s (the "
                                   f"firmware never printed ff:done); last lines:\n{tail}\n"
                                   f"Was the board reset after the port opened, and is it "
                                   f"the right port?")
            if done_at is not None and now - done_at > DONE_GRACE:
                break
            try:
                buf += self._s.read(4096)
            except (OSError, self._serial.SerialException) as e:  # the device went away
                if done_at is not None:
                    break
                tail = "\n".join(lines[-6:]) or "(nothing)"
                raise MonitorError(f"{self.port} went away while reading (unplugged, or the "
                                   f"board reset its USB): {e}; last lines:\n{tail}") from None
            *complete, buf = buf.split(b"\n")
            for raw in complete:
                line = _decode(raw, self.port)
                if not line:
                    continue
                if not _LINE.match(line):
                    if not lines:  # boot noise before the first line of the protocol
                        continue
                    raise MonitorError(f"{self.port}: a line that is not the firmware's "
                                       f"protocol: {line[:80]!r} (a baud rate other than "
                                       f"{self._s.baudrate} garbles every line)")
                lines.append(line)
                if line == "ff:done":
                    done_at = time.monotonic()
                m = _EXIT.match(line)
                if m or line.startswith(("ff:fault", "ff:stack-overflow")):
                    return _result(lines, int(m.group(1)) if m else None, time.monotonic() - t0)
        return _result(lines, None, time.monotonic() - t0)


def _decode(raw: bytes, port: str) -> str:
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise MonitorError(f"{port}: bytes that are not text ({raw[:24]!r}): a wrong baud rate "
                           f"(the firmware prints at {BAUD}), or another device") from None


def _result(lines: list[str], status: int | None, seconds: float) -> SerialText:
    fault = next((ln for ln in lines if ln.startswith(("ff:fault", "ff:stack-overflow"))), None)
    if fault is not None:
        raise MonitorError(f"the firmware stopped: {fault}")
    cycles = [int(m.group(2)) for m in map(_CYCLES.match, lines) if m]
    return SerialText("\n".join(lines) + "\n", status, cycles, seconds)
