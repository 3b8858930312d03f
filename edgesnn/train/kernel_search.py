"""Kernel-size search for convolutional SNNs under a board's memory budget (SpiKernel-style).

Two search spaces, one search:

  digits (the default)  1x8x8 -> Conv c1@k1xk1 (same padding) -> LIF -> SumPool 2x2 -> Conv c2@k2xk2 -> LIF
                        -> Flatten -> Affine(c2*4*4, 10) -> LIF(10), every kernel size in `kernel_sizes` per
                        layer and the channel pairs in `channels`, trained on scikit-learn's digits rate-coded
                        afresh every epoch; the 3x3 candidates are the baseline.
  a template model      any chain `edgesnn.train.from_graph` reads with at least one Conv2d (`template=`, the
                        CLI's --model), trained on the given data sets ([N, T, ...] spike files or event files).
                        Every convolution takes every size in `kernel_sizes` (square; channels, stride, dilation
                        and groups kept). A 'same' convolution (padding k//2) stays 'same'; any other keeps its
                        padding, so its output grows or shrinks and the layers after it are resized. The
                        template's own kernel sizes are the baseline.

Every candidate is trained from fresh weights (seeded); a template's neuron layers keep its per-channel or
per-layer parameters as their starting point (per-neuron ones that vary over space cannot follow a new shape:
the candidate is refused by name).

Memory is the model's bytes as the runtime reads them (`model_memory`: the blob's tables and parameter arrays,
`edgesnn.emit.to_blob`, without its metadata) plus the arena it allocates (`edgesnn.lower.arena_size`), at the
search's QuantConfig. Before training it is estimated with the neuron parameters spread as training spreads them
(their storage depends on it, `_graph_of`); candidates over the budget are dropped there. A fully trained
candidate's memory is then measured on its trained, quantized model (the first seed's) and judged again. The rest are ranked by a cheap proxy (a few epochs on a stratified fraction of the training set,
float validation accuracy); the proxy's accuracy-memory Pareto front plus every baseline candidate that fits
are trained in full (`seeds` times), quantized with `quantize` (validation spikes as calibration) and
evaluated in `simulate_fixed`. The final front is taken on fixed-point validation accuracy; test accuracies
are reported, never used to choose.
"""

from __future__ import annotations

import copy
import itertools
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from tabulate import tabulate

from ..artifact import save_json, stamp
from ..data import load_dataset, load_digits_split, rate_code
from ..emit.blob import SEC_META, read_header, to_blob
from ..errors import EdgesnnError
from ..executor import LocalExecutor, get_executor
from ..graph import ir
from ..graph.simulate import simulate
from ..lower import arena_size
from ..quantize import QuantConfig, quantize
from ..quantize.reference import simulate_fixed
from . import require_torch

CALIBRATION_INPUTS = 256   # validation inputs the quantization calibrates on (all of the digits' 216)


# ----------------------------------------------------------------------------------------------
# Memory: the planner's figures (no torch needed)
# ----------------------------------------------------------------------------------------------

