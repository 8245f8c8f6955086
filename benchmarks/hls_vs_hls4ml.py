"""firmforge int8 against hls4ml 1.3 on the jet-tagging-shaped MLP (16-64-32-32-5, ReLU,
softmax; benchmarks/jet_tagger.py, trained here on seeded synthetic data).

For each implementation: how often its argmax agrees with the float model on 10,000 held-out
inputs, its accuracy, the multipliers of a fully parallel design, and the time to produce a
runnable model (conversion plus compilation):

* firmforge int8: ``convert()`` with 1,000 calibration samples; the numbers come from the
  integer reference (``proj.reference``), which the host C reproduces bit for bit (checked on
  every held-out input). With firmforge's HLS backend (``proj.write_hls``), its C simulation
  is checked against the reference too and its multiplier estimate is shown.
* firmforge int8 with ``range_search=True`` (converter/quantize/search.py: each activation
  range shrunk to the one whose int8 softmax input is closest, in KL divergence, to the float
  model's on the calibration samples), alone and with ``bias_correction=True``; the host C is
  checked against the reference on every held-out input here too.
* hls4ml 1.3 at ``ap_fixed<16,6>`` and ``ap_fixed<8,3>`` (whole model at that precision,
  reuse factor 1, io_parallel): ``compile()`` (g++ with the ap_types headers of its wheel, no
  Vivado needed) and ``predict()``, its own C simulation. Without Vivado there is no synthesis
  report, so the multipliers are the dense product terms at reuse 1 (16*64 + 64*32 + 32*32 +
  32*5 = 4,256), an upper bound: Vivado would turn some constant products into shifts and
  adds and drop zero weights.

    .venv/bin/python benchmarks/hls_vs_hls4ml.py             # the table, seed 0
    .venv/bin/python benchmarks/hls_vs_hls4ml.py --seeds 0 1 2  # firmforge's agreement per seed

"Agreement" is strict: the argmax of the int8 softmax output, where equal top outputs count
as a miss unless the float class comes first; the notes give the tie-aware figure too.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.jet_tagger import SIZES, float_predictions, train_jet_tagger  # noqa: E402
from firmforge.converter import convert  # noqa: E402
from firmforge.converter.quantize import LogitObserver  # noqa: E402

BUILD = ROOT / "build" / "hls_vs_hls4ml"
CALIBRATION = 1_000
HLS4ML_PRECISIONS = ("ap_fixed<16,6>", "ap_fixed<8,3>")
# firmforge's rows with the output-aware range search: label -> convert() options
SEARCHED = {"firmforge int8, range_search": {"range_search": True},
            "firmforge int8, range_search + bias_corr.": {"range_search": True,
                                                          "bias_correction": True}}
DENSE_PRODUCTS = sum(a * b for a, b in itertools.pairwise(SIZES))  # 4,256 at reuse factor 1


@dataclass
class Row:
    name: str
    precision: str
    agreement: float | None
    accuracy: float | None
    multipliers: str
    seconds: float | None
    note: str = ""


def firmforge_rows(model, x_train, x_test, y_test, float_cls) -> list[Row]:
    # an empty build cache, so that the host C compile is timed as hls4ml's compile() is (the
    # cache would otherwise return the previous run's library in milliseconds)
    cache = BUILD / "firmforge_cache"
    shutil.rmtree(cache, ignore_errors=True)
    os.environ["FIRMFORGE_CACHE"] = str(cache)
    t0 = time.perf_counter()
    proj = convert(model, calibration=x_train[:CALIBRATION], name="jet_tagger", progress=False)
    t_convert = time.perf_counter() - t0
    t0 = time.perf_counter()
    proj.host()  # the generated C, compiled for this machine (cffi)
    t_host = time.perf_counter() - t0
    ref = proj.reference(x_test)
    cls = ref.argmax(axis=1)
    mismatch = proj.verify(x_test)
    host_note = "host C == reference on all inputs" if mismatch is None else f"host C differs: " \
        f"{mismatch}"
    macs = proj.report().get("macs")
    rows = [Row("firmforge int8 (reference, host C)", "int8, TFLite scheme",
                float((cls == float_cls).mean()), float((cls == y_test).mean()),
                f"- (MCU C, {macs:,} MACs)", t_convert + t_host,
                f"convert {t_convert:.2f} s + host C build {t_host:.2f} s; {host_note}; "
                f"{_ties(ref, float_cls)}")]
    # the logits calibrated for their argmax: clipped 8 below each sample's largest (what the
    # softmax and the argmax read), a finer int8 step and fewer ties between the top classes
    last = str(len(model) - 2)  # the last Linear's name in the Sequential (before the softmax)
    logit = convert(model, calibration=x_train[:CALIBRATION], name="jet_tagger_logit",
                    observer={last: LogitObserver}, progress=False)
    out = logit.reference(x_test)
    cls_l = out.argmax(axis=1)
    rows.append(Row("firmforge int8, LogitObserver", "int8, TFLite scheme",
                    float((cls_l == float_cls).mean()), float((cls_l == y_test).mean()),
                    "-", None, f"reference; {_ties(out, float_cls)}"))
    for label, options in SEARCHED.items():
        rows.append(_searched_row(model, x_train, x_test, y_test, float_cls, label, options))
    if not hasattr(proj, "write_hls"):
        rows.append(Row("firmforge HLS csim", "int8", None, None, "-", None,
                        "HLS backend not available"))
        return rows
    # the HLS templates have no softmax: the HLS project computes the logits (same argmax)
    logits = convert(model[:-1], calibration=x_train[:CALIBRATION], name="jet_tagger_logits",
                     progress=False)
    rows.append(_firmforge_hls(logits, x_test, y_test, float_cls, logits.reference(x_test)))
    return rows


def _searched_row(model, x_train, x_test, y_test, float_cls, label: str,
                  options: dict[str, bool]) -> Row:
    """firmforge int8 with the output-aware range search (and ``options``' other PTQ options)."""
    t0 = time.perf_counter()
    proj = convert(model, calibration=x_train[:CALIBRATION], name="jet_tagger_search",
                   progress=False, **options)
    seconds = time.perf_counter() - t0
    out = proj.reference(x_test)
    cls = out.argmax(axis=1)
    mismatch = proj.verify(x_test)
    host = "host C == reference on all inputs" if mismatch is None else f"host C differs: " \
        f"{mismatch}"
    return Row(label, "int8, TFLite scheme", float((cls == float_cls).mean()),
               float((cls == y_test).mean()), "-", seconds,
               f"convert (with the search) {seconds:.2f} s; {host}; {_ties(out, float_cls)}")


def _firmforge_hls(proj, x_test, y_test, float_cls, ref) -> Row:
    """firmforge's HLS C++ project, C-simulated (when the HLS backend is there)."""
    out = BUILD / "firmforge_hls"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    try:
        hp = proj.write_hls(out, part="xc7z020clg400-1", clock_ns=5)
        got = np.asarray(hp.csim(x_test))
    except (AttributeError, TypeError) as e:  # an HLS API other than this script expects
        return Row("firmforge HLS csim", "int8", None, None, "-", None,
                   f"HLS backend present but not usable here: {e}")
    seconds = time.perf_counter() - t0
    cls = got.argmax(axis=1)
    same = "csim == reference" if np.array_equal(got, ref) else "csim DIFFERS from reference"
    mult = getattr(hp, "estimates", {}).get("multipliers")
    return Row("firmforge HLS csim (logits)", "int8", float((cls == float_cls).mean()),
               float((cls == y_test).mean()), f"{mult:,}" if isinstance(mult, int) else "?",
               seconds, f"write + csim on all inputs; {same}")


def hls4ml_row(model, precision: str, x_test, y_test, float_cls) -> Row:
    import hls4ml

    out = BUILD / f"hls4ml_{precision.replace('<', '_').replace(',', '_').rstrip('>')}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # hls4ml prints its topology and steps
        config = hls4ml.utils.config_from_pytorch_model(model, input_shape=(SIZES[0],),
                                                        default_precision=precision)
        hls_model = hls4ml.converters.convert_from_pytorch_model(
            model, hls_config=config, output_dir=str(out), backend="Vivado",
            io_type="io_parallel")
        hls_model.compile()
    seconds = time.perf_counter() - t0
    pred = np.asarray(hls_model.predict(np.ascontiguousarray(x_test)))
    cls = pred.reshape(len(x_test), -1).argmax(axis=1)
    return Row("hls4ml 1.3 C simulation", precision, float((cls == float_cls).mean()),
               float((cls == y_test).mean()), f"{DENSE_PRODUCTS:,} (dense, reuse 1)", seconds,
               f"convert + compile(); {_ties(pred, float_cls)}")


def _ties(out: np.ndarray, float_cls: np.ndarray | None = None) -> str:
    """How often the two largest outputs are equal (argmax then takes the first class): the
    output resolution, not a wrong product, decides those inputs. With ``float_cls``, also the
    tie-aware agreement: the float class counts as found when it is among the tied largest."""
    out = out.reshape(len(out), -1)
    top = np.sort(out, axis=1)
    text = f"top-2 outputs tie on {100 * (top[:, -1] == top[:, -2]).mean():.2f} % of inputs"
    if float_cls is not None:
        found = out[np.arange(len(out)), float_cls] == top[:, -1]
        text += f"; tie-aware agreement {100 * found.mean():.2f} %"
    return text


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def print_table(rows: list[Row], float_acc: float, n: int) -> None:
    print(f"\njet-tagging MLP {'-'.join(map(str, SIZES))}, {n:,} held-out inputs, "
          f"float accuracy {_pct(float_acc)}\n")
    head = ("implementation", "precision", "argmax = float", "accuracy", "multipliers",
            "compile")
    cells = [head, *[(r.name, r.precision, _pct(r.agreement), _pct(r.accuracy), r.multipliers,
                      "-" if r.seconds is None else f"{r.seconds:.1f} s") for r in rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    for i, c in enumerate(cells):
        print("  ".join(s.ljust(w) for s, w in zip(c, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print()
    for r in rows:
        if r.note:
            print(f"  {r.name} [{r.precision}]: {r.note}")


def _agreement(out: np.ndarray, float_cls: np.ndarray) -> tuple[float, float]:
    """(strict, tie-aware) agreement of ``out``'s argmax with the float classes."""
    strict = float((out.argmax(axis=1) == float_cls).mean())
    tie_aware = float((out[np.arange(len(out)), float_cls] == out.max(axis=1)).mean())
    return strict, tie_aware


def seeds_table(seeds: list[int]) -> None:
    """firmforge's int8 agreement with the float argmax for several training seeds: min/max
    (the default), LogitObserver on the logits, and the range search rows (no hls4ml)."""
    configs = {"min/max (default)": {}, "LogitObserver": None, **SEARCHED}
    print(f"\nstrict / tie-aware argmax agreement with float, {len(seeds)} seeds, "
          f"{CALIBRATION:,} calibration samples\n")
    for seed in seeds:
        model, x_train, x_test, _ = train_jet_tagger(seed=seed)
        float_cls = float_predictions(model, x_test).argmax(axis=1)
        cells = []
        for label, options in configs.items():
            if options is None:  # the last Linear's name in the Sequential (before the softmax)
                options = {"observer": {str(len(model) - 2): LogitObserver}}
            proj = convert(model, calibration=x_train[:CALIBRATION], name="jet_tagger",
                           progress=False, **options)
            strict, tie = _agreement(proj.reference(x_test), float_cls)
            cells.append(f"{label.removeprefix('firmforge int8, ')} {100 * strict:.2f} / "
                         f"{100 * tie:.2f} %")
        print(f"seed {seed}: " + "; ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="training seed of the table")
    parser.add_argument("--seeds", type=int, nargs="+",
                        help="only firmforge's agreement per training seed (no hls4ml)")
    args = parser.parse_args()
    if args.seeds:
        seeds_table(args.seeds)
        return
    t0 = time.perf_counter()
    model, x_train, x_test, y_test = train_jet_tagger(seed=args.seed)
    probs = float_predictions(model, x_test)
    float_cls = probs.argmax(axis=1)
    print(f"trained the float model in {time.perf_counter() - t0:.1f} s")
    BUILD.mkdir(parents=True, exist_ok=True)
    rows = firmforge_rows(model, x_train, x_test, y_test, float_cls)
    rows += [hls4ml_row(model, p, x_test, y_test, float_cls) for p in HLS4ML_PRECISIONS]
    print_table(rows, float((float_cls == y_test).mean()), len(x_test))


if __name__ == "__main__":
    main()
