"""PyTorch frontend: an ``nn.Module`` traced with torch.fx becomes a float IR Graph (NHWC, batch 1).

Steps: check the weights (NaN/Inf), run the model on the example (shape errors), trace it with
``torch.fx``, run the traced graph once on the example recording every node's value, then convert
node by node. A node that does not depend on the input (parameters, ``x.size(0)`` and arithmetic
on it, shape queries) takes its recorded value, so shape arithmetic such as
``x.view(x.size(0), -1)`` is evaluated statically. Every other node goes to a handler named after
its source op (``torch_modules`` for leaf modules, ``torch_functions`` for functions and
methods; a module without a handler of its own uses its ``torch.nn.functional`` twin's).
Unsupported nodes are all collected and reported together. Finally the float reference of the IR
graph must reproduce torch's output on the example: a disagreement is a frontend bug.
"""

from __future__ import annotations

import inspect
import operator
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx

from .. import nn as training_layers
from ..ir import Graph, IRError
from ..layout import Layout
from . import torch_functions, torch_modules
from .torch_context import Ctx, T, Unsupported, ir_shape, layout_of
from .torch_verify import check_against_torch, flatten

# Nodes that read only the shape of a tensor: their value is static even though their input is not.
_SHAPE_METHODS = {"size", "dim", "numel", "ndimension", "nelement"}
_SHAPE_ATTRS = {"shape", "ndim", "dtype", "device", "is_cuda", "requires_grad"}
_TORCH_DIR = str(Path(torch.__file__).parent)


class UnsupportedModelError(ValueError):
    """The model uses layers, functions or arguments the IR cannot express (all listed)."""


class ExampleShapeError(ValueError):
    """The model cannot run on the example input."""


class InvalidWeightsError(ValueError):
    """Parameters or buffers hold NaN or Inf (all listed)."""


@dataclass
class TorchImport:
    """The imported float graph (passes not applied) and how its boundary maps to torch's."""

    graph: Graph
    input_layouts: list[Layout]
    output_layouts: list[Layout]


def import_torch(model: torch.nn.Module, example_input: torch.Tensor | np.ndarray,
                 name: str | None = None) -> TorchImport:
    """Trace ``model`` on ``example_input`` (torch layout, any batch size) into a float Graph.

    A tuple or list of examples feeds a model with several inputs. The model runs in eval mode;
    the caller's train/eval flags are restored on every submodule afterwards.
    """
    examples = _examples(example_input)
    _check_weights(model)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            expected = _run_example(model, examples)
            gm = _trace(model)
            recorded = _record(gm, examples)
            graph, outs, trail = _convert(gm, recorded, examples,
                                          name or type(model).__name__.lower())
            check_against_torch(graph, examples, outs, expected, trail)
    finally:
        for m, training in modes:
            m.training = training
    return TorchImport(graph, [layout_of(x.ndim) for x in examples],
                       [layout_of(t.rank) for t in outs])


# -- preparation --------------------------------------------------------------------------------
def _examples(example_input: object) -> list[torch.Tensor]:
    items = list(example_input) if isinstance(example_input, (tuple, list)) else [example_input]
    out = []
    for x in items:
        t = torch.from_numpy(np.array(x, np.float32)) if isinstance(x, np.ndarray) else x
        if not isinstance(t, torch.Tensor):
            raise ExampleShapeError(f"the example input must be a tensor or array, got "
                                    f"{type(x).__name__}")
        if t.ndim < 2:
            raise ExampleShapeError(f"the example input has shape {list(t.shape)}; it needs a "
                                    "leading batch dim and at least one feature dim")
        out.append(t.detach().to(torch.float32))
    if len({x.shape[0] for x in out}) > 1:
        raise ExampleShapeError(f"the example inputs {_shapes(out)} have different batch sizes")
    return out


def _check_weights(model: torch.nn.Module) -> None:
    bad = []
    for kind, items in (("parameter", model.named_parameters()), ("buffer", model.named_buffers())):
        for n, p in items:
            if p.is_floating_point():
                nonfinite = int((~torch.isfinite(p.detach())).sum())
                if nonfinite:
                    bad.append(f"{kind} {n} {list(p.shape)}: {nonfinite} NaN/Inf of {p.numel()}")
    if bad:
        raise InvalidWeightsError("model weights contain NaN or Inf:\n  " + "\n  ".join(bad))


def _shapes(examples: list[torch.Tensor]) -> str:
    return ", ".join(str(list(x.shape)) for x in examples)


def _run_example(model: torch.nn.Module, examples: list[torch.Tensor]) -> object:
    try:
        return model(*examples)
    except Exception as e:  # whatever torch raises, the example does not fit the model
        raise ExampleShapeError(f"{type(model).__name__} cannot run on an example input of shape "
                                f"{_shapes(examples)}: {type(e).__name__}: {e}") from e


