"""Design-space sweeps: one model converted under every configuration of a grid, each measured
(accuracy, weight bytes, arena bytes, instructions on an emulated board), in parallel on Ray.

    records = sweep(model, {"weight_bits": [8, 4], "sparsity": [0.0, 0.5]},
                    data=(x, y), calibration=calib, board="qemu-mps2-an386")

The configurations are the grid's cartesian product; each runs as a Ray task: ``ray.init()``
on this machine by default (all its cores), or ``address=`` an existing cluster (``ray://host:
10001`` through Ray Client, or a head's ``host:6379``), with no other change. A configuration
that fails is recorded with its error and the others carry on. Each record is cached under the
hash of everything it depends on (the model's bytes, the configuration, the data, the board,
firmforge's version), so a re-run computes only what changed.

Each record: ``config`` (the grid's values), ``accuracy`` (argmax of the integer reference
against ``y``), ``weight_bytes`` and ``arena_bytes`` (``proj.report()``), ``instructions`` (one
inference on ``board``, None without; ``cycles`` instead on a board that counts cycles, as
simavr does), ``error`` (None, or the failure's type and message).
``pareto(records)`` keeps the configurations no other beats in both accuracy and size;
``write_results`` saves CSV, JSON and the Pareto plot.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import itertools
import json
import os
import socket
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

# The grid's keys: convert()'s compression options, and the board to count instructions on.
GRID_KEYS = ("weight_bits", "sparsity", "sparsity_block", "nm", "clusters", "flash_budget",
             "bias_correction", "layerwise_calibration", "board")
CACHE_FORMAT = 2  # bump when a record's meaning changes
CONNECT_TIMEOUT = 5.0  # seconds to reach a cluster's address before giving up
# One task, one core: numpy's BLAS and torch would otherwise each start a thread per core in
# every worker, and the tasks would fight over the cores.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class SweepError(ValueError):
    """A grid or an address the sweep cannot use; the message says what to change."""


def check_grid(grid: Mapping[str, Sequence[object]]) -> list[dict[str, object]]:
    """The grid's configurations (its cartesian product, keys in the grid's order)."""
    if not isinstance(grid, Mapping) or not grid:
        raise SweepError(f"the grid is empty: give option names with lists of values, e.g. "
                         f'{{"weight_bits": [8, 4]}} (options: {", ".join(GRID_KEYS)})')
    for k, values in grid.items():
        if k not in GRID_KEYS:
            close = difflib.get_close_matches(str(k), GRID_KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise SweepError(f"unknown grid option {k!r}: {hint}the options are "
                             f"{', '.join(GRID_KEYS)}")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise SweepError(f"grid option {k!r} needs a non-empty list of values, got {values!r}")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def sweep(model: object, grid: Mapping[str, Sequence[object]], data: tuple | None = None, *,
          calibration: object = None, example_input: object = None, board: str | None = None,
          address: str | None = None, cache: str | os.PathLike[str] | None = None,
          num_cpus: int | None = None, progress: bool = True) -> list[dict[str, object]]:
    """Convert and measure ``model`` under every configuration of ``grid`` (module docstring).
    ``data``: ``(x, y)`` for the accuracy; ``board``: an emulated board for the instructions
    (a grid key ``board`` overrides it per configuration); ``address``: a Ray cluster (default
    a local Ray on ``num_cpus`` cores, all by default); ``cache``: the record cache directory
    (default ``~/.cache/firmforge/sweep``)."""
    configs = check_grid(grid)
    cache_dir = Path(cache) if cache is not None else Path.home() / ".cache" / "firmforge" / "sweep"
    cache_dir.mkdir(parents=True, exist_ok=True)
    base = _fingerprint(model, data, calibration, example_input)
    keys = [_key(base, c, board) for c in configs]
    records: list[dict[str, object] | None] = [_cached(cache_dir / f"{k}.json") for k in keys]
    todo = [i for i, r in enumerate(records) if r is None]
    if todo:
        for i, rec in _run_on_ray(model, [configs[i] for i in todo], todo, data, calibration,
                                  example_input, board, address, num_cpus, progress):
            records[i] = rec
            tmp = cache_dir / f".{keys[i]}.tmp"
            tmp.write_text(json.dumps(rec))
            os.replace(tmp, cache_dir / f"{keys[i]}.json")
    return [r for r in records if r is not None]


def measure(model: object, config: Mapping[str, object], data: tuple | None, calibration: object,
            example_input: object, board: str | None) -> dict[str, object]:
    """One configuration's record; any failure becomes its ``error``."""
    from .convert import convert

    rec: dict[str, object] = {"config": dict(config), "accuracy": None, "weight_bytes": None,
                              "arena_bytes": None, "instructions": None, "cycles": None,
                              "error": None}
    opts = {k: v for k, v in config.items() if k != "board"}
    if isinstance(opts.get("nm"), list):
        opts["nm"] = tuple(opts["nm"])
    board = config.get("board", board)
    try:
        proj = convert(model, example_input=example_input, calibration=calibration,
                       progress=False, **opts)
        rep = proj.report()
        rec["weight_bytes"], rec["arena_bytes"] = int(rep["weight_bytes"]), int(rep["arena_bytes"])
        if data is not None:
            x, y = data
            pred = np.asarray(proj.reference(x)).reshape(len(y), -1).argmax(1)
            rec["accuracy"] = float((pred == np.asarray(y)).mean())
        if board is not None:
            x0 = data[0][:1] if data is not None else None
            with tempfile.TemporaryDirectory(prefix="ff-sweep-") as d:
                fw = proj.build(board, d, *([x0] if x0 is not None else []))
                res = fw.run()
                rec["instructions"], rec["cycles"] = res.instructions, res.cycles
    except Exception as e:  # a failed configuration is a result, not a crash
        rec["error"] = f"{type(e).__name__}: {e}"
    return rec


