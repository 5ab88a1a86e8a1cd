"""pylstm against PyTorch and ONNX Runtime on a fixed grid of LSTM shapes (GRID below).

float32, one LSTM layer, the same weights in all three libraries, the libraries
interleaved in one process (so machine drift hits them alike), median wall time
per call. Peers that are not installed are skipped.

    python benchmarks/bench.py                      # whole grid, 1 and 2 threads
    python benchmarks/bench.py --cases stream small --threads 1 --json out.json

The ratio column is peer time / pylstm time (> 1: pylstm is faster), against
the faster of pylstm's two entry points where the stream case has both.
Needs: pylstm; optionally torch (pip install torch==2.13.0), onnxruntime and
onnx (pip install onnxruntime onnx).
"""
import argparse
import json
import platform
import statistics
import sys
import time

import numpy as np

import pylstm

GRID = {  # name: (T, B, I, H)
    "stream": (1, 1, 64, 64),
    "small": (100, 1, 32, 64),
    "medium": (100, 32, 256, 256),
    "large": (50, 64, 1024, 1024),
}


def flops(T, B, I, H, mode):
    fwd = 2.0 * T * B * 4 * H * (I + H)
    return fwd if mode == "fwd" else 3 * fwd


def optional(name):
    try:
        return __import__(name)
    except ImportError:
        return None


def set_threads(n, torch):
    if hasattr(pylstm, "set_num_threads"):
        pylstm.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


def make_runners(case, threads, torch, ort):
    """{(lib, mode): zero-argument callable doing one call}."""
    T, B, I, H = GRID[case]
    rng = np.random.default_rng(0)
    model = pylstm.LSTM(I, H, seed=0)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0 = rng.standard_normal((1, B, H)).astype(np.float32)
    c0 = rng.standard_normal((1, B, H)).astype(np.float32)
    dy = np.ones((T, B, H), np.float32)
    runners = {}

    def pl_fwd():
        model(x, (h0, c0))

    def pl_train():
        _, _, cache = model.forward_train(x, (h0, c0))
        model.backward(cache, dy)

    runners["pylstm", "fwd"] = pl_fwd
    runners["pylstm", "fwd+bwd"] = pl_train
    if T == 1:
        # Real-time use: LSTM.stream() keeps the state and packed weights, so a
        # step is the call lstm(x_t, (h_{t-1}, c_{t-1})) without its overhead.
        stream = model.stream(batch=B)
        stream.reset((h0, c0))
        x_t = x[0]

        def pl_stream():
            stream.step(x_t)

        runners["pylstm.stream", "fwd"] = pl_stream

    if torch is not None:
        t = torch.nn.LSTM(I, H)
        t.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
        xt, h0t, c0t = (torch.from_numpy(a) for a in (x, h0, c0))
        xg = xt.clone().requires_grad_(True)
        dyt = torch.from_numpy(dy)

        def torch_fwd():
            with torch.inference_mode():
                t(xt, (h0t, c0t))

        def torch_train():
            y, _ = t(xg, (h0t, c0t))
            y.backward(dyt)

        runners["torch", "fwd"] = torch_fwd
        runners["torch", "fwd+bwd"] = torch_train

    if ort is not None:
        sess = ort_session(model, threads, ort)
        feeds = {"X": x, "initial_h": h0, "initial_c": c0}

        def ort_fwd():
            sess.run(None, feeds)

        runners["onnxruntime", "fwd"] = ort_fwd
    return runners


def ort_session(model, threads, ort):
    """One ONNX LSTM node with the model's weights (ONNX gate order i, o, f, c)."""
    from onnx import TensorProto, helper, numpy_helper

    H = model.hidden_size
    sd = model.state_dict()
    order = np.concatenate([np.arange(k * H, (k + 1) * H) for k in (0, 3, 1, 2)])
    W = sd["weight_ih_l0"][order][None]
    R = sd["weight_hh_l0"][order][None]
    Bias = np.concatenate([sd["bias_ih_l0"][order], sd["bias_hh_l0"][order]])[None]
    node = helper.make_node("LSTM", ["X", "W", "R", "B", "", "initial_h", "initial_c"],
                            ["Y", "Y_h", "Y_c"], hidden_size=H)
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        [node], "lstm",
        [helper.make_tensor_value_info("X", f, ["T", "B", model.input_size]),
         helper.make_tensor_value_info("initial_h", f, [1, "B", H]),
         helper.make_tensor_value_info("initial_c", f, [1, "B", H])],
        [helper.make_tensor_value_info("Y", f, None)],
        [numpy_helper.from_array(a.astype(np.float32), n) for a, n in
         ((W, "W"), (R, "R"), (Bias, "B"))])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    proto.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def time_calls(fn, min_seconds):
    """Seconds per call: enough calls in a row to last min_seconds."""
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / n


def measure(runners, repeats, min_seconds):
    for fn in runners.values():  # warm up
        for _ in range(3):
            fn()
    samples = {k: [] for k in runners}
    for _ in range(repeats):
        for k, fn in runners.items():  # interleaved
            samples[k].append(time_calls(fn, min_seconds))
    return {k: statistics.median(v) for k, v in samples.items()}


def fmt_time(s):
    if s < 1e-3:
        return f"{s * 1e6:.2f} us"
    return f"{s * 1e3:.2f} ms"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", default=list(GRID), choices=list(GRID))
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--repeats", type=int, default=7, help="interleaved rounds (median)")
    ap.add_argument("--min-seconds", type=float, default=0.2, help="per timing sample")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)

    torch, ort = optional("torch"), optional("onnxruntime")
    if ort is not None and optional("onnx") is None:
        print("onnx is not installed: skipping onnxruntime", file=sys.stderr)
        ort = None
    print(f"pylstm {pylstm.__version__}"
          + (f", kernel {pylstm.gemm_kernel()}" if hasattr(pylstm, "gemm_kernel") else "")
          + f"; torch {torch.__version__ if torch else 'absent'}"
          + f"; onnxruntime {ort.__version__ if ort else 'absent'}; {platform.machine()}")
    rows = []
    header = (f"{'case':7} {'thr':>3} {'mode':8} {'library':13} {'median':>10} "
              f"{'GFLOP/s':>8} {'peer/pylstm':>11}")
    print(header)
    print("-" * len(header))
    for threads in args.threads:
        set_threads(threads, torch)
        for case in args.cases:
            runners = make_runners(case, threads, torch, ort)
            times = measure(runners, args.repeats, args.min_seconds)
            T, B, I, H = GRID[case]
            for mode in ("fwd", "fwd+bwd"):
                ours = min(t for (lib, m), t in times.items()
                           if m == mode and lib.startswith("pylstm"))
                for (lib, m), t in times.items():
                    if m != mode:
                        continue
                    gf = flops(T, B, I, H, mode) / t / 1e9
                    ratio = "" if lib.startswith("pylstm") else f"{t / ours:.2f}x"
                    print(f"{case:7} {threads:3d} {mode:8} {lib:13} {fmt_time(t):>10} "
                          f"{gf:8.1f} {ratio:>11}")
                    rows.append({"case": case, "T": T, "B": B, "I": I, "H": H,
                                 "threads": threads, "mode": mode, "library": lib,
                                 "seconds": t, "gflops": gf,
                                 "peer_over_pylstm":
                                     None if lib.startswith("pylstm") else t / ours})
            sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "machine": platform.machine()}, f, indent=1)


if __name__ == "__main__":
    main()
