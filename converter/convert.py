"""``convert()``: a trained model in, a verified quantized Project out.

PyTorch modules (or ``.pt`` files saved with ``torch.save(model)``) are traced, simplified by the
float pass pipeline, calibrated and quantized to the TFLite int8 scheme. Every check that can fail
(unsupported layers, shapes, NaN weights or data, ops the C target lacks) runs before anything is
written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .fixed import MultiplierError
from .ir import DType, Graph, IRError
from .layout import Layout
from .passes.mst_reuse import mst_reuse
from .passes.storage import AUTO, StorageError, StorageOption, choose_storage
from .project import Project


@dataclass(frozen=True)
class SpikingOptions:
    """Options of a spiking conversion (``snn/convert.py``): ``membrane`` s16 or s32;
    ``decay`` ``DecayMode.Q15``/``SHIFT`` for every layer, a mapping from layer names to it, or
    None (per layer, the shift where it is as exact); ``reset`` a NIR graph's reset mode
    (``Reset``; NIR cannot state it); ``readout`` what the project returns (``Readout``);
    ``spike_input`` whether the input is spikes (None: whether calibration is all 0/1);
    ``encoder`` ``snn.convert.Encoder.RATE`` to rate-code a static input on device."""

    membrane: DType = DType.s16
    decay: object = None
    reset: object = None
    readout: object = None
    spike_input: bool | None = None
    encoder: object = None


class ConversionError(ValueError):
    """The model or its options cannot be converted; the message says why."""


class CalibrationRequired(ConversionError):
    """A float model was given without calibration data."""


def convert(model: object, example_input: object = None, calibration: object = None, *,
            name: str | None = None, observer: Callable[[], object] | None = None,
            progress: bool = True,
            weight_dtype: DType | Mapping[str, DType] = DType.s8,
            storage: StorageOption = AUTO, weight_bits: int | Mapping[str, int] | None = None,
            sparsity: float | Mapping[str, float] | None = None,
            sparsity_block: int | Mapping[str, int] | None = None,
            nm: tuple[int, int] | Mapping[str, tuple[int, int]] | None = None,
            clusters: int | Mapping[str, int] | None = None, bias_correction: bool = False,
            layerwise_calibration: bool = False, range_search: bool = False,
            data_free: bool = False, flash_budget: int | str | None = None, board: str | None = None,
            mst: bool = False, steps: int | None = None, dt: float | None = None,
            spiking: SpikingOptions | None = None) -> Project:
    """Convert ``model`` (an ``nn.Module``, a ``.pt`` path, a ``.tflite`` path or the bytes of a
    ``.tflite`` file, a Keras MLP as a full-model ``.h5`` path or a pair ``(model JSON,
    weights .h5)`` (``frontends/keras_h5.py``), or a float IR ``Graph`` such as
    ``frontends.larq.import_binary_mlp`` builds, whose data is in the IR layout) into a Project.

    Quantized ``.tflite`` files keep their parameters exactly (no calibration needed), unless
    ``weight_bits`` or ``weight_dtype`` ask for fewer bits: those layers' int8 weights are then
    requantized (``compress/requantize.py``; with ``calibration``, float or integer inputs of
    the file, by GPTQ towards the int8 model's outputs), everything else kept as stored. Float
    files are quantized like PyTorch models.

    ``example_input`` is one batch in the framework's layout (a tuple of batches for a model
    with several inputs; default: the first calibration sample); ``calibration`` the float
    samples whose ranges set the activation parameters, in the framework's layout: one array
    ``[N, ...]``, or for a model with several inputs a tuple with one array ``[N, ...]`` per
    input, or a list of per-sample tuples; ``observer`` an observer class or factory (default
    min/max); ``weight_dtype`` the dtype of the quantized weights: ``DType.s8`` (default) or
    ``DType.s4`` (int4 in [-7, 7], packed two per byte) or ``DType.s2`` (int2 in [-1, 1], four
    per byte), for every conv/dense layer or as a
    mapping from layer (node) names to it, the others staying int8; ``storage`` how the
    weights are stored (``converter/passes/storage.py``): ``"auto"`` (default) takes, per
    layer, the smallest format the C target runs (dense, packed int4, block CSR, CSR, N:M,
    bitmask or codebook; dense unless another saves more than a few bytes), ``None`` keeps the dense or
    packed weights, and a mapping from layer names to a format (``CSR()``, ``NM(2, 4)``,
    ``Codebook(4)``, ... from ``firmforge.converter.encoding``), ``"auto"`` or ``None``
    decides layer by layer (unnamed layers: ``"auto"``); a format the weights do not fit is an
    error naming the layer.

    Compression of a float model (``converter/compress/graph.py``), each option one value for
    every conv/dense layer or a mapping from layer names to it: ``weight_bits`` 8, 4 or 2
    (instead of ``weight_dtype``); ``sparsity`` in [0, 1), the fraction of each layer's weights
    removed by magnitude; ``sparsity_block`` (with ``sparsity``) a positive integer b: whole
    blocks of b output channels x 1 input position are removed instead, by their mean
    magnitude (4: the blocks ``BlockCSR`` skips, whose int8 kernels at 90% take ~0.25x the
    dense instructions); ``nm`` an ``(n, m)`` pattern such as ``(2, 4)``, at most n nonzeros
    in every m consecutive weights of a row; ``clusters`` the most distinct integer weights per
    layer (k-means). Pruning applies to the float weights before calibration, clustering to
    the quantized ones; storage then picks the sparse or codebook format that fits.

    PTQ quality (``converter/quantize/``): ``observer`` may also be a mapping from layer (or
    value) names to observers, the others min/max; ``bias_correction`` subtracts each layer's
    expected output error from quantized weights from its bias; ``layerwise_calibration``
    learns the rounding of every Conv2d/Dense weight against the float layer output
    (AdaRound); both measured on the calibration data. ``range_search`` then shrinks each
    activation range, tensor by tensor, to the one whose int8 network output is closest to the
    float one on the calibration data (KL divergence of the softmax for a classifier, else the
    MSE; ``converter/quantize/search.py``): input and activation tails are clipped where the
    finer step helps the output more than the clipping hurts it. ``data_free=True`` (with
    ``calibration=None`` and an ``example_input`` for the shape) calibrates on inputs
    synthesized from the model's BatchNorm statistics (ZeroQ). ``flash_budget`` (bytes, or
    ``"20KB"``; or ``board=``, a board name or file, for its flash size) chooses each layer's
    weight dtype among 8/4(/2) bits so that the C target's constants fit, losing the least
    (``converter/compress/budget.py``); the plan is ``proj.budget_plan``. ``mst=True`` stores
    the binary layers whose output channels are similar enough for MST channel reuse
    (``converter/passes/mst_reuse.py``) so that their kernels compute a channel from another's.

    Spiking networks (an snnTorch module, a NIR graph or ``.nir`` file; ``snn/convert.py``)
    take ``steps`` (T, required), time-major ``calibration`` ``[T, N, ...]`` (or static
    ``[N, ...]``), ``dt`` for NIR (seconds, required there), and ``spiking``
    (``SpikingOptions``: membrane width, decay, reset for NIR, readout, spike input); they
    return a ``snn.project.SpikingProject``.
    """
    from ..snn.convert import convert_spiking, is_spiking

    if steps is not None or dt is not None or spiking is not None or is_spiking(model):
        return convert_spiking(model, example_input, calibration, steps=steps, dt=dt,
                               name=name, **(spiking or SpikingOptions()).__dict__)
    _check_weight_dtype(weight_dtype)
    if weight_bits is not None and weight_dtype is not DType.s8:
        raise ConversionError("give weight_bits or weight_dtype, not both")
    budget = flash_budget is not None or board is not None
    if budget and (weight_dtype is not DType.s8 or weight_bits is not None):
        raise ConversionError("a flash budget chooses each layer's weight dtype: give "
                              "weight_dtype/weight_bits or flash_budget/board, not both")
    if budget and clusters is not None:
        raise ConversionError("clusters fixes each layer's weight values, a flash budget chooses "
                              "their bits: give one of them")
    ptq = _PtqOptions(bias_correction, layerwise_calibration, data_free,
                      _budget_bytes(flash_budget, board),
                      {"weight_bits": weight_bits, "sparsity": sparsity,
                       "sparsity_block": sparsity_block, "nm": nm, "clusters": clusters},
                      mst, range_search)
    if isinstance(model, Graph):
        return _convert_graph(model, calibration, name, observer, progress, weight_dtype,
                              storage, ptq)
    if isinstance(model, tuple) or (isinstance(model, (str, os.PathLike))
                                    and Path(model).suffix.lower() in (".h5", ".hdf5")):
        from .frontends.keras_h5 import load_keras  # Keras: (JSON, weights .h5) or a full .h5

        return _convert_graph(load_keras(model, name=name), calibration, name, observer,
                              progress, weight_dtype, storage, ptq)
    if isinstance(model, (bytes, bytearray, memoryview)):
        return _convert_tflite(bytes(model), calibration, name, observer, progress, weight_dtype,
                               storage, ptq)
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if path.suffix.lower() == ".tflite":
            return _convert_tflite(path, calibration, name, observer, progress, weight_dtype,
                                   storage, ptq)
        model = _load_path(path)
    import torch

    if not isinstance(model, torch.nn.Module):
        raise ConversionError(f"cannot convert a {type(model).__name__}: expected a torch.nn.Module "
                              "or the path of a saved model")
    return _convert_torch(model, example_input, calibration, name, observer, progress,
                          weight_dtype, storage, ptq)


def _check_weight_dtype(weight_dtype: object) -> None:
    """The type of ``weight_dtype`` (its names and dtypes are checked by the quantizer)."""
    if isinstance(weight_dtype, DType):
        return
    if not isinstance(weight_dtype, Mapping) or not all(
            isinstance(k, str) and isinstance(d, DType) for k, d in weight_dtype.items()):
        raise ConversionError(f"weight_dtype must be a DType (DType.s8, DType.s4, DType.s2) or a "
                              f"mapping from layer names to DType, got {weight_dtype!r}")


def _load_path(path: Path) -> object:
    if not path.exists():
        raise ConversionError(f"model file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth"):
        import torch

        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:  # any unpickling failure means a bad file
            raise ConversionError(f"{path} is not a model saved with torch.save(model): {e}") from e
    if suffix == ".keras":
        raise ConversionError(f"{path}: Keras 3 .keras archives are not read; give a model "
                              "saved with model.save('model.h5'), or (model.to_json(), weights "
                              "saved with save_weights to .h5)")
    raise ConversionError(f"{path}: unsupported model file type {suffix!r} "
                          "(expected .pt, .tflite or a Keras .h5)")


def _default_name(model: object) -> str:
    return type(model).__name__.lower()


def _calibration_arrays(calibration: object) -> list[np.ndarray]:
    """Calibration data as one float32 array ``[N, ...]`` per model input (framework layout)."""
    if calibration is None:
        raise CalibrationRequired("a float model needs calibration data (a few hundred "
                              "representative inputs) to choose its int8 ranges")
    if isinstance(calibration, list) and calibration and isinstance(calibration[0], tuple):
        if len({len(s) for s in calibration}) != 1:
            raise ConversionError("calibration samples hold different numbers of inputs")
        calibration = tuple(np.stack([_numpy(s[k]) for s in calibration])
                            for k in range(len(calibration[0])))
    parts = calibration if isinstance(calibration, tuple) else (calibration,)
    arrays = [_numpy(a) for a in parts]
    for arr in arrays:
        if arr.size == 0 or arr.ndim == 0 or arr.shape[0] == 0:
            raise ConversionError("the calibration set is empty")
        if not np.issubdtype(arr.dtype, np.floating):
            raise ConversionError(f"calibration data must be float, got {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            bad = int(np.argwhere((~np.isfinite(arr.reshape(arr.shape[0], -1))).any(axis=1))[0, 0])
            raise ConversionError(f"calibration sample {bad} contains NaN or Inf")
    if len({a.shape[0] for a in arrays}) > 1:
        raise ConversionError(f"calibration arrays hold different numbers of samples: "
                              f"{[a.shape[0] for a in arrays]}")
    return [a.astype(np.float32) for a in arrays]


def _numpy(x: object) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _convert_graph(graph: Graph, calibration, name, observer, progress, weight_dtype,
                   storage, ptq) -> Project:
    """A float IR graph (from ``frontends.larq``, or built by hand), in the IR's own layout."""
    from .passes import FLOAT_PIPELINE, run_passes

    if any(v.dtype is not DType.f32 for v in graph.inputs):
        raise ConversionError(f"graph {graph.name} is not a float graph: convert() quantizes "
                              "float graphs (a quantized one runs as Project(name, graph))")
    if ptq.data_free:
        raise ConversionError("data_free=True synthesizes inputs from a PyTorch model's "
                              "BatchNorm statistics; give calibration data for an IR graph")
    g = graph.copy()
    g.name = name or graph.name
    fgraph = run_passes(g, FLOAT_PIPELINE)
    return _quantize(fgraph, calibration, [Layout.FLAT] * len(fgraph.inputs),
                     [Layout.FLAT] * len(fgraph.outputs), observer, progress, weight_dtype,
                     storage, ptq)