def _measure_task(*args):
    """The Ray task: one configuration on one core (torch would take them all)."""
    import torch

    torch.set_num_threads(1)
    return measure(*args)


def _run_on_ray(model, configs, index, data, calibration, example_input, board, address,
                num_cpus, progress):
    """Yield ``(index, record)`` as the tasks finish, with a progress bar of their counts."""
    import ray
    from tqdm import tqdm

    if not ray.is_initialized():
        # No address: a Ray of our own on this machine ("local"), not whichever cluster
        # `ray start` last recorded in /tmp/ray, which ray.init() would otherwise join;
        # RAY_ADDRESS, when set, still chooses the cluster.
        address = address or os.environ.get("RAY_ADDRESS") or "local"
        if address != "local":
            _check_reachable(address)
        env = {"env_vars": WORKER_ENV | {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}}
        try:
            ray.init(address=address, num_cpus=num_cpus if address == "local" else None,
                     runtime_env=env, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except (ConnectionError, RuntimeError) as e:
            raise SweepError(f"cannot start or join Ray at {address}: "
                             f"{e}") from None
    task = ray.remote(num_cpus=1)(_measure_task)
    refs = {}
    shared = [ray.put(v) for v in (model, data, calibration, example_input)]
    for i, c in zip(index, configs, strict=True):
        refs[task.remote(shared[0], c, shared[1], shared[2], shared[3], board)] = i
    failed, cpus = 0, _cpus()
    with tqdm(total=len(refs), desc="sweep", unit="config", disable=not progress) as bar:
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            rec = ray.get(done[0])
            failed += rec["error"] is not None
            bar.set_postfix(failed=failed, running=min(len(pending), cpus), refresh=False)
            bar.update(1)
            yield refs[done[0]], rec


def _cpus() -> int:
    """The cluster's CPUs, so the tasks that can run at once (one CPU each)."""
    import ray

    return int(ray.cluster_resources().get("CPU", 0) + 0.5) or 1


def _check_reachable(address: str) -> None:
    """Fail fast, naming the address, when nothing listens there."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"a Ray address is host:port or ray://host:port, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as e:
        raise SweepError(f"cannot reach the Ray cluster at {address}: {e} (is `ray start "
                         f"--head` running there, and the port open?)") from None


def _fingerprint(model, data, calibration, example_input) -> str:
    h = hashlib.sha256()
    if isinstance(model, (str, os.PathLike)) and Path(model).is_file():
        h.update(Path(model).read_bytes())
    elif hasattr(model, "state_dict"):
        h.update(repr(model).encode())
        for k, t in model.state_dict().items():
            h.update(k.encode())
            h.update(t.detach().cpu().numpy().tobytes())
    else:
        h.update(repr(model).encode())
    for arr in (*(data or ()), calibration, example_input):
        if arr is not None:
            a = np.asarray(arr)
            h.update(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()


def _key(base: str, config: Mapping[str, object], board: str | None) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("firmforge")
    except PackageNotFoundError:
        ver = "?"
    text = json.dumps([CACHE_FORMAT, ver, base, config, board], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _cached(path: Path) -> dict[str, object] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def pareto(records: Sequence[Mapping[str, object]], cost: str = "weight_bytes"
           ) -> list[Mapping[str, object]]:
    """The records no other beats: none at most as costly (``cost``: ``weight_bytes`` or
    ``instructions`` or ``cycles``) with at least the accuracy, one of the two strictly; cheapest first."""
    ok = [r for r in records if r["error"] is None and r.get(cost) is not None
          and r.get("accuracy") is not None]
    ok.sort(key=lambda r: (r[cost], -r["accuracy"]))
    front, best = [], -1.0
    for r in ok:
        if r["accuracy"] > best:
            front.append(r)
            best = r["accuracy"]
    return front


def write_results(records: Sequence[Mapping[str, object]], out_dir: str | os.PathLike[str]
                  ) -> list[Path]:
    """``results.json``, ``results.csv``, ``pareto.png`` (accuracy against weight bytes, and
    against instructions or cycles when measured) and ``index.html`` (the plot and every configuration,
    the Pareto front in bold) in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for r in records for k in r["config"]})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([*keys, "accuracy", "weight_bytes", "arena_bytes", "instructions", "cycles", "error"])
    for r in records:
        w.writerow([*(r["config"].get(k, "") for k in keys), r["accuracy"], r["weight_bytes"],
                    r["arena_bytes"], r["instructions"], r.get("cycles"), r["error"] or ""])
    png = _pareto_png(records)
    files = {"results.json": json.dumps(list(records), indent=2, default=str).encode(),
             "results.csv": buf.getvalue().encode(), "pareto.png": png,
             "index.html": _page(records, keys, png).encode()}
    for name, content in files.items():
        (out / name).write_bytes(content)
    return [out / n for n in files]


