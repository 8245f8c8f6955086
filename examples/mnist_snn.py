"""A spiking CNN on MNIST with rate coding, trained in snnTorch on the very spikes the device
draws, then converted to fixed point and C.

The input is rate-coded by firmforge's encoder (``converter/ops/encode.py``): every step, each
pixel spikes when the next number of a xorshift32 stream (restarted for every image) is below
its intensity, so P(spike) = pixel / 256. Training draws the same stream, so the network
learns on exactly the spike trains the C code will produce. Network (snnTorch, one step per
call): Conv2d(1, 16, 5) -> MaxPool2d(2) -> Leaky -> Conv2d(16, 32, 5) -> MaxPool2d(2) ->
Leaky -> Flatten -> Linear(512, 128) -> Leaky -> Linear(128, 10) -> Leaky, fast-sigmoid
surrogate, rate (spike count) cross-entropy, Adam with a cosine schedule over 15 epochs,
images shifted by up to 2 pixels; the class is the output neuron with the most spikes.

    .venv/bin/python examples/mnist_snn.py      # train (cached), convert, compare float/C
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import snntorch as snn
import snntorch.functional as SF
import snntorch.utils
import torch
from snntorch import surrogate
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from firmforge.converter.ops.encode import RATE_SEED, draw  # noqa: E402

from examples.mnist import load_split, shared_dir  # noqa: E402

STEPS = 25
EPOCHS = 15
BETA = 0.5
SEED = 0
CACHE = Path.home() / ".cache" / "firmforge"


def make_net() -> nn.Sequential:
    grad = surrogate.fast_sigmoid(slope=25)
    return nn.Sequential(nn.Conv2d(1, 16, 5), nn.MaxPool2d(2),
                         snn.Leaky(beta=BETA, spike_grad=grad, init_hidden=True),
                         nn.Conv2d(16, 32, 5), nn.MaxPool2d(2),
                         snn.Leaky(beta=BETA, spike_grad=grad, init_hidden=True),
                         nn.Flatten(), nn.Linear(32 * 4 * 4, 128),
                         snn.Leaky(beta=BETA, spike_grad=grad, init_hidden=True),
                         nn.Linear(128, 10),
                         snn.Leaky(beta=BETA, spike_grad=grad, init_hidden=True))


def rate_spikes(x: np.ndarray, steps: int = STEPS) -> torch.Tensor:
    """[T, B, 1, 28, 28] spikes of images x [B, 1, 28, 28] in [0, 1]: the device encoder's
    (the stream restarts for every image, so all images share it)."""
    n = int(np.prod(x.shape[1:]))
    stream, _ = draw(RATE_SEED, steps * n)
    u = (stream >> 24).astype(np.int64).reshape(steps, 1, *x.shape[1:])
    level = np.clip(np.rint(x.astype(np.float64) * 255), 0, 255).astype(np.int64)[None]
    return torch.from_numpy((u < level).astype(np.float32))


def shifted(x: np.ndarray, rng: np.random.Generator, most: int = 2) -> np.ndarray:
    """Each image moved by up to ``most`` pixels each way (zeros shifted in): 8,000 training
    images are few, and digits are not always centred."""
    out = np.zeros_like(x)
    for k, (dy, dx) in enumerate(rng.integers(-most, most + 1, (len(x), 2))):
        src = x[k, :, max(-dy, 0):28 - max(dy, 0), max(-dx, 0):28 - max(dx, 0)]
        out[k, :, max(dy, 0):max(dy, 0) + src.shape[1], max(dx, 0):max(dx, 0) + src.shape[2]] = src
    return out


def forward_steps(net: nn.Module, spikes: torch.Tensor) -> torch.Tensor:
    snntorch.utils.reset(net)
    return torch.stack([net(spikes[t]) for t in range(spikes.shape[0])])


def snn_accuracy(net: nn.Module, x: np.ndarray, y: np.ndarray, steps: int = STEPS,
                 batch: int = 500) -> float:
    """Float snnTorch accuracy (argmax of the spike counts) with the device's rate code."""
    net.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            counts = forward_steps(net, rate_spikes(x[i:i + batch], steps)).sum(0)
            right += int((counts.argmax(1).numpy() == y[i:i + batch]).sum())
    return right / len(x)


def train_snn(x: np.ndarray, y: np.ndarray, epochs: int = EPOCHS, steps: int = STEPS,
              seed: int = SEED, progress: bool = True) -> nn.Sequential:
    """Train (or load from the cache, keyed by the settings and the data) the network."""
    tag = f"{epochs} {steps} {seed} {BETA} v3 16-32-128 shift cosine"
    key = hashlib.sha256(tag.encode() + x[:64].tobytes()).hexdigest()[:16]
    path = CACHE / f"mnist_snn_{key}.pt"
    net = make_net()
    if path.exists():
        net.load_state_dict(torch.load(path))
        return net
    torch.manual_seed(seed)
    net = make_net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * ((len(x) + 127) // 128))
    loss_fn = SF.ce_rate_loss()
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        net.train()
        t0 = time.time()
        order = rng.permutation(len(x))
        for i in range(0, len(x), 128):
            idx = order[i:i + 128]
            spk = forward_steps(net, rate_spikes(shifted(x[idx], rng), steps))
            loss = loss_fn(spk, torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if progress:
            print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}, "
                  f"{time.time() - t0:.0f} s", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(net.state_dict(), tmp)
    tmp.replace(path)
    return net


def main() -> int:
    from firmforge.converter import SpikingOptions, convert
    from firmforge.converter.ir import DType
    from firmforge.snn.convert import Encoder
    from firmforge.snn.project import Readout

    x_tr, y_tr, x_te, y_te = load_split(shared_dir())
    net = train_snn(x_tr, y_tr)
    acc_float = snn_accuracy(net, x_te, y_te)
    proj = convert(net, calibration=x_tr[:64], steps=STEPS, name="mnist_snn",
                   spiking=SpikingOptions(membrane=DType.s16, encoder=Encoder.RATE,
                                          readout=Readout.COUNT))
    counts = proj.reference(x_te)
    acc_fixed = float((counts.argmax(1) == y_te).mean())
    host = proj.run_host(x_te[:100])
    print(f"float snnTorch {acc_float:.2%}, fixed point {acc_fixed:.2%} "
          f"({len(y_te)} held-back images, T = {STEPS}); host C == reference on 100: "
          f"{np.array_equal(host, counts[:100])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