def _convert_tflite(source: Path | bytes, calibration, name, observer, progress, weight_dtype,
                    storage, ptq) -> Project:
    """Quantized files (a path or the file's bytes) are taken as stored (int8 or INT4 weights as
    the file has them); float files go through firmforge's own PTQ."""
    from .frontends.tflite import load_tflite
    from .passes import FLOAT_PIPELINE, run_passes

    if isinstance(source, Path) and not source.exists():
        raise ConversionError(f"model file {source} does not exist")
    imp = load_tflite(source, name=name)
    what = source.name if isinstance(source, Path) else "the model"
    if imp.quantized:
        if ptq.active:
            raise ConversionError(f"{what} is already quantized: bias correction, layer-wise "
                                  "or data-free calibration, range search and flash budgets "
                                  "apply to float models")
        others = sorted(k for k, v in ptq.compression.items()
                        if v is not None and k != "weight_bits")
        if others:
            raise ConversionError(f"{what} is already quantized; {', '.join(others)}: only "
                                  "for float models (its weights can only be requantized to "
                                  "fewer bits, with weight_bits or weight_dtype)")
        graph = _requantized(imp.graph, weight_dtype, ptq.compression["weight_bits"],
                             calibration, what)
        return _checked(Project(graph.name, graph), storage, ptq.mst)
    if ptq.data_free:
        raise ConversionError(f"data_free=True synthesizes inputs from a PyTorch model's "
                              f"BatchNorm statistics, which {what} does not keep")
    fgraph = run_passes(imp.graph, FLOAT_PIPELINE)
    return _quantize(fgraph, calibration, [Layout.FLAT] * len(fgraph.inputs),
                     [Layout.FLAT] * len(fgraph.outputs),
                     observer, progress, weight_dtype, storage, ptq)