class _Tracer(fx.Tracer):
    """torch.fx's tracer, which also keeps firmforge's own training layers (``converter/nn.py``:
    binary and ternary layers) whole, as it keeps torch.nn's."""

    def is_leaf_module(self, m: torch.nn.Module, qualname: str) -> bool:
        return _training_layer(type(m)) or super().is_leaf_module(m, qualname)


def _training_layer(cls: type) -> bool:
    return getattr(training_layers, cls.__name__, None) is cls


def _trace(model: torch.nn.Module) -> fx.GraphModule:
    tracer = _Tracer()
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(model)
    except Exception as e:  # fx raises many types (TraceError, TypeError on proxies, ...)
        raise UnsupportedModelError(
            f"torch.fx cannot trace {type(model).__name__}: {type(e).__name__}: {e}. Models must "
            "be free of data-dependent control flow (if/for on tensor values)") from e
    return fx.GraphModule(tracer.root, graph)


class _Recorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.values: dict[fx.Node, object] = {}

    def run_node(self, n: fx.Node) -> object:
        out = super().run_node(n)
        self.values[n] = out
        return out


def _record(gm: fx.GraphModule, examples: list[torch.Tensor]) -> dict[fx.Node, object]:
    rec = _Recorder(gm)
    try:
        rec.run(*examples)
    except Exception as e:  # the eager run worked, so the trace lost something
        raise UnsupportedModelError(f"the torch.fx trace of the model fails on the example "
                                    f"input {_shapes(examples)}: {type(e).__name__}: {e}") from e
    return rec.values


# -- conversion ---------------------------------------------------------------------------------
def _convert(gm: fx.GraphModule, recorded: dict, examples: list[torch.Tensor],
             name: str) -> tuple[Graph, list[T], list[tuple[str, T, torch.Tensor]]]:
    """The IR graph, its output tensors, and (fx name, tensor, torch value) of every converted
    node for locating a disagreement."""
    graph = Graph(name)
    cx = Ctx(graph)
    env: dict[fx.Node, object] = {}
    dynamic: set[fx.Node] = set()
    problems: list[str] = []
    batch = examples[0].shape[0]
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    required = sum(1 for n in placeholders if not n.args)  # fx keeps defaults in args
    if not required <= len(examples) <= len(placeholders):
        raise ExampleShapeError(f"the model takes {required} to {len(placeholders)} inputs, "
                                f"{len(examples)} example tensors were given")
    outs: list[T] = []
    trail: list[tuple[str, T, torch.Tensor]] = []
    for node in gm.graph.nodes:
        if node.op == "placeholder" and len(graph.inputs) == len(examples):
            env[node] = node.args[0]  # an argument left at its default: a constant
        elif node.op == "placeholder":
            shape = (1, *recorded[node].shape[1:])
            env[node] = cx.placeholder(node.name, shape)
            graph.inputs.append(env[node].value)
            dynamic.add(node)
        elif node.op == "output":
            outs = _outputs(node, env, problems)
        elif not _is_dynamic(node, dynamic):
            env[node] = recorded[node]
        else:
            dynamic.add(node)
            try:
                env[node] = _lower(cx, gm, node, env, recorded[node], batch)
                if isinstance(env[node], T):
                    trail.append((node.name, env[node], recorded[node]))
            except (Unsupported, IRError) as e:
                problems.append(_describe(gm, node, str(e)))
                env[node] = _stand_in(cx, recorded[node])
    if problems:
        raise UnsupportedModelError(
            f"{len(problems)} unsupported operation{'s' * (len(problems) > 1)} in "
            f"{name}:\n  " + "\n  ".join(problems))
    graph.outputs = [t.value for t in outs]
    graph.validate()
    return graph, outs, trail


def _is_dynamic(node: fx.Node, dynamic: set[fx.Node]) -> bool:
    if not any(a in dynamic for a in node.all_input_nodes):
        return False
    if node.op == "call_method" and node.target in _SHAPE_METHODS:
        return False
    return not (node.op == "call_function" and node.target is getattr
                and len(node.args) > 1 and node.args[1] in _SHAPE_ATTRS)


def _lower(cx: Ctx, gm: fx.GraphModule, node: fx.Node, env: dict, out: object,
           batch: int) -> object:
    cx.begin(node.target if node.op == "call_module" else node.name, ())
    handler, first = _handler(gm, node)
    shape = () if isinstance(out, (tuple, list)) else _tensor_shape(out, batch)
    cx.out_shape = shape
    args = fx.node.map_arg(node.args, lambda n: env[n])
    kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
    try:
        bound = inspect.signature(handler).bind(cx, *first, *args, **kwargs)
    except TypeError as e:
        raise Unsupported(f"unexpected arguments: {e}") from None
    result = handler(*bound.args, **bound.kwargs)
    if isinstance(result, T):
        if result.shape != shape or tuple(result.value.shape) != ir_shape(shape):
            raise AssertionError(f"frontend bug at {node.name}: produced torch shape "
                                 f"{result.shape} / IR {result.value.shape}, torch has {shape}")
        cx.finish(result)
    return result


