#!/usr/bin/env python3
"""cnnc-bench's models and recipe (Adam, Keras's initializers and
batch-normalization defaults) in PyTorch, timed the way cnnc-bench times
cnnc: a fixed number of training steps after a warm-up, per thread count
and batch size, plus evaluation throughput. --model picks one of the
suite's models (models/*.dsl of the same name); MNIST-shaped models train
on real MNIST tensors, cifar_vgg on random pixels of CIFAR-10's shape.

cnnc-bench runs this when `import torch` works and parses the lines that
start with "result". Run it alone with:

    python3 bench/pytorch_mnist.py --data data/mnist --threads 1,2
    python3 bench/pytorch_mnist.py --model cifar_vgg --batch-sizes 64
"""

import argparse
import gzip
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn


def read_idx(path):
    """Reads a raw or gzip-compressed IDX file into a numpy array."""
    for candidate in (path, path + ".gz"):
        if os.path.exists(candidate):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(candidate, "rb") as f:
                data = f.read()
            break
    else:
        sys.exit(f"pytorch_mnist.py: no {path}[.gz]")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data_dir, split):
    x = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte"))
    y = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte"))
    x = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)  # NCHW
    return x, torch.from_numpy(y.astype(np.int64))


def keras_init(model):
    """Keras's initializers: glorot_uniform kernels, zero biases."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def bn(channels):
    # Keras's BatchNormalization: momentum 0.99 (PyTorch counts 1 - that),
    # epsilon 1e-3.
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


def conv_bn_relu(cin, cout, k, padding=0):
    return [nn.Conv2d(cin, cout, k, padding=padding, bias=False), bn(cout),
            nn.ReLU()]


# Each model as its models/NAME.dsl declares it; softmax is folded into the
# loss, as cnnc does.
MODELS = {
    # Conv2D 32 3x3 relu, MaxPool 2, Dropout .25, Conv2D 64 3x3 relu,
    # MaxPool 2, Dropout .25, Flatten, Dense 128 relu, Dense 10.
    "mnist": lambda: nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(),
        nn.Linear(128, 10)),
    "mnist_wide": lambda: nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 1024), nn.ReLU(),
        nn.Dropout(0.4), nn.Linear(1024, 10)),
    "mnist_bn": lambda: nn.Sequential(
        *conv_bn_relu(1, 32, 3), nn.MaxPool2d(2),
        *conv_bn_relu(32, 64, 3), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 5 * 5, 128), nn.ReLU(),
        nn.Linear(128, 10)),
    "cifar_vgg": lambda: nn.Sequential(
        *conv_bn_relu(3, 32, 3, 1), *conv_bn_relu(32, 32, 3, 1),
        nn.MaxPool2d(2),
        *conv_bn_relu(32, 64, 3, 1), *conv_bn_relu(64, 64, 3, 1),
        nn.MaxPool2d(2),
        *conv_bn_relu(64, 128, 3, 1), *conv_bn_relu(128, 128, 3, 1),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10)),
}
make_model = None  # set by main() from --model


def time_training(x, y, batch, steps, warmup, repeats):
    """Median ms per training step over `repeats` runs of `steps` steps."""
    torch.manual_seed(0)
    model = make_model()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(x.shape[0])
    cursor = 0

    def step():
        nonlocal cursor
        if cursor + batch > x.shape[0]:
            cursor = 0
        idx = order[cursor:cursor + batch]
        cursor += batch
        xb, yb = x[idx], y[idx]  # the copy a data loader makes
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - start) * 1e3 / steps)
    return statistics.median(times)


def time_eval(model, x, batch, repeats):
    """Median images/s of inference over all of x."""
    model.eval()
    rates = []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            for b in range(0, x.shape[0], batch):
                model(x[b:b + batch]).softmax(1)
            rates.append(x.shape[0] / (time.perf_counter() - start))
    return statistics.median(rates)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="data/mnist")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--batch-sizes", default="32")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--eval-batch", type=int, default=250)
    p.add_argument("--model", default="mnist", choices=sorted(MODELS))
    args = p.parse_args()

    global make_model
    make_model = lambda: keras_init(MODELS[args.model]())
    torch.set_num_interop_threads(1)
    if args.model == "cifar_vgg":
        # Random pixels and labels: the step's speed does not depend on them.
        g = torch.Generator().manual_seed(1)
        x = torch.rand(6400, 3, 32, 32, generator=g)
        y = torch.randint(0, 10, (6400,), generator=g)
        xt = torch.rand(2000, 3, 32, 32, generator=g)
    else:
        x, y = load(args.data, "train")
        xt, _ = load(args.data, "t10k")
    print(f"result version {torch.__version__}", flush=True)
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            ms = time_training(x, y, batch, args.steps, args.warmup,
                               args.repeats)
            print(f"result train threads={threads} batch={batch} "
                  f"ms_per_step={ms:.4f}", flush=True)
        rate = time_eval(make_model(), xt, args.eval_batch, args.repeats)
        print(f"result eval threads={threads} images_per_s={rate:.1f}",
              flush=True)


if __name__ == "__main__":
    main()