def _requantized(graph: Graph, weight_dtype: DType | Mapping[str, DType],
                 weight_bits: int | Mapping[str, int] | None, calibration: object,
                 what: str) -> Graph:
    """An imported int8 graph with the layers asked for requantized to fewer bits
    (``compress/requantize.py``): data-aware (GPTQ) when calibration inputs are given."""
    from .compress.graph import WEIGHT_BITS as by_bits
    from .compress.prune import CompressionError
    from .compress.requantize import requantize_weights

    if weight_bits is not None:
        bits = weight_bits if isinstance(weight_bits, Mapping) else {None: weight_bits}
        if any(b not in by_bits for b in bits.values()):
            raise ConversionError(f"weight_bits must be 8, 4 or 2, got {weight_bits!r}")
        weight_dtype = ({k: by_bits[b] for k, b in bits.items()} if None not in bits
                        else by_bits[bits[None]])
    wanted = weight_dtype if isinstance(weight_dtype, Mapping) else {None: weight_dtype}
    groups: dict[DType, list[str] | None] = {}
    for layer, dtype in wanted.items():
        if dtype is not DType.s8:
            groups[dtype] = None if layer is None else [*groups.get(dtype, []), layer]
    if not groups:
        return graph
    x = None
    if calibration is not None:
        if len(graph.inputs) != 1:
            raise ConversionError(f"{what} has {len(graph.inputs)} inputs: requantizing its "
                                  "weights with calibration data takes a single-input model")
        try:
            x = Project(graph.name, graph).prepare_inputs([calibration])[0][0]
        except IRError as e:
            raise ConversionError(f"calibration data: {e}") from e
    try:
        for dtype, layers in groups.items():
            graph = requantize_weights(graph, dtype, layers, calibration=x)
    except CompressionError as e:
        raise ConversionError(f"{what}: {e}") from e
    return graph


