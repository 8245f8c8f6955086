"""snnTorch import: a spiking ``nn.Module`` becomes a float IR graph of one time step.

torch.fx cannot trace snnTorch's neurons (their ``forward`` branches on state) nor the
tutorial style, whose ``forward`` loops over the time steps with explicit state::

    mem1 = self.lif1.init_leaky()
    for step in range(num_steps):
        spk1, mem1 = self.lif1(self.fc1(x), mem1)      # or self.fc1(x[step])
        ...

So the model is *run* once on the example and the run is recorded: every call of a leaf module
(forward hooks) and every torch function called outside leaf modules (a ``TorchFunctionMode``),
with the tensors that flow between them. A step ends where the first neuron layer is called a
second time; the calls before that, followed from the input through the tensors they pass on,
are the graph. Both styles give the same graph: an ``nn.Sequential`` of ``init_hidden=True``
neurons is called once per step, so its one call is the step.

Supported: ``Linear``, ``Conv2d``, ``MaxPool2d``/``AvgPool2d`` (modules or ``F.`` functions),
``Flatten``/``view``/``reshape``/``flatten``, ``Dropout``/``Identity``; neurons ``Leaky``,
``Synaptic`` and ``RLeaky`` (one-to-one or all-to-all linear recurrence) with reset by
subtraction, to zero (Leaky only) or none, and beta, alpha and threshold learnable or fixed,
scalar or one per neuron. The graph's output is the spikes of the last neuron layer called.
A step input ``x[step]`` of a time-major tensor makes the graph input one step's slice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from firmforge.converter.frontends import torch_lower as low
from firmforge.converter.frontends.torch_context import Ctx, T, Unsupported, layout_of
from firmforge.converter.ir import DType, Graph, IRError, Value
from firmforge.converter.layout import Layout
from firmforge.converter.ops.spiking import Lif, Reset

_RESETS = {"subtract": Reset.SUBTRACT, "zero": Reset.ZERO, "none": Reset.NONE}
_PASS_THROUGH = ("Dropout", "Identity", "Dropout2d")


class SnnTorchImportError(ValueError):
    """The spiking model uses a neuron, option or operation the importer cannot express."""


@dataclass
class SnnImport:
    graph: Graph                  # one time step, float
    input_layout: Layout
    time_major_input: bool        # the example was [T, B, ...] and the model reads x[step]
    steps_recorded: int           # neuron calls of the first neuron layer in the recorded run


@dataclass
class _Call:
    kind: str                     # "module" or "function"
    target: object                # the module, or the torch function
    args: tuple
    kwargs: dict
    result: object


@dataclass
class _Recorder(TorchFunctionMode):
    calls: list[_Call] = field(default_factory=list)
    depth: int = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if self.depth == 0 and _takes_tensor(args, kwargs):
            self.calls.append(_Call("function", func, args, kwargs, result))
        return result


def _takes_tensor(args, kwargs) -> bool:
    return any(isinstance(a, torch.Tensor) for a in _flat((args, kwargs)))


def _flat(obj) -> list:
    if isinstance(obj, (list, tuple)):
        return [y for x in obj for y in _flat(x)]
    if isinstance(obj, dict):
        return [y for x in obj.values() for y in _flat(x)]
    return [obj]


def _is_neuron(m: torch.nn.Module) -> bool:
    import snntorch
    return isinstance(m, snntorch.SpikingNeuron)


def import_snntorch(model: torch.nn.Module, example_input: torch.Tensor | np.ndarray,
                    name: str | None = None) -> SnnImport:
    """Record ``model`` on ``example_input`` (torch layout; [B, ...] given at every step, or
    [T, B, ...] read as ``x[step]``) and return the float graph of one step (module doc)."""
    import snntorch.utils

    x = torch.as_tensor(np.asarray(example_input, np.float32)) \
        if not isinstance(example_input, torch.Tensor) else example_input.detach().float()
    neurons = [m for m in model.modules() if _is_neuron(m)]
    if not neurons:
        raise SnnTorchImportError(f"{type(model).__name__} has no snnTorch neuron layer")
    for m in neurons:
        _check_neuron(m)
    leaves = [m for m in model.modules()
              if _is_neuron(m) or not any(True for _ in m.children())]
    rec = _Recorder()
    handles = []

    def pre(mod, args, kwargs):
        rec.depth += 1

    def post(mod, args, kwargs, out):
        rec.depth -= 1
        if rec.depth == 0:
            rec.calls.append(_Call("module", mod, args, kwargs, out))

    for m in leaves:
        handles.append(m.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(m.register_forward_hook(post, with_kwargs=True))
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        snntorch.utils.reset(model)
        with torch.no_grad(), rec:
            model(x)
    except Exception as e:
        raise SnnTorchImportError(f"{type(model).__name__} cannot run on an example of shape "
                                  f"{list(x.shape)}: {type(e).__name__}: {e}") from e
    finally:
        for h in handles:
            h.remove()
        for m, training in modes:
            m.training = training
        snntorch.utils.reset(model)
    return _build(model, rec.calls, x, name or type(model).__name__.lower())


def _check_neuron(m) -> None:
    """Options whose dynamics the Lif op does not have: each a named error."""
    kind = type(m).__name__
    if kind not in ("Leaky", "Synaptic", "RLeaky"):
        raise SnnTorchImportError(f"snnTorch neuron {kind} is not supported (Leaky, Synaptic "
                                  "and RLeaky are)")
    problems = []
    if getattr(m, "inhibition", False):
        problems.append("inhibition=True")
    if not getattr(m, "reset_delay", True):
        problems.append("reset_delay=False")
    if getattr(m, "state_quant", False):
        problems.append("state_quant")
    if float(torch.as_tensor(m.graded_spikes_factor).float().reshape(-1)[0]) != 1.0:
        problems.append(f"graded_spikes_factor={float(m.graded_spikes_factor)}")
    if m.reset_mechanism == "zero" and kind != "Leaky":
        problems.append(f"reset_mechanism='zero' (on {kind} it zeroes the new membrane, input "
                        "included; use 'subtract' or 'none')")
    if kind == "RLeaky" and isinstance(m.recurrent, torch.nn.Conv2d):
        problems.append("convolutional recurrence")
    if problems:
        raise SnnTorchImportError(f"{kind} neuron: unsupported option(s): {', '.join(problems)}")


def _first_step(calls: list[_Call], neurons: set[int]) -> tuple[list[_Call], int]:
    """The calls of the first step, and how many times the first neuron layer was called."""
    first = next((c.target for c in calls if c.kind == "module" and id(c.target) in neurons),
                 None)
    if first is None:
        raise SnnTorchImportError("the recorded run called no neuron layer")
    seen = [i for i, c in enumerate(calls) if c.kind == "module" and c.target is first]
    end = seen[1] if len(seen) > 1 else len(calls)
    return calls[:end], len(seen)


def _build(model, calls: list[_Call], x: torch.Tensor, name: str) -> SnnImport:
    neuron_ids = {id(m) for m in model.modules() if _is_neuron(m)}
    step, count = _first_step(calls, neuron_ids)
    graph = Graph(name)
    cx = Ctx(graph)
    env: dict[int, T] = {}
    keep: list[object] = []  # the recorded tensors stay alive: their ids stay unique
    time_major = any(c.kind == "function" and c.target is torch.Tensor.__getitem__
                     and c.args[0] is x for c in step)
    shape = tuple(x.shape[1:]) if time_major else tuple(x.shape)
    inp = cx.placeholder("x", (1, *shape[1:]))
    graph.inputs.append(inp.value)
    if not time_major:
        env[id(x)] = inp
    last: T | None = None
    used_neurons: set[int] = set()
    for c in step:
        keep.append(c.result)
        args = [a for a in _flat((c.args, c.kwargs))]
        if not any(isinstance(a, torch.Tensor) and id(a) in env for a in args) and not (
                time_major and c.kind == "function" and c.args and c.args[0] is x):
            continue  # not on the input's path (state initialisation, bookkeeping)
        if c.kind == "function" and c.target is torch.Tensor.__getitem__ and c.args[0] is x:
            env[id(c.result)] = inp
            continue
        try:
            out = _convert(cx, c, env)
        except (Unsupported, IRError) as e:
            raise SnnTorchImportError(f"{_describe(c)}: {e}") from e
        results = c.result if isinstance(c.result, tuple) else (c.result,)
        if c.kind == "module" and id(c.target) in neuron_ids:
            if id(c.target) in used_neurons:
                raise SnnTorchImportError(f"neuron layer {type(c.target).__name__} is called "
                                          "twice in one step")
            used_neurons.add(id(c.target))
            env[id(results[0])] = out  # the spikes; the membrane (and syn) are its state
            last = out
        else:
            env[id(results[0])] = out
    if last is None:
        raise SnnTorchImportError("no neuron layer reads the input")
    graph.outputs.append(last.value)
    graph.validate()
    return SnnImport(graph, layout_of(len(shape)), time_major, count)


def _describe(c: _Call) -> str:
    t = c.target
    return type(t).__name__ if c.kind == "module" else getattr(t, "__name__", str(t))


def _tensor(env: dict[int, T], a) -> T:
    if not isinstance(a, torch.Tensor) or id(a) not in env:
        raise Unsupported("an operand that does not come from the input")
    return env[id(a)]


def _convert(cx: Ctx, c: _Call, env: dict[int, T]) -> T:
    result = c.result[0] if isinstance(c.result, tuple) else c.result
    cx.begin(_describe(c).lower(), tuple(result.shape))
    if c.kind == "module":
        m = c.target
        kind = type(m).__name__
        x = _tensor(env, c.args[0])
        if kind == "Linear":
            return low.linear(cx, x, m.weight, m.bias)
        if kind == "Conv2d":
            if m.padding_mode != "zeros":
                raise Unsupported(f"padding_mode={m.padding_mode!r}")
            return low.conv(cx, x, m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups)
        if kind in ("MaxPool2d", "AvgPool2d"):
            extra = {"count_include_pad": m.count_include_pad} if kind == "AvgPool2d" else {}
            return low.pool(cx, x, kind[:3].lower(), m.kernel_size, m.stride, m.padding,
                            m.ceil_mode, **extra)
        if kind == "Flatten":
            return cx.reshape(x, cx.out_shape)
        if kind in _PASS_THROUGH:
            return x
        if _is_neuron(m):
            return _neuron(cx, m, x)
        raise Unsupported(f"module {kind}")
    f = c.target
    x = _tensor(env, c.args[0])
    if f in (torch.Tensor.view, torch.Tensor.reshape, torch.reshape, torch.flatten,
             torch.Tensor.flatten):
        return cx.reshape(x, cx.out_shape)
    if f in (F.max_pool2d, F.avg_pool2d):
        kind = "max" if f is F.max_pool2d else "avg"
        args = list(c.args[1:])
        kw = dict(c.kwargs)
        kernel = args.pop(0) if args else kw.pop("kernel_size")
        stride = args.pop(0) if args else kw.pop("stride", None)
        padding = args.pop(0) if args else kw.pop("padding", 0)
        return low.pool(cx, x, kind, kernel, stride, padding, kw.get("ceil_mode", False))
    if f in (torch.Tensor.contiguous, torch.Tensor.float, F.dropout):
        return x
    raise Unsupported(f"function {getattr(f, '__name__', f)}")


def _param(m, attr: str, n: int, clamp: bool) -> np.ndarray:
    v = torch.as_tensor(getattr(m, attr)).detach().float()
    if clamp:
        v = v.clamp(0, 1)
    a = v.numpy().reshape(-1)
    if a.size not in (1, n):
        raise Unsupported(f"{attr} has {a.size} entries, not 1 or one per neuron ({n})")
    return a.astype(np.float32)


def _neuron(cx: Ctx, m, x: T) -> T:
    """A Lif op on the current ``x`` (IR layout: the neurons are the last axis)."""
    kind = type(m).__name__
    n = x.value.shape[-1]
    ins = [x.value, cx.const("beta", _param(m, "beta", n, True)),
           cx.const("threshold", _param(m, "threshold", n, False))]
    synaptic, recurrent = kind == "Synaptic", kind == "RLeaky"
    if synaptic:
        ins.append(cx.const("alpha", _param(m, "alpha", n, True)))
    if recurrent:
        w_rec, bias = _recurrent_weights(m, n)
        ins.append(cx.const("w_rec", w_rec))
        if bias is not None:
            _add_to_bias(cx, x, bias)
    name = cx.unique(f"{cx.base}.lif")
    states = [Value(cx.unique(f"{name}.syn"), x.value.shape, DType.f32)] if synaptic else []
    states.append(Value(cx.unique(f"{name}.mem"), x.value.shape, DType.f32))
    out = Value(name, x.value.shape, DType.f32)
    node = Lif(name=name, inputs=ins, outputs=[out], state=states,
               reset=_RESETS[m.reset_mechanism], synaptic=synaptic, recurrent=recurrent)
    node.check()
    cx.graph.nodes.append(node)
    return T(out, cx.out_shape)


def _recurrent_weights(m, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(W_rec (N, N), the recurrent layer's bias or None): all-to-all is RLeaky's Linear,
    one-to-one its V on the diagonal."""
    rec = m.recurrent
    if isinstance(rec, torch.nn.Linear):
        bias = None if rec.bias is None else rec.bias.detach().numpy().astype(np.float32)
        return rec.weight.detach().numpy().astype(np.float32), bias
    v = torch.as_tensor(m.V).detach().float().reshape(-1).numpy()
    return np.diag(np.broadcast_to(v, (n,))).astype(np.float32), None


def _add_to_bias(cx: Ctx, x: T, bias: np.ndarray) -> None:
    """The recurrent Linear's bias is a constant current every step: it joins the bias of the
    feed-forward layer that makes the current (which must feed this neuron layer alone)."""
    p = cx.graph.producer(x.value)
    if p is None or len(p.inputs) < 3 or not p.inputs[2].is_const or \
            len(cx.graph.consumers(x.value)) > 0:
        raise Unsupported("a recurrent bias needs the current to come straight from a Linear")
    b = p.inputs[2]
    p.inputs[2] = Value(cx.unique(f"{b.name}.rec"), b.shape, DType.f32,
                        data=(b.data + bias).astype(np.float32))
