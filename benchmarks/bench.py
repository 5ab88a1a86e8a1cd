"""pylstm against PyTorch and ONNX Runtime on a fixed grid of LSTM shapes (GRID below).

float32, one LSTM layer, the same weights in all three libraries, the libraries
interleaved in one process (so machine drift hits them alike), each timing
sample after a short sleep (--settle, so one library's spinning pool threads do
not slow the next one), median wall time per call, at each thread count (1 and
2 by default; torch's set_num_threads and ORT's intra_op_num_threads are set to
pylstm's in every row). Peers that are not installed show "—".

    python benchmarks/bench.py                      # whole grid, 1 and 2 threads
    python benchmarks/bench.py --cases stream small --threads 1 --json out.json
    python benchmarks/bench.py --markdown           # the table as Markdown (README)
    PYLSTM_KERNEL=avx2 python benchmarks/bench.py   # another kernel than the CPU's best
    python benchmarks/bench.py --isa avx2           # pylstm and torch both held to AVX2

The stream case (T = 1) times three pylstm entry points: lstm.stream().step
(state kept in the stream), lstm(x) and lstm(x, hx); the peers run the same
single step with the state passed (step, lstm(x, hx)) or not (lstm(x)). The
other cases time lstm(x, hx). Ratios are pylstm time / peer time (< 1: pylstm
is faster), against each peer and against the faster of the two.
--isa avx2 times an AVX2-only machine's code paths on an AVX-512 one: it holds
pylstm to its AVX2 kernel (PYLSTM_KERNEL) and torch to AVX2 (oneDNN's
ONEDNN_MAX_CPU_ISA, MKL's MKL_ENABLE_INSTRUCTIONS), then runs the benchmark
again in a fresh process, so each library reads its setting at start-up.
onnxruntime has no such setting and keeps the CPU's best kernels (the header
says so): its ratios there are against a faster peer than an AVX2 machine has.
Needs: pylstm; optionally torch (pip install torch==2.13.0), onnxruntime and
onnx (pip install onnxruntime onnx).
"""
import argparse
import json
import os
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


# pylstm's entry points timed per case: entry -> whether the peers' call with
# which it is compared passes the state (h_0, c_0)
STREAM_ENTRIES = {"stream().step": True, "lstm(x)": False, "lstm(x, hx)": True}
ENTRIES = {"lstm(x, hx)": True}
PEERS = ("torch", "onnxruntime")


def make_runners(case, threads, torch, ort):
    """{(library, entry, mode): zero-argument callable doing one call}; a
    peer's entry is "x" or "x, hx" (whether it is given the state)."""
    T, B, I, H = GRID[case]
    rng = np.random.default_rng(0)
    model = pylstm.LSTM(I, H, seed=0)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0 = rng.standard_normal((1, B, H)).astype(np.float32)
    c0 = rng.standard_normal((1, B, H)).astype(np.float32)
    dy = np.ones((T, B, H), np.float32)
    entries = STREAM_ENTRIES if T == 1 else ENTRIES
    runners = {}

    def pl_fwd():
        model(x, (h0, c0))

    def pl_fwd_x():
        model(x)

    def pl_train():
        _, _, cache = model.forward_train(x, (h0, c0))
        model.backward(cache, dy)

    runners["pylstm", "lstm(x, hx)", "fwd"] = pl_fwd
    runners["pylstm", "lstm(x, hx)", "fwd+bwd"] = pl_train
    if "lstm(x)" in entries:
        runners["pylstm", "lstm(x)", "fwd"] = pl_fwd_x
    if "stream().step" in entries:
        # Real-time use: LSTM.stream() keeps the state and packed weights, so a
        # step is the call lstm(x_t, (h_{t-1}, c_{t-1})) without its overhead.
        stream = model.stream(batch=B)
        stream.reset((h0, c0))
        x_t = x[0]

        def pl_stream():
            stream.step(x_t)

        runners["pylstm", "stream().step", "fwd"] = pl_stream
    calls = {"x" if not with_state else "x, hx" for with_state in entries.values()}

    if torch is not None:
        t = torch.nn.LSTM(I, H)
        t.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
        xt, h0t, c0t = (torch.from_numpy(a) for a in (x, h0, c0))
        xg = xt.clone().requires_grad_(True)
        dyt = torch.from_numpy(dy)

        def torch_fwd():
            with torch.inference_mode():
                t(xt, (h0t, c0t))

        def torch_fwd_x():
            with torch.inference_mode():
                t(xt)

        def torch_train():
            y, _ = t(xg, (h0t, c0t))
            y.backward(dyt)

        runners["torch", "x, hx", "fwd"] = torch_fwd
        runners["torch", "x, hx", "fwd+bwd"] = torch_train
        if "x" in calls:
            runners["torch", "x", "fwd"] = torch_fwd_x

    if ort is not None:
        for call in calls:
            with_state = call == "x, hx"
            sess = ort_session(model, threads, ort, with_state)
            feeds = {"X": x, "initial_h": h0, "initial_c": c0} if with_state else {"X": x}
            runners["onnxruntime", call, "fwd"] = (
                lambda sess=sess, feeds=feeds: sess.run(None, feeds))
    return runners


