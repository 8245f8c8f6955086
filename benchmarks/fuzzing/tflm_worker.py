"""TensorFlow Lite Micro in a child process, for models that may crash it.

A mutated model can make TFLM itself fail an assertion, read out of bounds or loop: each such
model must not take the fuzzer down with it. ``TFLM`` keeps one worker process (this module run
with ``python -m``) and sends it one model at a time over a pipe; a worker that dies or stops
answering is recorded as TFLM refusing that model (with the reason) and replaced.

    with TFLM() as tflm:
        status, result = tflm.run(model_bytes, inputs)
        # ("ok", outputs)      one array per model output, samples stacked along a new axis 0
        # ("refused", reason)  TFLM's error reporter's words, or how the worker died
        # ("mismatch", what)   TFLM's inputs do not take the samples given (sizes or dtypes)

``inputs``: one array per model input, samples along axis 0 (each sample is reshaped to the
input's stored shape, so a graph input firmforge gives a batch dimension fits); None draws one
random sample per input from the input's own shape and dtype (for models firmforge refused).
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

TIMEOUT = 30.0  # seconds for one model (Prepare and every Invoke)
_ROOT = Path(__file__).resolve().parents[2]


class InputMismatch(Exception):
    """The samples given do not fit the model's inputs as TFLM reads them."""


class TFLM:
    """A worker process running TFLM models one by one (see the module docstring)."""

    def __init__(self, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> TFLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def run(self, model: bytes, inputs: list[np.ndarray] | None) -> tuple[str, object]:
        if self._proc is None:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                p for p in (str(_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.fuzzing.tflm_worker"], cwd=_ROOT, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        proc = self._proc
        try:
            _send(proc.stdin, (model, inputs))
            reply = _receive(proc.stdout, self.timeout)
        except (BrokenPipeError, EOFError):
            code = proc.wait()
            self._proc = None
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            return "refused", f"TFLM crashed ({how})"
        except TimeoutError:
            self.close()
            return "refused", f"TFLM did not finish within {self.timeout:.0f} s"
        return reply


def _send(pipe, obj: object) -> None:
    blob = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(struct.pack("<Q", len(blob)) + blob)
    pipe.flush()


def _receive(pipe, timeout: float | None = None) -> object:
    fd = pipe.fileno()
    head = _read(fd, 8, timeout)
    (n,) = struct.unpack("<Q", head)
    return pickle.loads(_read(fd, n, timeout))


def _read(fd: int, n: int, timeout: float | None) -> bytes:
    out = bytearray()
    while len(out) < n:
        if timeout is not None and not select.select([fd], [], [], timeout)[0]:
            raise TimeoutError
        chunk = os.read(fd, n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return bytes(out)


# -- the worker side ------------------------------------------------------------------------------

def _run(runtime, model: bytes, inputs: list[np.ndarray] | None) -> list[np.ndarray]:
    it = runtime.Interpreter.from_bytes(model, arena_size=_arena_size(model))
    details = [it.get_input_details(k) for k in range(_count(model, "Inputs"))]
    n_out = _count(model, "Outputs")
    if inputs is None:
        rng = np.random.default_rng(len(model))
        inputs = [_random(rng, d["shape"], np.dtype(d["dtype"])) for d in details]
    n = inputs[0].shape[0] if inputs else 1
    samples = []
    if len(inputs) != len(details):
        raise InputMismatch(f"{len(inputs)} inputs given, TFLM's model has {len(details)}")
    for x, d in zip(inputs, details, strict=True):
        shape, dtype = tuple(int(s) for s in d["shape"]), np.dtype(d["dtype"])
        if x[:1].size != int(np.prod(shape)) or x.dtype != dtype:
            raise InputMismatch(f"a sample of {x.dtype}{list(x.shape[1:])} for TFLM's input "
                                f"{dtype}{list(shape)}")
    for i in range(n):
        for k, (x, d) in enumerate(zip(inputs, details, strict=True)):
            it.set_input(np.array(x[i:i + 1].reshape(tuple(d["shape"])), order="C"), k)
        it.invoke()
        samples.append([np.array(it.get_output(k), copy=True) for k in range(n_out)])
    return [np.stack([s[k] for s in samples]) for k in range(n_out)]


def _random(rng: np.random.Generator, shape, dtype: np.dtype) -> np.ndarray:
    shape = (1, *(int(d) for d in shape))
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    return schema


def _count(model: bytes, what: str) -> int:
    sub = _schema().Model.GetRootAs(model, 0).Subgraphs(0)
    return getattr(sub, f"{what}Length")()


def _arena_size(model: bytes) -> int:
    """Every tensor of the first subgraph twice over at 8 bytes an element, plus 1 MiB (as
    converter/compare.py sizes it), at most 256 MiB; 16 MiB when the schema cannot read the
    tensors (TFLM then says what is wrong)."""
    try:
        sub = _schema().Model.GetRootAs(model, 0).Subgraphs(0)
        total = 0.0
        for i in range(sub.TensorsLength()):
            t = sub.Tensors(i)
            total += float(np.prod([t.Shape(k) for k in range(t.ShapeLength())], dtype=np.float64))
    except Exception:  # flatbuffers' struct.error, IndexError, ... on a corrupt file
        return 16 << 20
    return int(min((1 << 20) + 16 * total, 256 << 20))


def serve() -> None:
    from tflite_micro.python.tflite_micro import runtime

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            model, inputs = _receive(stdin)
        except EOFError:
            return
        sys.stderr.flush()
        with tempfile.TemporaryFile() as log:
            saved = os.dup(2)
            os.dup2(log.fileno(), 2)  # TFLM's error reporter writes to descriptor 2
            try:
                reply = ("ok", _run(runtime, model, inputs))
            except InputMismatch as e:
                reply = ("mismatch", str(e))
            except Exception as e:  # whatever TFLM or its Python binding raises: a refusal
                os.dup2(saved, 2)
                log.seek(0)
                text = log.read().decode(errors="replace").strip()
                reply = ("refused", f"{type(e).__name__}: {e}\n{text}".strip())
            finally:
                os.dup2(saved, 2)
                os.close(saved)
        _send(stdout, reply)


if __name__ == "__main__":
    serve()
