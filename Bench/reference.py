#!/usr/bin/env python3
"""PyTorch reference for `./bench.sh reference`: the same model and loop as MtnnCluster, timed per epoch.

Model: trunk of Linear -> ReLU -> dropout per hidden layer (default 2000,100, dropout 0.25); all task heads as one
[hidden x tasks] matrix plus a bias; masked binary cross-entropy on logits, summed over labelled entries and divided
by their count; AdamW (lr 1e-3, weight decay 1e-4, decoupled, applied to every parameter); batches of 128 rows of a
seeded shuffle. Schedules: joint (trunk and heads every step), and alternate (ATE-SG): a head-only epoch on trunk
outputs computed once (no dropout, no trunk backward), then a trunk-only epoch with the heads frozen.

Precision (--precision, as `mtnn train --precision`): fp32; tf32 (torch.backends.cuda.matmul.allow_tf32 and
cudnn.allow_tf32 on, CUDA only); bf16 (the trunk under torch.autocast(dtype=torch.bfloat16): float32 parameters,
each Linear in bfloat16, the trunk's output cast back to float32 so that heads and loss run in float32).

Graph mode (--trunk graph, as `mtnn train --trunk graph`): chemprop's D-MPNN written as MtnnCluster's GraphTrunk
computes it: W_i on atoms and bonds apart, gathered onto the directed bonds; depth - 1 updates
h = ReLU(h0 + W_h (sum of the states reaching the bond's source - the reverse bond's state)); atom states
ReLU(W_o [x ; incoming] + b); mean readout; the layers after it (default 300); no dropout. Its input is
`mtnn featurize --graph` (the project's own atom and bond feature columns), stored flat on the device, each batch
assembled from index arrays, so only the training loop differs.

Data: --data CSV[.gz] featurised by `mtnn featurize` (ECFP4, 2048 bits, the same features the C# trainer uses), or
--synthetic ROWS,TASKS,DENSITY (random sparse binary features and low-rank labels, the same model family as the
C# generator, not the same rows). Output: the same fields as `bench.sh epoch`; with --json the last line is JSON.

Needs python3 with torch (and numpy); uses CUDA when available unless --device is given.
"""
import argparse
import csv
import gzip
import json
import math
import os
import subprocess
import sys
import tempfile
import time


def fail(message, code=2):
    print(f"bench.sh reference: {message}", file=sys.stderr)
    sys.exit(code)


try:
    import numpy as np
    import torch
except ImportError as e:  # the reference cannot run without them: say so and fail, never pretend
    fail(f"{e.name or e} is not installed; the PyTorch reference needs python3 with torch and numpy "
         f"(for example: pip install torch numpy)")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="CSV or .csv.gz with a smiles column and task columns (default examples/toxcast.csv.gz)")
    p.add_argument("--synthetic", help="ROWS,TASKS,DENSITY[,SEED] instead of --data")
    p.add_argument("--layers", default="2000,100")
    p.add_argument("--bits", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.25)
    p.add_argument("--repeat", type=int, default=2, help="epochs of each kind to average (the first of a run is a warm-up)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"],
                   help="fp32; tf32 (CUDA matmuls on TF32 tensor cores); bf16 (the trunk under bfloat16 autocast)")
    p.add_argument("--mtnn", help="path of the ./mtnn script, used to featurise --data")
    p.add_argument("--fingerprints", help="the output of `mtnn featurize` for --data, made beforehand (where ./mtnn cannot run, as in a separate PyTorch root)")
    p.add_argument("--first-layer", default="dense", choices=["dense", "sparse"],
                   help="sparse: the first layer as an embedding bag over each row's set features, as MtnnCluster computes it on the CPU")
    p.add_argument("--trunk", default="fingerprint", choices=["fingerprint", "graph"])
    p.add_argument("--graphs", help="--trunk graph: the output of `mtnn featurize --graph` for --data, made beforehand")
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--hidden-size", type=int, default=300)
    p.add_argument("--json", action="store_true")
    return p.parse_args()