def _page(records, keys: list[str], png: bytes) -> str:
    import base64

    import jinja2

    from ..targets.paths import templates_dir

    front = {id(r) for r in pareto(records)}
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir() / "report"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    rows = [{**r, "front": id(r) in front} for r in records]
    return env.get_template("sweep.html.j2").render(
        records=rows, keys=keys, failed=sum(r["error"] is not None for r in records),
        plot="data:image/png;base64," + base64.b64encode(png).decode("ascii"))


def _pareto_png(records) -> bytes:
    from .report_figures import png_bytes, pyplot

    plt = pyplot()
    costs = [c for c in ("weight_bytes", "instructions", "cycles")
             if any(r.get(c) is not None and r["error"] is None for r in records)]
    fig, axes = plt.subplots(1, len(costs), figsize=(5.5 * len(costs), 4), squeeze=False)
    for ax, cost in zip(axes[0], costs, strict=True):
        ok = [r for r in records if r["error"] is None and r.get(cost) is not None
              and r.get("accuracy") is not None]
        ax.scatter([r[cost] for r in ok], [100 * r["accuracy"] for r in ok], color="#8fb3d9",
                   label="configurations")
        front = pareto(records, cost)
        ax.plot([r[cost] for r in front], [100 * r["accuracy"] for r in front], "o-",
                color="#c0392b", label="Pareto front")
        ax.set_xlabel(cost.replace("_", " "))
        ax.set_ylabel("accuracy (%)")
        ax.set_xscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return png_bytes(fig)