def model_memory(qgraph) -> tuple[int, int]:
    """(model bytes, arena bytes) of a QGraph: its blob up to the META section (header, node and edge tables,
    parameter arrays: what the runtime reads; the META JSON of names and scales for tools is left out, as
    the compiled-in firmware leaves it out, and its length varies with calibration) and the arena the runtime
    allocates (time-step-major, counters on as the firmware runs)."""
    head = read_header(to_blob(qgraph))
    return head["sections"].get(SEC_META, (head["total"],))[0], arena_size(qgraph)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points (memory, accuracy) no other point beats: less or equal memory and
    higher accuracy, or less memory and equal accuracy. Sorted by memory."""
    idx = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in idx:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


# ----------------------------------------------------------------------------------------------
# Search spaces: candidates and how to build them
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    kernels: tuple[int, ...]    # one square kernel size per convolution, in order
    channels: tuple[int, ...]   # each convolution's output channels

    @property
    def name(self) -> str:
        return f"k{'x'.join(map(str, self.kernels))}_c{'x'.join(map(str, self.channels))}"


class DigitsSpace:
    """The built-in two-convolution digits network (module docstring), channels searched too."""

    input_shape = (1, 8, 8)

    def __init__(self, kernel_sizes, channels):
        self.name, self.baseline = "digits_cnn", (3, 3)
        self.candidates = [Candidate((k1, k2), tuple(c)) for c in channels for k1 in kernel_sizes
                           for k2 in kernel_sizes]

    def build(self, cand: Candidate, seed: int = 0):
        import torch

        from .layers import LIF, SNN, Affine, Conv2d, Flatten, SumPool2d  # torch: the extra `train`
        (k1, k2), (c1, c2) = cand.kernels, cand.channels
        torch.manual_seed(seed)
        return SNN((1, 8, 8),
                   Conv2d(1, c1, k1, padding=k1 // 2), LIF((c1, 8, 8), param_shape=(c1, 1, 1)),
                   SumPool2d(2),
                   Conv2d(c1, c2, k2, padding=k2 // 2), LIF((c2, 4, 4), param_shape=(c2, 1, 1)),
                   Flatten(),
                   Affine(c2 * 16, 10), LIF((10,)))


def check_template(graph) -> None:
    """Refuse a model with nothing to search (before its data sets are read)."""
    if not any(type(n) is ir.Conv2d for n in graph.nodes.values()):
        name = graph.meta.get("name") or "model"
        raise EdgesnnError(f"model {name!r} has no Conv2d: the kernel search varies convolution kernels")


class TemplateSpace:
    """A user's convolutional model (module docstring): every convolution at every kernel size."""

    def __init__(self, graph, kernel_sizes):
        from .export import from_graph
        from .layers import Conv2d
        self.name = str(graph.meta.get("name") or "model")
        self.template = from_graph(graph)
        self.input_shape = tuple(self.template.input_shape)
        check_template(graph)
        convs = [layer.conv for layer in self.template.layers if isinstance(layer, Conv2d)]
        for i, c in enumerate(convs):
            if c.kernel_size[0] != c.kernel_size[1]:
                raise EdgesnnError(f"convolution {i + 1} of {self.name!r} has a {c.kernel_size[0]}x"
                                   f"{c.kernel_size[1]} kernel; the search varies square kernels")
        self.baseline = tuple(c.kernel_size[0] for c in convs)
        channels = tuple(c.out_channels for c in convs)
        self.candidates = [Candidate(ks, channels) for ks in itertools.product(kernel_sizes, repeat=len(convs))]

    def build(self, cand: Candidate, seed: int = 0):
        """The template with cand's kernels: fresh weights from torch's RNG seeded with `seed`, resized layers."""
        import torch

        from .layers import SNN, Affine, Conv2d
        torch.manual_seed(seed)
        shape, kernels, layers = self.input_shape, iter(cand.kernels), []
        for i, old in enumerate(self.template.layers):
            if isinstance(old, Conv2d):
                c, k = old.conv, next(kernels)
                same = c.padding[0] == c.padding[1] == c.dilation[0] * (c.kernel_size[0] - 1) // 2
                layer = Conv2d(c.in_channels, c.out_channels, k, stride=c.stride, dilation=c.dilation,
                               groups=c.groups, bias=c.bias is not None,
                               padding=c.dilation[0] * (k - 1) // 2 if same else c.padding)
            elif isinstance(old, Affine):
                layer = Affine(int(np.prod(shape)), old.out_features, bias=old.bias is not None)
            else:
                layer = copy.deepcopy(old)   # neurons keep their parameters; pools and flatten have none
                if hasattr(layer, "shape") and tuple(layer.shape) != tuple(shape):
                    _resize_neuron(layer, shape, f"layer {i + 1} ({type(old).__name__}) of {self.name!r}",
                                   cand.name)
            try:
                shape = layer.out_shape(shape)
            except ValueError as e:
                raise EdgesnnError(f"candidate {cand.name}: layer {i + 1} of {self.name!r}: {e}") from None
            if min(shape) < 1:
                raise EdgesnnError(f"candidate {cand.name}: layer {i + 1} of {self.name!r} would have shape "
                                   f"{tuple(shape)}: the kernels are too large for its input")
            layers.append(layer)
        return SNN(self.input_shape, *layers)


def _resize_neuron(layer, shape, where: str, cand: str) -> None:
    """Give a neuron layer a new shape; its parameters must be per channel or per layer (they broadcast)."""
    shape = tuple(int(s) for s in shape)
    ps = tuple(getattr(layer, "param_shape", layer.shape))
    if len(ps) == 0 or (len(ps) == len(shape) and all(p == 1 for p in ps[1:]) and ps[0] in (1, shape[0])):
        layer.shape = shape
        return
    raise EdgesnnError(f"candidate {cand}: {where} has per-neuron parameters of shape {ps}, which cannot "
                       f"follow its new shape {shape} (use kernel sizes that keep it, or per-channel parameters)")


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------

STEPS = 16   # the digits space's rate-coded steps
DIGITS_CHANNELS = ((4, 8), (6, 12), (8, 16), (10, 20), (12, 24))   # the digits space's channel pairs


@dataclass
class SearchData:
    """Training inputs (images rate-coded afresh each epoch, or fixed spikes [N, T, ...]), the validation
    codings (the first also calibrates the quantization) and the test set (optional)."""
    x_train: np.ndarray
    y_train: np.ndarray
    vals: list[np.ndarray]
    y_val: np.ndarray
    test: np.ndarray | None
    y_test: np.ndarray | None
    source: str
    rate_coded: bool = False

    def train_inputs(self, idx=None):
        x = self.x_train if idx is None else self.x_train[idx]
        return partial(_spikes, x) if self.rate_coded else x


def _spikes(images, epoch):
    return rate_code(images[:, None], STEPS, 10_000 + epoch)


def digits_data(val_codings: int = 1, seed: int = 0, val_fraction: float = 0.15) -> SearchData:
    """The example models' split of the sklearn digits (examples/train_examples.py): train images, validation
    spikes in `val_codings` rate codings (the first is the examples' validation file) and test spikes, all
    [N, 16, 1, 8, 8] with the examples' seeds."""
    from sklearn.model_selection import train_test_split
    x_tr, y_tr, x_te, y_te = load_digits_split(seed=seed, test_fraction=0.2)
    x_tr, x_va, y_tr, y_va = train_test_split(x_tr, y_tr, test_size=val_fraction, random_state=seed, stratify=y_tr)
    vals = [rate_code(x_va[:, None], STEPS, 4321 + i) for i in range(val_codings)]
    return SearchData(x_tr, y_tr, vals, y_va, rate_code(x_te[:, None], STEPS, 1234), y_te,
                      "sklearn digits 8x8, rate-coded", rate_coded=True)


def file_data(input_shape, train, val, test=None) -> SearchData:
    """Data sets from files (`edgesnn.data.load_dataset`: [N, T, ...] spikes or event recordings), checked
    against the model's input shape."""
    sets = {}
    for what, path in (("train", train), ("val", val), ("test", test)):
        if path is None:
            continue
        x, y = load_dataset(path)
        if tuple(x.shape[2:]) != tuple(input_shape):
            raise EdgesnnError(f"{path}: inputs of shape {tuple(x.shape[2:])} per step; the model takes "
                               f"{tuple(input_shape)}")
        sets[what] = (x, y)
    test_x, test_y = sets.get("test", (None, None))
    return SearchData(*sets["train"], [sets["val"][0]], sets["val"][1], test_x, test_y,
                      ", ".join(Path(p).name for p in (train, val, test) if p is not None))


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------

@dataclass
class CandidateResult:
    name: str
    kernels: tuple[int, ...]
    channels: tuple[int, ...]
    model_bytes: int                       # estimated before training; measured on the trained model once full
    arena_bytes: int
    total_bytes: int
    fits: bool
    estimated_bytes: int = 0               # model + arena before training (the proxy's filter)
    baseline: bool = False
    proxy_val_acc: float | None = None
    proxy_seconds: float | None = None
    full: bool = False
    val_acc_fixed: float | None = None     # mean over training seeds (and validation codings)
    test_acc_float: float | None = None    # mean over training seeds
    test_acc_fixed: float | None = None    # mean over training seeds
    val_acc_fixed_seeds: list[float] = field(default_factory=list)
    test_acc_fixed_seeds: list[float] = field(default_factory=list)
    train_seconds: float | None = None
    synops_per_sample: float | None = None
    on_front: bool = False
    model_file: str | None = None
    note: str | None = None                # why a candidate was not built

    def size(self, model_bytes: int, arena_bytes: int, budget_bytes: int) -> None:
        """Set its memory (estimated, or measured on the trained model) and whether that fits the budget."""
        self.model_bytes, self.arena_bytes = model_bytes, arena_bytes
        self.total_bytes = model_bytes + arena_bytes
        self.fits = self.total_bytes <= budget_bytes


@dataclass
class SearchResult:
    budget_bytes: int
    board: str | None
    weight_bits: int
    state_bits: int
    candidates: list[CandidateResult]
    settings: dict
    seconds: float = 0.0

    @property
    def front(self) -> list[CandidateResult]:
        return sorted((c for c in self.candidates if c.on_front), key=lambda c: c.total_bytes)

    def best(self, baseline: bool | None = None) -> CandidateResult | None:
        """The fully trained candidate that fits with the best fixed-point validation accuracy (ties: less
        memory); baseline=True only the baseline kernels, False only the others, None all."""
        pool = [c for c in self.candidates if c.full and c.fits and (baseline is None or c.baseline == baseline)]
        return max(pool, key=lambda c: (c.val_acc_fixed, -c.total_bytes), default=None)

    def table(self, which: str = "front") -> str:
        rows = self.front if which == "front" else [c for c in self.candidates if which == "all" or c.full]
        pct = lambda a: "-" if a is None else f"{100 * a:.2f}"  # noqa: E731
        return tabulate([[c.name + (" (baseline)" if c.baseline else ""), ",".join(map(str, c.kernels)),
                          ",".join(map(str, c.channels)), c.model_bytes, c.arena_bytes, c.total_bytes,
                          "yes" if c.fits else "no", pct(c.proxy_val_acc), pct(c.val_acc_fixed),
                          pct(c.test_acc_float), pct(c.test_acc_fixed),
                          "-" if c.synops_per_sample is None else f"{c.synops_per_sample:,.0f}"] for c in rows],
                        ["model", "kernels", "channels", "model B", "arena B", "total B", "fits", "proxy val %",
                         "val % (fixed)", "test % (float)", "test % (fixed)", "synops/sample"],
                        tablefmt="simple_outline", intfmt=",")

    def report(self) -> str:
        """What `edgesnn search-kernels` prints: every fully trained model, the front, the verdict."""
        lines = [f"fully trained (budget {self.budget_bytes:,} B" + (f", board {self.board}" if self.board else "")
                 + f"; weights at {self.weight_bits} bits, state at {self.state_bits} bits):", self.table("full"),
                 "accuracy-memory Pareto front (fixed-point validation accuracy):", self.table("front")]
        best, base = self.best(), self.best(True)
        label = "k" + "x".join(map(str, self.settings["baseline"]))
        if best is not None and base is not None:
            if best.name == base.name:
                verdict = f"a baseline ({label}) model is the best that fits"
            else:
                how = ("beats" if best.val_acc_fixed > base.val_acc_fixed else
                       f"ties (with {base.total_bytes - best.total_bytes:,} B less)")
                test = ("" if best.test_acc_fixed is None else
                        f", test {100 * best.test_acc_fixed:.2f} % vs {100 * base.test_acc_fixed:.2f} %")
                verdict = (f"{best.name} {how} the best baseline ({label}) that fits, {base.name} "
                           f"({base.total_bytes:,} B): validation {100 * best.val_acc_fixed:.2f} % vs "
                           f"{100 * base.val_acc_fixed:.2f} %{test}")
            lines.append(f"best that fits: {best.name} ({best.total_bytes:,} B); {verdict}")
        elif best is not None:
            lines.append(f"best that fits: {best.name} ({best.total_bytes:,} B); no baseline ({label}) model fits")
        n_val, seeds = self.settings.get("val_samples"), self.settings.get("seeds", 1)
        lines.append(f"(one validation input is {100 / n_val:.2f} pt of one run; accuracies are means over "
                     f"{seeds} training seed(s) x {self.settings.get('val_codings', 1)} validation coding(s))")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return stamp("kernel_search", {
            "budget_bytes": self.budget_bytes, "board": self.board, "weight_bits": self.weight_bits,
            "state_bits": self.state_bits, "settings": self.settings, "seconds": round(self.seconds, 1),
            "candidates": [asdict(c) for c in self.candidates],
            "front": [c.name for c in self.front],
            "best": getattr(self.best(), "name", None), "best_baseline": getattr(self.best(True), "name", None)})


# ----------------------------------------------------------------------------------------------
# The search
# ----------------------------------------------------------------------------------------------

def markdown(res: dict) -> str:
    """The markdown table of a search.json (examples/README.md carries them): every fully trained candidate by
    memory, the front, the best and the best baseline marked; test as mean +- standard deviation over seeds."""
    def pct(values):
        return "-" if not values else f"{100 * np.mean(values):.2f}" + (
            f" +- {100 * np.std(values, ddof=1):.2f}" if len(values) > 1 else "")
    lines = ["| model | kernels | channels | model B | arena B | total B | val % (fixed) | test % (fixed) | synops / input |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in sorted((c for c in res["candidates"] if c["full"]), key=lambda c: (c["total_bytes"], c["name"])):
        tags = [t for t, on in (("front", c["on_front"]), ("best", c["name"] == res["best"]),
                                ("baseline", c["baseline"] and c["name"] != res["best_baseline"]),
                                ("best baseline", c["name"] == res["best_baseline"] != res["best"])) if on]
        synops = "-" if c["synops_per_sample"] is None else f"{c['synops_per_sample']:,.0f}"
        lines.append(f"| {c['name']}{' (' + ', '.join(tags) + ')' if tags else ''} | {', '.join(map(str, c['kernels']))} "
                     f"| {', '.join(map(str, c['channels']))} | {c['model_bytes']:,} | {c['arena_bytes']:,} "
                     f"| {c['total_bytes']:,} | {pct(c['val_acc_fixed_seeds'])} | {pct(c['test_acc_fixed_seeds'])} "
                     f"| {synops} |")
    return "\n".join(lines)


def _setup(shared: dict) -> dict:
    return shared


def _config(S: dict, epochs: int, seed: int):
    from .trainer import TrainConfig
    return TrainConfig(epochs=epochs, lr=S["lr"], batch_size=S["batch_size"], seed=seed, progress=False)


def _proxy_task(S: dict, i: int) -> tuple[float, float]:
    """Candidate i trained a few epochs on the subset: (float validation accuracy, seconds)."""
    from .trainer import evaluate, fit  # torch: the extra `train`, present in a search
    t0 = time.perf_counter()
    data = S["data"]
    model = S["space"].build(S["cands"][i], S["seed"])
    fit(model, data.train_inputs(S["sub"]), data.y_train[S["sub"]], _config(S, S["proxy_epochs"], S["seed"]))
    return evaluate(model, data.vals[0], data.y_val), round(time.perf_counter() - t0, 2)


def _full_task(S: dict, job: tuple[int, int]) -> dict:
    """Candidate i trained in full with seed s, quantized and evaluated in fixed point."""
    from .export import to_graph
    from .trainer import fit
    i, s = job
    c, data, space = S["cands"][i], S["data"], S["space"]
    t0 = time.perf_counter()
    model = space.build(c, s)
    fit(model, data.train_inputs(), data.y_train, _config(S, S["epochs"], s))
    graph = to_graph(model, space.input_shape, meta={"name": f"{space.name}_{c.name}", "seed": s,
                                                     "steps": int(data.vals[0].shape[1]), "dataset": data.source})
    q = quantize(graph, S["qcfg"], data.vals[0][:CALIBRATION_INPUTS])
    out = {"val_fixed": float(np.mean([np.mean(simulate_fixed(q, v).pred == data.y_val) for v in data.vals])),
           "memory": model_memory(q) if s == S["seed"] else None,   # the first seed's model is the one kept
           "graph": graph if s == S["seed"] else None, "test_fixed": None, "test_float": None, "synops": None}
    if data.test is not None:
        fx = simulate_fixed(q, data.test)
        out.update(test_fixed=float(np.mean(fx.pred == data.y_test)),
                   synops=float(sum(cs["synops"].sum() for cs in fx.counts.values()) / len(data.y_test)),
                   test_float=float(np.mean(simulate(graph, data.test).pred == data.y_test)))
    out["seconds"] = time.perf_counter() - t0
    return out


def _mean(values):
    return None if any(v is None for v in values) else float(np.mean(values))


def search_kernels(budget_bytes: int, *, board: str | None = None, kernel_sizes=(1, 3, 5),
                   channels=DIGITS_CHANNELS, template=None, data: SearchData | None = None,
                   weight_bits: int = 8, state_bits: int = 16, epochs: int = 30, proxy_epochs: int = 4,
                   proxy_fraction: float = 0.5, lr: float = 5e-3, batch_size: int = 64, seed: int = 0, seeds: int = 1,
                   val_codings: int = 1, out_dir=None, progress: bool = True, log=print,
                   executor=None) -> SearchResult:
    """Search kernel sizes under `budget_bytes` of model + arena (module docstring).

    template: None searches the digits space (kernel sizes x `channels`) on the sklearn digits, with
    `val_codings` rate codings of the validation images averaged (the 216 validation digits alone cannot tell
    most of these models apart); a Graph searches that model's kernel sizes on `data` (`file_data`).
    Full training is repeated with `seeds` initialisations (seed, seed+1, ...). Writes, when `out_dir` is
    given, the front models and the best baseline (first seed) as `<name>.json` (edgesnn graph) and the whole
    result as `search.json`.
    executor: where the trainings run (edgesnn/executor.py): None/"local" one after another in this process (torch
    trains on one thread per run, deterministically), "ray" / "ray:HOST:PORT" each proxy and each full training
    (per seed) a Ray task, the data shipped once; the results are the same, logged as the runs finish.
    """
    require_torch()
    if budget_bytes <= 0:
        raise EdgesnnError(f"the memory budget must be positive, got {budget_bytes} bytes")
    if seeds < 1 or val_codings < 1 or epochs < 1 or proxy_epochs < 1:
        raise EdgesnnError(f"seeds ({seeds}), val_codings ({val_codings}), epochs ({epochs}) and proxy epochs "
                           f"({proxy_epochs}) must be at least 1")
    if not 0 < proxy_fraction <= 1:
        raise EdgesnnError(f"proxy_fraction must lie in (0, 1], got {proxy_fraction}")
    bad = [k for k in kernel_sizes if k < 1 or k % 2 == 0]
    if bad:
        raise EdgesnnError(f"kernel sizes must be odd and positive (a centred window), got {bad}")
    if (template is None) != (data is None):
        raise EdgesnnError("a template model needs its data sets (train and validation), and data a template")
    if template is not None and val_codings != 1:
        raise EdgesnnError("val_codings applies to the digits space: a data file holds one coding")
    qcfg = QuantConfig(weight_bits=weight_bits, state_bits=state_bits)
    t_start = time.perf_counter()
    space = DigitsSpace(kernel_sizes, channels) if template is None else TemplateSpace(template, kernel_sizes)
    data = digits_data(val_codings) if data is None else data

    cands = space.candidates
    results: list[CandidateResult] = []
    for c in cands:
        try:
            blob, arena = model_memory(quantize(_graph_of(space, c), qcfg))  # sizes do not depend on calibration
        except EdgesnnError as e:   # a kernel too large for its input, a shape its parameters cannot follow
            log(f"  {c.name}: not built: {e}")
            results.append(CandidateResult(c.name, c.kernels, c.channels, 0, 0, 0, False, note=str(e)))
            continue
        r = CandidateResult(c.name, c.kernels, c.channels, 0, 0, 0, False, baseline=c.kernels == space.baseline)
        r.size(blob, arena, budget_bytes)
        r.estimated_bytes = r.total_bytes
        results.append(r)
    fit_idx = [i for i, r in enumerate(results) if r.fits]
    log(f"{len(cands)} candidates, {len(fit_idx)} fit {budget_bytes:,} bytes (model at {weight_bits}-bit weights "
        f"+ arena at {state_bits}-bit state)")
    if not fit_idx:
        smallest = min((r.total_bytes for r in results if r.note is None), default=0)
        raise EdgesnnError(f"no candidate fits {budget_bytes:,} bytes; the smallest needs {smallest:,} (smaller "
                           "kernels or fewer channels, or a larger budget)")

    # 1. proxy: a few epochs on a stratified subset, float validation accuracy
    y_tr = data.y_train
    rng = np.random.default_rng(seed)
    sub = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y_tr == k))[:max(1, int(proxy_fraction *
                                  np.sum(y_tr == k)))] for k in np.unique(y_tr)]))
    shared = {"space": space, "cands": cands, "data": data, "sub": sub, "qcfg": qcfg, "epochs": epochs,
              "proxy_epochs": proxy_epochs, "lr": lr, "batch_size": batch_size, "seed": seed}
    ex = get_executor(executor, 1)
    if isinstance(ex, LocalExecutor):   # locally one run after another (forking a process that runs torch can hang)
        ex = LocalExecutor(1)
    graphs = {}
    try:
        with ex.session(_setup, shared) as run:
            for j, (acc, secs) in run(_proxy_task, fit_idx, ordered=False, most=1):  # logged as they finish
                r = results[fit_idx[j]]
                r.proxy_val_acc, r.proxy_seconds = acc, secs
                if progress:
                    log(f"  proxy {r.name:14s} {r.total_bytes:9,} B  val {100 * r.proxy_val_acc:6.2f} %  "
                        f"({r.proxy_seconds:.1f} s)")

            # 2. full training: the proxy's front, plus every baseline candidate that fits
            front = [fit_idx[j] for j in pareto_front([(results[i].total_bytes, results[i].proxy_val_acc)
                                                        for i in fit_idx])]
            chosen = sorted(set(front) | {i for i in fit_idx if results[i].baseline})
            log(f"full training of {len(chosen)}: proxy front {[results[i].name for i in front]} + the baseline")
            jobs = [(i, s) for i in chosen for s in range(seed, seed + seeds)]
            runs: dict = {}
            for j, one in run(_full_task, jobs, ordered=False, most=1):
                i = jobs[j][0]
                runs.setdefault(i, {})[jobs[j][1]] = one
                if len(runs[i]) < seeds:
                    continue
                r = results[i]
                per_seed = [runs[i][s] for s in range(seed, seed + seeds)]   # in seed order, as they ran before
                r.val_acc_fixed_seeds = [o["val_fixed"] for o in per_seed]
                r.test_acc_fixed_seeds = [o["test_fixed"] for o in per_seed if o["test_fixed"] is not None]
                graphs[r.name] = per_seed[0]["graph"]
                r.train_seconds = round(sum(o["seconds"] for o in per_seed) / seeds, 1)
                r.full = True
                r.size(*per_seed[0]["memory"], budget_bytes)   # measured on the trained model
                r.val_acc_fixed = float(np.mean(r.val_acc_fixed_seeds))
                r.test_acc_fixed = _mean([o["test_fixed"] for o in per_seed])
                r.test_acc_float = _mean([o["test_float"] for o in per_seed])
                r.synops_per_sample = _mean([o["synops"] for o in per_seed])
                test = "" if r.test_acc_fixed is None else f"  test(fixed) {100 * r.test_acc_fixed:6.2f} %"
                log(f"  full  {r.name:14s} {r.total_bytes:9,} B  val(fixed) {100 * r.val_acc_fixed:6.2f} %{test}  "
                    f"({r.train_seconds:.1f} s per seed)")
    finally:
        if ex is not executor:
            ex.close()

    # 3. the final front on fixed-point validation accuracy
    for j in pareto_front([(results[i].total_bytes, results[i].val_acc_fixed) for i in chosen]):
        results[chosen[j]].on_front = True
    res = SearchResult(budget_bytes, board, weight_bits, state_bits, results,
                       {"space": space.name, "data": data.source, "baseline": list(space.baseline),
                        "kernel_sizes": list(kernel_sizes),
                        "channels": [list(c) for c in channels] if template is None else None,
                        "epochs": epochs, "proxy_epochs": proxy_epochs, "proxy_fraction": proxy_fraction,
                        "lr": lr, "batch_size": batch_size, "seed": seed, "seeds": seeds, "val_codings": val_codings,
                        "val_samples": int(len(data.y_val)), "steps": int(data.vals[0].shape[1])},
                       time.perf_counter() - t_start)
    if out_dir is not None:
        out = Path(out_dir)
        keep = {c.name for c in res.front} | {getattr(res.best(True), "name", None)}
        for r in results:
            if r.name in keep and r.name in graphs:
                graphs[r.name].save(out / f"{r.name}.json")
                r.model_file = f"{r.name}.json"
        save_json(out / "search.json", res.to_dict())
    return res


def _graph_of(space, cand: Candidate):
    """The candidate's graph for its memory estimate, each trainable neuron parameter spread by +-1 % over its
    channels or elements: training makes them differ, which is what their storage (once per layer, per channel or
    per element; edgesnn.quantize.qgraph.param_storage) follows."""
    import torch

    from .export import to_graph  # torch: the extra `train`
    from .layers import NEURONS
    model = space.build(cand)
    with torch.no_grad():
        for layer in model.layers:
            if isinstance(layer, NEURONS):
                for p in layer.parameters():
                    if p.requires_grad and p.numel() > 1 and p.dim() > 0:
                        p.mul_(1 + 0.01 * torch.linspace(-1, 1, p.numel()).reshape(p.shape))
    return to_graph(model, space.input_shape)