def featurized(args, root):
    """Dense float32 features and NaN-masked labels of a CSV, featurised by `mtnn featurize`."""
    data = os.path.abspath(args.data or os.path.join(root, "examples", "toxcast.csv.gz"))
    if not os.path.exists(data):
        fail(f"--data: {data} does not exist")
    if args.fingerprints:
        with open(args.fingerprints, newline="") as f:
            fingerprints = list(csv.DictReader(f))
    else:
        mtnn = args.mtnn or os.path.join(root, "mtnn")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "fp.csv")
            subprocess.run([mtnn, "featurize", "--data", data, "--bits", str(args.bits), "--out", out], check=True,
                           stdout=subprocess.DEVNULL)
            with open(out, newline="") as f:
                fingerprints = list(csv.DictReader(f))
    opener = gzip.open if data.endswith(".gz") else open
    with opener(data, "rt", newline="") as f:
        reader = csv.DictReader(f)
        tasks = [c for c in reader.fieldnames if c != "smiles"]
        rows = list(reader)
    if len(rows) != len(fingerprints):
        fail(f"{data}: {len(rows)} rows but {len(fingerprints)} fingerprints")
    keep = [i for i, fp in enumerate(fingerprints) if fp["valid"].lower() == "true"]
    x = np.zeros((len(keep), args.bits), dtype=np.float32)
    y = np.full((len(keep), len(tasks)), np.nan, dtype=np.float32)
    for r, i in enumerate(keep):
        bits = fingerprints[i]["bits"].split()
        x[r, [int(b) for b in bits]] = 1.0
        for t, name in enumerate(tasks):
            cell = rows[i][name].strip()
            if cell:
                y[r, t] = float(cell)
    return data, x, y


ATOM_WIDTH, BOND_WIDTH = 72, 14


def labels_of(data):
    opener = gzip.open if data.endswith(".gz") else open
    with opener(data, "rt", newline="") as f:
        reader = csv.DictReader(f)
        tasks = [c for c in reader.fieldnames if c != "smiles"]
        return tasks, list(reader)


def graphs_of(args, root):
    """The molecules' graphs (`mtnn featurize --graph`) and NaN-masked labels of --data."""
    data = os.path.abspath(args.data or os.path.join(root, "examples", "tox21.csv"))
    if not os.path.exists(data):
        fail(f"--data: {data} does not exist")
    path = args.graphs
    tmp = None
    if not path:
        tmp = tempfile.TemporaryDirectory()
        path = os.path.join(tmp.name, "graphs.jsonl")
        subprocess.run([args.mtnn or os.path.join(root, "mtnn"), "featurize", "--graph", "--data", data, "--out", path], check=True,
                       stdout=subprocess.DEVNULL)
    with open(path) as f:
        header = json.loads(f.readline())
        molecules = [json.loads(line) for line in f]
    if tmp:
        tmp.cleanup()
    if len(header["atom_features"]) != ATOM_WIDTH or len(header["bond_features"]) != BOND_WIDTH:
        fail(f"{path}: {len(header['atom_features'])} atom and {len(header['bond_features'])} bond features, the reference reads {ATOM_WIDTH} and {BOND_WIDTH}")
    tasks, rows = labels_of(data)
    if len(rows) != len(molecules):
        fail(f"{data}: {len(rows)} rows but {len(molecules)} graphs")
    keep = [i for i, m in enumerate(molecules) if m["valid"]]
    y = np.full((len(keep), len(tasks)), np.nan, dtype=np.float32)
    for r, i in enumerate(keep):
        for t, name in enumerate(tasks):
            cell = rows[i][name].strip()
            if cell:
                y[r, t] = float(cell)
    return data, [molecules[i] for i in keep], y