def _checked(proj: Project, storage: StorageOption, mst: bool = False) -> Project:
    try:
        # the weights' storage, among what the project's backend runs (asking a backend may
        # compute a node's multipliers: a degenerate model fails here, before sources())
        proj.graph = choose_storage(proj.graph, proj.backend.runs, storage)
        if mst:
            proj.graph = mst_reuse(proj.graph, proj.backend.runs)
        proj.sources()  # every op must have a C kernel before the user gets a project
    except StorageError as e:
        raise ConversionError(str(e)) from e
    except (NotImplementedError, IRError) as e:
        raise ConversionError(f"cannot generate C for this model: {e}") from e
    except MultiplierError as e:  # e.g. float weights near 1e38 calibrated to an int8 output
        raise ConversionError(f"cannot generate C for this model: {e} (its scales are out of "
                              "proportion)") from e
    return proj


def _quantize(fgraph, calibration, in_layouts, out_layouts, observer, progress,
              weight_dtype, storage, ptq=None) -> Project:
    from .compress import graph as compress
    from .quantize import MinMaxObserver, calibrate, quantize
    from .quantize.ptq import weight_dtypes

    calib = _calibration_arrays(calibration)
    if len(calib) != len(fgraph.inputs):
        raise ConversionError(f"the model has {len(fgraph.inputs)} inputs, the calibration data "
                              f"{len(calib)} (give a tuple with one array per input)")
    ir = []
    for v, layout, arr in zip(fgraph.inputs, in_layouts, calib, strict=True):
        expected = layout.framework_shape(tuple(v.shape))[1:]
        if tuple(arr.shape[1:]) != tuple(expected):
            raise ConversionError(f"calibration data has shape {list(arr.shape)}, the model's "
                                  f"input {v.name} is {list(expected)} per sample")
        ir.append(layout.to_ir(arr))
    ptq = ptq or _PtqOptions()
    compression = dict(ptq.compression)
    if compression["weight_bits"] is None:  # the bits weight_dtype gives, for the checks
        binary = {n.name for n in fgraph.nodes if n.weight_axis is not None
                  and n.inputs[1].dtype in (DType.b1, DType.t2)}  # keep 1-2 bit weights
        bits = {k: d.bits for k, d in weight_dtypes(fgraph, weight_dtype).items()
                if k not in binary}
        compression = {**compression, "weight_bits": bits}
    try:
        plans = compress.plan(fgraph, **compression)
    except compress.CompressionError as e:
        raise ConversionError(str(e)) from e
    fgraph = compress.prune_graph(fgraph, plans)
    weight_dtype = compress.weight_dtypes(plans)
    ranges = calibrate(fgraph, tuple(ir) if len(ir) > 1 else ir[0],
                       observer=observer or MinMaxObserver, progress=progress)

    def project(graph, wd):
        qgraph = compress.cluster_graph(quantize(graph, ranges, weight_dtype=wd), graph, plans)
        return _checked(Project(fgraph.name, qgraph, fgraph, in_layouts, out_layouts), storage,
                        ptq.mst)

    plan = None
    if ptq.budget is not None:
        from .compress.budget import BudgetError, budget_plan

        try:
            plan = budget_plan(fgraph, tuple(ir), ptq.budget, project, progress)
        except BudgetError as e:
            raise ConversionError(str(e)) from e
        weight_dtype = plan.plan
    if ptq.bias_correction or ptq.layerwise_calibration:
        from .quantize.ptq import weight_dtypes
        from .quantize.refine import refine

        fgraph_q = refine(fgraph, tuple(ir), weight_dtypes(fgraph, weight_dtype),
                          layerwise=ptq.layerwise_calibration, bias_correction=ptq.bias_correction)
    else:
        fgraph_q = fgraph
    if ptq.range_search:
        from .quantize.search import search_ranges

        def make(r):
            return compress.cluster_graph(quantize(fgraph_q, r, weight_dtype=weight_dtype),
                                          fgraph_q, plans)

        ranges = search_ranges(fgraph_q, ranges, ir, make, target=fgraph, progress=progress)
    proj = project(fgraph_q, weight_dtype)
    proj.budget_plan = plan
    return proj