def ort_session(model, threads, ort, with_state=True):
    """One ONNX LSTM node with the model's weights (ONNX gate order i, o, f, c),
    taking initial_h and initial_c as inputs when with_state, else zeros."""
    from onnx import TensorProto, helper, numpy_helper

    H = model.hidden_size
    sd = model.state_dict()
    order = np.concatenate([np.arange(k * H, (k + 1) * H) for k in (0, 3, 1, 2)])
    W = sd["weight_ih_l0"][order][None]
    R = sd["weight_hh_l0"][order][None]
    Bias = np.concatenate([sd["bias_ih_l0"][order], sd["bias_hh_l0"][order]])[None]
    states = ["", "initial_h", "initial_c"] if with_state else []
    node = helper.make_node("LSTM", ["X", "W", "R", "B"] + states, ["Y", "Y_h", "Y_c"],
                            hidden_size=H)
    f = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("X", f, ["T", "B", model.input_size])]
    if with_state:
        inputs += [helper.make_tensor_value_info("initial_h", f, [1, "B", H]),
                   helper.make_tensor_value_info("initial_c", f, [1, "B", H])]
    graph = helper.make_graph(
        [node], "lstm", inputs,
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


def measure(runners, repeats, min_seconds, settle):
    """Median seconds per call of each runner over `repeats` rounds; in each
    round every runner is timed once, in turn, after `settle` seconds of
    sleep: a thread pool may keep spinning for a while after its library's
    last call (onnxruntime's for about 40 ms, torch's OpenMP for about 10 ms
    on a 2-core machine), taking a core from whatever runs next."""
    for fn in runners.values():  # warm up
        for _ in range(3):
            fn()
    samples = {k: [] for k in runners}
    for _ in range(repeats):
        for k, fn in runners.items():  # interleaved
            time.sleep(settle)
            samples[k].append(time_calls(fn, min_seconds))
    return {k: statistics.median(v) for k, v in samples.items()}


def fmt_time(s):
    """Three significant digits (trailing zeros kept) in µs, ms or s; "—" for None."""
    if s is None:
        return "—"
    for scale, unit in ((1e6, "µs"), (1e3, "ms"), (1, "s")):
        v = s * scale
        if v < 999.5 or unit == "s":
            return f"{v:.{2 if v < 10 else 1 if v < 100 else 0}f} {unit}"


def fmt_ratio(r):
    if r is None:
        return "—"
    return f"{r:.2f}" if r >= 0.005 else "<0.01"


def cpu_model():
    """The CPU's name as the OS tells it, with the x86 family and model
    numbers (virtual machines often report only "AMD EPYC")."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or fields.get("Model") or fields.get("cpu model")
    if name:
        if "cpu family" in fields and "model" in fields:
            name += f" (family {fields['cpu family']}, model {fields['model']})"
        return name
    if sys.platform == "darwin":
        import subprocess
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                  capture_output=True, text=True).stdout.strip()
        except OSError:
            pass
    return platform.processor() or platform.machine()


# --isa NAME: the environment that holds each library to that instruction set
ISA_CAPS = {
    "avx2": {"PYLSTM_KERNEL": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}


def enter_isa_caps(isa):
    """Returns if this process runs under --isa's caps; if not, sets them and
    runs the same command again in a fresh process (and does not return)."""
    caps = ISA_CAPS[isa]
    if all(os.environ.get(k) == v for k, v in caps.items()):
        return
    if os.environ.get("PYLSTM_BENCH_REEXEC") == isa:
        sys.exit(f"--isa {isa}: the caps did not reach the new process")
    os.environ.update(caps, PYLSTM_BENCH_REEXEC=isa)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:])


def machine_info(torch, ort, isa=None):
    cap = os.environ.get("PYLSTM_KERNEL")
    return {
        "cpu": cpu_model(), "machine": platform.machine(), "cores": os.cpu_count(),
        "kernel": pylstm.gemm_kernel() + (f" (PYLSTM_KERNEL={cap})" if cap else ""),
        "isa_cap": ({"isa": isa, "env": ISA_CAPS[isa], "uncapped": ["onnxruntime"]}
                    if isa else None),
        "pylstm": pylstm.__version__, "torch": torch.__version__ if torch else None,
        "onnxruntime": ort.__version__ if ort else None, "python": platform.python_version(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def rows_of(case, threads, times, entries):
    """One row per pylstm entry point and mode: its time, each peer's, ratios."""
    T, B, I, H = GRID[case]
    rows = []
    for entry, with_state in entries.items():
        for mode in ("fwd", "fwd+bwd"):
            ours = times.get(("pylstm", entry, mode))
            if ours is None:
                continue
            peer_call = "x, hx" if with_state else "x"
            peers = {p: times.get((p, peer_call, mode)) for p in PEERS}
            present = [t for t in peers.values() if t is not None]
            best = min(present) if present else None
            rows.append({
                "case": case, "T": T, "B": B, "I": I, "H": H, "entry": entry,
                "threads": threads, "mode": mode, "pylstm_s": ours,
                "gflops": flops(T, B, I, H, mode) / ours / 1e9,
                **{f"{p}_s": t for p, t in peers.items()},
                **{f"pylstm_over_{p}": (ours / t if t else None) for p, t in peers.items()},
                "pylstm_over_best_peer": ours / best if best else None,
            })
    return rows


COLUMNS = ["case (T, B, I, H)", "entry", "thr", "mode", "pylstm", "torch", "ORT", "pylstm/torch",
           "pylstm/ORT", "pylstm/best peer"]


def table_cells(row):
    T, B, I, H = row["T"], row["B"], row["I"], row["H"]
    return [f"{row['case']} ({T}, {B}, {I}, {H})", row["entry"], str(row["threads"]),
            row["mode"], fmt_time(row["pylstm_s"]), fmt_time(row["torch_s"]),
            fmt_time(row["onnxruntime_s"]), fmt_ratio(row["pylstm_over_torch"]),
            fmt_ratio(row["pylstm_over_onnxruntime"]), fmt_ratio(row["pylstm_over_best_peer"])]


def print_table(rows, markdown, out=sys.stdout):
    """Rows sorted by case, entry point, mode and thread count; Markdown
    (pipes) or plain aligned text."""
    order = {c: k for k, c in enumerate(GRID)}
    entry_order = {e: k for k, e in enumerate(STREAM_ENTRIES)}
    rows = sorted(rows, key=lambda r: (order[r["case"]], entry_order[r["entry"]],
                                       r["mode"] != "fwd", r["threads"]))
    head = COLUMNS
    cells = [table_cells(r) for r in rows]
    if markdown:
        print("| " + " | ".join(head) + " |", file=out)
        print("| " + " | ".join("---" for _ in head) + " |", file=out)
        for c in cells:
            print("| " + " | ".join(c) + " |", file=out)
        return
    widths = [max(len(x) for x in col) for col in zip(head, *cells)]
    left = 4  # case, entry, thr, mode: left-aligned; times and ratios right-aligned

    def line(c):
        return "  ".join(x.ljust(w) if k < left else x.rjust(w)
                         for k, (x, w) in enumerate(zip(c, widths)))

    print(line(head), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for c in cells:
        print(line(c), file=out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", default=list(GRID), choices=list(GRID))
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--repeats", type=int, default=7, help="interleaved rounds (median)")
    ap.add_argument("--min-seconds", type=float, default=0.2, help="per timing sample")
    ap.add_argument("--settle", type=float, default=0.1,
                    help="seconds of sleep before each timing sample, for the previous "
                         "library's spinning threads to stop")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--isa", choices=list(ISA_CAPS),
                    help="hold pylstm and torch to this instruction set (see above)")
    args = ap.parse_args(argv)
    if args.isa:
        enter_isa_caps(args.isa)

    torch, ort = optional("torch"), optional("onnxruntime")
    if ort is not None and optional("onnx") is None:
        print("onnx is not installed: skipping onnxruntime", file=sys.stderr)
        ort = None
    info = machine_info(torch, ort, args.isa)
    print(f"CPU: {info['cpu']} ({info['machine']}, {info['cores']} logical cores); "
          f"pylstm {info['pylstm']}, kernel {info['kernel']}; "
          f"torch {info['torch'] or 'absent'}; onnxruntime {info['onnxruntime'] or 'absent'}"
          + (f"; load average {info['load_average'][0]:.1f}" if info["load_average"] else ""))
    if args.isa:
        print(f"--isa {args.isa}: pylstm and torch held to {args.isa} "
              f"({', '.join(f'{k}={v}' for k, v in ISA_CAPS[args.isa].items())}); "
              "onnxruntime is not (it has no such setting)")
    print(f"float32, 1 layer, (T, B, I, H); median of {args.repeats} interleaved rounds; "
          "ratios: pylstm time / peer time (< 1: pylstm faster)\n")
    sys.stdout.flush()
    rows = []
    for threads in args.threads:
        set_threads(threads, torch)
        for case in args.cases:
            print(f"measuring {case} at {threads} thread(s)...", file=sys.stderr, flush=True)
            runners = make_runners(case, threads, torch, ort)
            times = measure(runners, args.repeats, args.min_seconds, args.settle)
            rows += rows_of(case, threads, times,
                            STREAM_ENTRIES if GRID[case][0] == 1 else ENTRIES)
    print_table(rows, args.markdown)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "repeats": args.repeats,
                       "min_seconds": args.min_seconds, "settle": args.settle, "rows": rows},
                      f, indent=1)


if __name__ == "__main__":
    main()