class GraphStore:
    """Every molecule's atoms and bonds in flat arrays: feature columns on the device, topology on the host."""

    def __init__(self, molecules, device):
        def padded(lists, width, spare):
            out = np.full((len(lists), width), spare, dtype=np.uint8)
            for i, cols in enumerate(lists):
                out[i, :len(cols)] = cols
            return out
        atoms = [a for m in molecules for a in m["atoms"]]
        bond_features = [b for m in molecules for b in m["bond_features"]]
        self.atom_start = np.concatenate([[0], np.cumsum([len(m["atoms"]) for m in molecules])]).astype(np.int64)
        self.bond_start = np.concatenate([[0], np.cumsum([len(m["bonds"]) for m in molecules])]).astype(np.int64)
        self.bond_atoms = np.array([b for m in molecules for b in m["bonds"]], dtype=np.int64).reshape(-1, 2)
        self.atom_columns = torch.from_numpy(padded(atoms, 7, ATOM_WIDTH)).to(device)
        self.bond_columns = torch.from_numpy(padded(bond_features, 4, BOND_WIDTH)).to(device)
        self.mass = torch.tensor([x for m in molecules for x in m["mass"]], dtype=torch.float32, device=device)
        self.device = device

    @staticmethod
    def ranges(start, ids):
        first, count = start[ids], start[ids + 1] - start[ids]
        total = int(count.sum())
        begin = np.cumsum(count) - count
        return np.repeat(first - begin, count) + np.arange(total), np.repeat(np.arange(len(ids)), count), count, begin

    def batch(self, ids):
        atom_index, atom_row, atoms_per_row, atom_offset = self.ranges(self.atom_start, ids)
        bond_index, bond_row, _, _ = self.ranges(self.bond_start, ids)
        ends = self.bond_atoms[bond_index] + atom_offset[bond_row][:, None]
        source = ends.reshape(-1)  # 2b: begin -> end, 2b + 1: end -> begin
        target = ends[:, ::-1].reshape(-1)
        reverse = np.arange(len(source)) ^ 1
        d = self.device
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(d)
        atom_index, bond_index = t(atom_index), t(bond_index)
        atom_x = torch.zeros(len(atom_index), ATOM_WIDTH + 1, device=d).scatter_(1, self.atom_columns[atom_index].long(), 1.0)[:, :ATOM_WIDTH]
        atom_x[:, ATOM_WIDTH - 1] = self.mass[atom_index]
        bond_x = torch.zeros(len(bond_index), BOND_WIDTH + 1, device=d).scatter_(1, self.bond_columns[bond_index].long(), 1.0)[:, :BOND_WIDTH]
        return atom_x, bond_x, t(source), t(target), t(reverse), t(atom_row), t(atoms_per_row.astype(np.float32)), len(ids)


class GraphModel(torch.nn.Module):
    """The D-MPNN as GraphTrunk computes it, then the task heads as one matrix."""

    def __init__(self, depth, hidden, layers, tasks):
        super().__init__()
        def uniform(shape, fan_in):
            bound = 1 / math.sqrt(fan_in)
            return torch.nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))
        self.depth, self.hidden = depth, hidden
        self.w_input = uniform((ATOM_WIDTH + BOND_WIDTH, hidden), ATOM_WIDTH + BOND_WIDTH)
        self.w_hidden = uniform((hidden, hidden), hidden)
        self.w_atom = uniform((ATOM_WIDTH + hidden, hidden), ATOM_WIDTH + hidden)
        self.b_atom = uniform((hidden,), ATOM_WIDTH + hidden)
        sizes = [hidden] + layers
        self.trunk = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.head_weight = torch.nn.Parameter(torch.empty(layers[-1], tasks).uniform_(-1 / math.sqrt(layers[-1]), 1 / math.sqrt(layers[-1])))
        self.head_bias = torch.nn.Parameter(torch.zeros(tasks))

    def embed(self, batch, train):
        atom_x, bond_x, source, target, reverse, atom_row, atoms_per_row, rows = batch
        atoms = atom_x.shape[0]
        # gathers as x[index] and sums as an accumulating index_put_ (each the other's backward), as the C# trunk:
        # on the CPU both are vectorised, where index_add_ (index_select's backward) adds row by row
        def sum_into(count, index, values):
            return torch.zeros(count, self.hidden, device=values.device).index_put_((index,), values, accumulate=True)
        initial = (atom_x @ self.w_input[:ATOM_WIDTH])[source] + (bond_x @ self.w_input[ATOM_WIDTH:]).repeat_interleave(2, 0)
        state = torch.relu(initial)
        for _ in range(1, self.depth):
            state = torch.relu(initial + (sum_into(atoms, target, state)[source] - state[reverse]) @ self.w_hidden)
        incoming = sum_into(atoms, target, state)
        atom_states = torch.relu(torch.addmm(self.b_atom, atom_x, self.w_atom[:ATOM_WIDTH]) + incoming @ self.w_atom[ATOM_WIDTH:])
        x = sum_into(rows, atom_row, atom_states) / atoms_per_row.clamp_min(1).unsqueeze(1)
        for layer in self.trunk:
            x = torch.relu(layer(x))
        return x

    def heads(self, h):
        return h @ self.head_weight + self.head_bias

    def trunk_parameters(self):
        return [self.w_input, self.w_hidden, self.w_atom, self.b_atom] + list(self.trunk.parameters())