def _convert_torch(model, example_input, calibration, name, observer, progress,
                   weight_dtype, storage, ptq) -> Project:
    import torch

    from .frontends.torch_fx import import_torch
    from .passes import FLOAT_PIPELINE, run_passes

    if ptq.data_free:
        calibration = _distilled(model, example_input, calibration)
    calib = _calibration_arrays(calibration)
    if example_input is None:
        example_input = tuple(torch.from_numpy(a[:1]) for a in calib)
    imp = import_torch(model, example_input, name=name or _default_name(model))
    fgraph = run_passes(imp.graph, FLOAT_PIPELINE)
    return _quantize(fgraph, tuple(calib), imp.input_layouts, imp.output_layouts, observer,
                     progress, weight_dtype, storage, ptq)


@dataclass(frozen=True)
class _PtqOptions:
    bias_correction: bool = False
    layerwise_calibration: bool = False
    data_free: bool = False
    budget: int | None = None
    # convert()'s compression options (converter/compress/graph.py plan's keywords)
    compression: Mapping[str, object] = field(default_factory=lambda: dict.fromkeys(
        ("weight_bits", "sparsity", "sparsity_block", "nm", "clusters")))
    mst: bool = False  # MST channel reuse of binary layers (passes/mst_reuse.py)
    range_search: bool = False  # output-aware activation ranges (quantize/search.py)

    @property
    def active(self) -> bool:
        """Whether an option of the PTQ itself is set (bias correction, layer-wise or data-free
        calibration, range search, a budget)."""
        return (self.bias_correction or self.layerwise_calibration or self.data_free
                or self.range_search or self.budget is not None)

    @property
    def compresses(self) -> bool:
        return any(v is not None for v in self.compression.values())


def _budget_bytes(flash_budget: int | str | None, board: str | None) -> int | None:
    if flash_budget is None and board is None:
        return None
    if flash_budget is not None and board is not None:
        raise ConversionError("give flash_budget or board, not both")
    if board is not None:
        from ..targets.board.spec import load_board

        return int(load_board(board).flash.size)
    from .compress.budget import parse_size

    try:
        size = parse_size(flash_budget)
    except ValueError as e:
        raise ConversionError(str(e)) from e
    if size <= 0:
        raise ConversionError(f"flash_budget must be positive, got {flash_budget!r}")
    return size


def _distilled(model, example_input, calibration) -> np.ndarray:
    """ZeroQ inputs for ``model`` shaped like ``example_input`` (data_free=True)."""
    from .quantize.datafree import DataFreeError, distill

    if calibration is not None:
        raise ConversionError("data_free=True synthesizes the calibration data: give "
                              "calibration=None")
    if example_input is None:
        raise ConversionError("data_free=True needs example_input (one batch) for the input shape")
    if isinstance(example_input, tuple):
        raise ConversionError("data_free=True supports models with one input")
    try:
        return distill(model, tuple(_numpy(example_input).shape[1:]))
    except DataFreeError as e:
        raise ConversionError(str(e)) from e