def _tensor_shape(out: object, batch: int) -> tuple[int, ...]:
    if not isinstance(out, torch.Tensor):
        raise Unsupported(f"produces a {type(out).__name__}, not a tensor")
    if out.dtype != torch.float32:
        raise Unsupported(f"produces a {out.dtype} tensor (only float32 is supported)")
    if out.ndim < 2 or out.shape[0] != batch:
        raise Unsupported(f"produces shape {list(out.shape)}, which does not keep the batch "
                          f"({batch}) as its first dim")
    return (1, *out.shape[1:])


def _handler(gm: fx.GraphModule, node: fx.Node) -> tuple[object, tuple]:
    """The handler for ``node`` and the leading arguments it takes before torch's own."""
    if node.op == "call_module":
        mod = gm.get_submodule(node.target)
        cls = type(mod)
        torch_layer = getattr(torch.nn, cls.__name__, None) is cls
        if cls.__name__.startswith("_") or not (torch_layer or _training_layer(cls)):
            raise Unsupported(f"no converter for {cls.__module__}.{cls.__qualname__}")
        h = getattr(torch_modules, cls.__name__, None) or _functional_twin(mod)
        if h is None:
            raise Unsupported(f"no converter for {cls.__module__}.{cls.__qualname__}")
        return h, (mod,)
    if node.op == "call_method":
        name = node.target
        if not hasattr(torch.Tensor, name):
            raise Unsupported(f"unknown tensor method {name!r}")
    else:
        name = getattr(node.target, "__name__", "")
        if not any(getattr(ns, name, None) is node.target for ns in (torch, F, operator)):
            raise Unsupported("no converter")
    h = getattr(torch_functions, name, None)
    if h is None or name.startswith("_") or not callable(h):
        raise Unsupported("no converter")
    return h, ()


def _functional_twin(mod: torch.nn.Module):
    """A module without a handler of its own is converted by the handler of its functional
    twin in ``torch.nn.functional`` (``nn.LeakyReLU`` -> ``F.leaky_relu``), called with the
    module's attributes that name the function's parameters (``negative_slope``). So an
    activation needs one torch handler, not two."""
    key = type(mod).__name__.lower()
    for name in dir(F):
        fn = getattr(torch_functions, name, None)
        if name.replace("_", "") == key and not name.startswith("_") and callable(fn):
            params = list(inspect.signature(fn).parameters)[2:]  # after (cx, input)
            attrs = {p: vars(mod)[p] for p in params if p in vars(mod)}

            def handler(cx: Ctx, mod: torch.nn.Module, input: T, fn=fn, attrs=attrs) -> T:
                return fn(cx, input, **attrs)
            return handler
    return None


def _stand_in(cx: Ctx, out: object) -> object:
    """A value of the right shape for an unsupported node, so later nodes are still checked."""
    if isinstance(out, (tuple, list)):
        return type(out)(_stand_in(cx, o) for o in out)
    if isinstance(out, torch.Tensor) and out.ndim >= 1:
        return cx.placeholder(f"{cx.base}.unsupported", (1, *out.shape[1:]))
    return out


def _outputs(node: fx.Node, env: dict, problems: list[str]) -> list[T]:
    outs = []
    for a in flatten(node.args[0]):
        v = env.get(a) if isinstance(a, fx.Node) else None
        if isinstance(v, T):
            outs.append(v)
        else:
            problems.append(f"output {a}: not a tensor computed from the model input")
    return outs


# -- messages -----------------------------------------------------------------------------------
def _target(node: fx.Node) -> str:
    t = node.target
    if isinstance(t, str):
        return t
    mod = getattr(t, "__module__", None) or ""
    mod = {"_operator": "operator", "torch._C._nn": "torch.nn.functional",
           "torch._C._VariableFunctions": "torch"}.get(mod, mod)
    return f"{mod}.{getattr(t, '__name__', repr(t))}".lstrip(".")


def _describe(gm: fx.GraphModule, node: fx.Node, reason: str) -> str:
    if node.op == "call_module":
        mod = gm.get_submodule(node.target)
        what = f"module {node.target} ({type(mod).__name__})"
    else:
        kind = "method" if node.op == "call_method" else "function"
        what = f"{kind} {_target(node)}"
        stack = node.meta.get("nn_module_stack")
        if stack:  # innermost module first in reverse order; values are (qualname, class)
            what += f" in module {list(stack.values())[-1][0]}"
    where = _source_line(node)
    return f"{node.name}: {what}{f' at {where}' if where else ''}: {reason}"


_FRAME = re.compile(r'File "([^"]+)", line (\d+), in [^\n]*\n\s*([^\n]*)')


def _source_line(node: fx.Node) -> str:
    """``file:line: code`` of the model's own source line that created ``node``."""
    trace = node.stack_trace or node.meta.get("stack_trace") or ""
    frames = [f for f in _FRAME.findall(trace) if not f[0].startswith(_TORCH_DIR)]
    if not frames:
        return ""
    file, line, code = frames[-1]
    return f"{Path(file).name}:{line} `{code.strip()}`"