def synthetic(args):
    """Random sparse binary features, labels from a rank-8 latent model (as Shared/Data/SyntheticDataset.cs)."""
    parts = args.synthetic.split(",")
    if len(parts) not in (3, 4):
        fail(f"--synthetic: '{args.synthetic}' is not ROWS,TASKS,DENSITY[,SEED]")
    rows, tasks, density = int(parts[0]), int(parts[1]), float(parts[2])
    seed = int(parts[3]) if len(parts) == 4 else 0
    rng = np.random.default_rng(seed)
    rank, per_row = 8, 40
    projection = rng.normal(0, 1 / math.sqrt(per_row), (args.bits, rank)).astype(np.float32)
    loadings = rng.normal(0, 3 / math.sqrt(rank), (rank, tasks)).astype(np.float32)
    biases = rng.normal(-1.5, 0.5, tasks).astype(np.float32)
    x = np.zeros((rows, args.bits), dtype=np.float32)
    for r in range(rows):
        x[r, rng.choice(args.bits, per_row, replace=False)] = 1.0
    logits = (x @ projection) @ loadings + biases
    y = (rng.random((rows, tasks)) < 1 / (1 + np.exp(-logits))).astype(np.float32)
    y[rng.random((rows, tasks)) >= density] = np.nan
    return f"synthetic:{rows},{tasks},{density},{seed}", x, y


class SparseInput(torch.nn.Module):
    """A Linear layer over mostly-zero inputs, computed as bias + the weight rows ([in x out]) of each row's non-zero
    features scaled by their values (an embedding bag in sum mode); autograd writes only those rows' gradients."""

    def __init__(self, inputs, outputs):
        super().__init__()
        bound = 1 / math.sqrt(inputs)
        self.weight = torch.nn.Parameter(torch.empty(inputs, outputs).uniform_(-bound, bound))
        self.bias = torch.nn.Parameter(torch.empty(outputs).uniform_(-bound, bound))

    def forward(self, x):
        present = x != 0
        counts = present.sum(1)
        offsets = counts.cumsum(0) - counts
        features = present.nonzero()[:, 1]
        return torch.nn.functional.embedding_bag(features, self.weight, offsets, mode="sum",
                                                 per_sample_weights=x[present]) + self.bias


class Model(torch.nn.Module):
    def __init__(self, inputs, layers, tasks, dropout, bf16, sparse_first_layer=False):
        super().__init__()
        self.bf16 = bf16
        sizes = [inputs] + layers
        self.trunk = torch.nn.ModuleList(
            SparseInput(a, b) if i == 0 and sparse_first_layer else torch.nn.Linear(a, b)
            for i, (a, b) in enumerate(zip(sizes, sizes[1:])))
        self.dropout = dropout
        self.head_weight = torch.nn.Parameter(torch.empty(layers[-1], tasks).uniform_(-1 / math.sqrt(layers[-1]), 1 / math.sqrt(layers[-1])))
        self.head_bias = torch.nn.Parameter(torch.zeros(tasks))

    def embed(self, x, train):
        # bf16: the trunk alone under autocast, as the C# trunk's manual autocast; heads and loss stay float32
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            for layer in self.trunk:
                x = torch.relu(layer(x))
                if train and self.dropout > 0:
                    x = torch.nn.functional.dropout(x, self.dropout, training=True)
        return x.float()

    def heads(self, h):
        return h @ self.head_weight + self.head_bias


def masked_bce(logits, targets, mask):
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (loss * mask).sum(), mask.sum()


def main():
    args = parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.precision == "tf32" and device.type != "cuda":
        fail(f"--precision tf32 needs a CUDA device (TF32 is a mode of CUDA matrix units); this run computes on {device.type}: use fp32 or bf16")
    if args.first_layer == "sparse" and args.precision == "bf16":
        fail("--first-layer sparse computes in float32 (as MtnnCluster's sparse first layer); use --precision fp32 or tf32")
    torch.backends.cuda.matmul.allow_tf32 = args.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = args.precision == "tf32"
    torch.manual_seed(args.seed)
    graph = args.trunk == "graph"
    if graph and (args.synthetic or args.precision == "bf16" or args.first_layer == "sparse"):
        fail("--trunk graph reads molecules (no --synthetic) in fp32 or tf32, without --first-layer sparse")
    if graph:
        name, molecules, y = graphs_of(args, root)
        count = len(molecules)
    else:
        name, x, y = synthetic(args) if args.synthetic else featurized(args, root)
        count = len(x)
    order = np.random.default_rng(args.seed).permutation(count)
    train = order[: int(0.8 * count)]
    if graph:
        store = GraphStore([molecules[i] for i in train], device)
        features = None
    else:
        features = torch.from_numpy(x[train]).to(device)
    labels = torch.from_numpy(y[train]).to(device)
    mask = (~torch.isnan(labels)).float()
    targets = torch.nan_to_num(labels, nan=0.0)
    if graph and args.layers == "2000,100":
        args.layers = "300"  # the graph trunk's default, as mtnn train --trunk graph
    layers = [int(s) for s in args.layers.split(",")]
    rows, tasks = len(train), labels.shape[1]

    def inputs(index):
        """A batch's trunk input: dense rows, or (graph) the batch's molecules assembled from the flat store."""
        return store.batch(index.cpu().numpy()) if graph else features[index]
    batches = max(1, math.ceil(rows / args.batch_size))

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def epoch(model, optimizer, kind, epoch_index):
        generator = torch.Generator(device="cpu").manual_seed(args.seed * 1000 + epoch_index)
        permutation = torch.randperm(rows, generator=generator).to(device)
        sync()
        start = time.perf_counter()
        if kind == "heads":  # ATE-SG head epoch: trunk frozen, its outputs computed once
            with torch.no_grad():
                embedded = model.embed(features, train=False) if not graph else torch.cat(
                    [model.embed(inputs(torch.arange(s, min(s + 4096, rows))), train=False) for s in range(0, rows, 4096)])
        for b in range(batches):
            index = permutation[b * rows // batches:(b + 1) * rows // batches]
            optimizer.zero_grad(set_to_none=True)
            hidden = embedded[index] if kind == "heads" else model.embed(inputs(index), train=True)
            loss, count = masked_bce(model.heads(hidden), targets[index], mask[index])
            if count.item() == 0:
                continue
            (loss / count).backward()
            optimizer.step()
        sync()
        return time.perf_counter() - start

    def run(kinds):
        if graph:
            model = GraphModel(args.depth, args.hidden_size, layers, tasks).to(device)
            trunk = model.trunk_parameters()
        else:
            model = Model(features.shape[1], layers, tasks, args.dropout, args.precision == "bf16",
                          sparse_first_layer=args.first_layer == "sparse").to(device)
            trunk = list(model.trunk.parameters())
        heads = [model.head_weight, model.head_bias]
        # One AdamW per parameter group, as the C# trainer keeps the trunk's and the heads' optimizers apart.
        optimizers = {"joint": torch.optim.AdamW(trunk + heads, lr=1e-3, weight_decay=1e-4),
                      "trunk": torch.optim.AdamW(trunk, lr=1e-3, weight_decay=1e-4),
                      "heads": torch.optim.AdamW(heads, lr=1e-3, weight_decay=1e-4)}
        times = {}
        for i, kind in enumerate(kinds):
            for p in heads:
                p.requires_grad_(kind != "trunk")
            seconds = epoch(model, optimizers[kind], kind, i)
            times.setdefault(kind, []).append(seconds)
        return {k: v[1:] or v for k, v in times.items()}  # the first epoch of each kind warms up kernels and caches

    n = max(1, args.repeat)
    joint = run(["joint"] * (n + 1))
    alternate = run(["heads", "trunk"] * (n + 1))
    mean = lambda v: sum(v) / len(v)
    result = {
        "benchmark": "reference",
        "dataset": name,
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "torch": torch.__version__,
        "precision": args.precision,
        "train_rows": rows,
        "tasks": tasks,
        "layers": args.layers,
        "trunk": args.trunk + (f" (depth {args.depth}, hidden {args.hidden_size})" if graph else ""),
        "first_layer": args.first_layer,
        "joint_epoch_seconds": mean(joint["joint"]),
        "head_epoch_seconds": mean(alternate["heads"]),
        "trunk_epoch_seconds": mean(alternate["trunk"]),
    }
    result["joint_rows_per_second"] = rows / result["joint_epoch_seconds"]
    result["head_rows_per_second"] = rows / result["head_epoch_seconds"]
    result["trunk_rows_per_second"] = rows / result["trunk_epoch_seconds"]
    result["head_to_joint_ratio"] = result["head_epoch_seconds"] / result["joint_epoch_seconds"]
    for key, value in result.items():
        print(f"{key}: {value:.6g}" if isinstance(value, float) else f"{key}: {value}")
    if args.json:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
