"""pylstm at 1 and 2 threads on a busy machine and on a quiet one.

Starts its own busy processes (one pure-Python busy loop per core this process
may use, killed at the end), and times, with those running and without them:

- demo: adding-problem training steps, the loop of ``python -m pylstm demo``
  (LSTM(2, 64) + Linear, batch 64, T=100, Adam), ``--demo-steps`` steps;
- forward: the medium forward of bench.py (T=100, B=32, I=256, H=256,
  float32), ``--forward-calls`` calls;
- small: the small forward of bench.py (T=100, B=1, I=32, H=64, float32),
  whose threads meet at every step, ``--small-calls`` calls,

each at 1 and 2 threads, and prints the ratio 2 threads / 1 thread (below 1:
the second thread helps; above 1: it hurts) and the CPU time the timed calls
used (all threads: spinning shows there). Every timing runs in a fresh
child process, so other builds of pylstm can be compared in the same run:

    python benchmarks/busy.py                       # the pylstm found on sys.path
    python benchmarks/busy.py --build new=. --build old=/tmp/old-build

``--build NAME=DIR`` puts DIR first on the child's PYTHONPATH (a source tree
built in place with ``python setup.py build_ext --inplace``). Builds, thread
counts and tasks are interleaved within each round, and the rounds alternate
the builds' order, so drift in the machine's other load hits them alike; the
median of the rounds is reported with the load average seen during them.
The machine should have nothing else running for the quiet figures to mean
anything: the load average printed says how quiet it was.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CHILD = r"""
import sys, time
import numpy as np
import pylstm
what, threads, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pylstm.set_num_threads(threads)
if what == "demo":
    from pylstm.demo import AddingModel, adding_batch
    from pylstm.optim import Adam, clip_grad_norm
    rng = np.random.default_rng(0)
    model = AddingModel(64, 0)
    opt = Adam(model.modules, lr=1e-2)
    def one():
        x, y, _ = adding_batch(rng, 100, 64)
        opt.zero_grad()
        model.train_step(x, y)
        clip_grad_norm(model.modules, 1.0)
        opt.step()
else:
    I, H, B = (256, 256, 32) if what == "forward" else (32, 64, 1)
    model = pylstm.LSTM(I, H, seed=0)
    x = np.random.default_rng(0).standard_normal((100, B, I)).astype(np.float32)
    def one():
        model(x)
for _ in range(3):
    one()
start, cpu = time.perf_counter(), time.process_time()
for _ in range(n):
    one()
print(time.perf_counter() - start, time.process_time() - cpu)
"""


def cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def start_busy(n):
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop_busy(procs):
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def time_child(path, what, threads, n):
    env = dict(os.environ, PYLSTM_NUM_THREADS=str(threads))
    if path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [path, env.get("PYTHONPATH")]))
    out = subprocess.run([sys.executable, "-c", CHILD, what, str(threads), str(n)], env=env,
                         check=True, capture_output=True, text=True).stdout
    wall, cpu = out.split()[-2:]
    return float(wall), float(cpu)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", action="append", default=[], metavar="NAME=DIR",
                    help="a pylstm build to time (repeatable; default: the one on sys.path)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    ap.add_argument("--demo-steps", type=int, default=60, help="training steps per timing")
    ap.add_argument("--forward-calls", type=int, default=40, help="forward calls per timing")
    ap.add_argument("--small-calls", type=int, default=2000,
                    help="small forward calls per timing")
    ap.add_argument("--busy", type=int, default=cores(),
                    help="busy processes for the busy figures (default: one per core)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    builds = []
    for b in args.build or ["pylstm="]:
        name, sep, path = b.partition("=")
        if not sep:
            ap.error(f"--build: expected NAME=DIR, got {b!r}")
        builds.append((name, os.path.abspath(path) if path else ""))
    tasks = {"demo": args.demo_steps, "forward": args.forward_calls, "small": args.small_calls}
    samples = {}   # (machine, build, task, threads) -> [wall seconds]
    cpus = {}      # the same -> [CPU seconds of the timed calls, all threads]
    loads = {"quiet": [], "busy": []}
    busy = []
    try:
        for r in range(args.rounds):
            order = builds if r % 2 == 0 else builds[::-1]
            for machine in ("quiet", "busy"):
                if machine == "busy":
                    busy = start_busy(args.busy)
                    time.sleep(0.5)
                for i, (name, path) in enumerate(order):
                    for task, n in tasks.items():
                        for threads in (1, 2) if (r + i) % 2 == 0 else (2, 1):
                            wall, cpu = time_child(path, task, threads, n)
                            samples.setdefault((machine, name, task, threads), []).append(wall)
                            cpus.setdefault((machine, name, task, threads), []).append(cpu)
                            loads[machine].append(os.getloadavg()[0])
                stop_busy(busy)
                busy = []
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    finally:
        stop_busy(busy)

    print(f"{cores()} cores; busy: {args.busy} busy-loop processes; per timing: "
          f"{args.demo_steps} demo training steps, {args.forward_calls} medium forwards, "
          f"{args.small_calls} small forwards; "
          f"median of {args.rounds} rounds")
    print(f"{'machine':7} {'build':10} {'task':8} {'1 thread':>10} {'2 threads':>10} "
          f"{'2t/1t':>6} {'CPU 1t':>8} {'CPU 2t':>8}   1-min load average during the runs")
    results = []
    for machine in ("quiet", "busy"):
        la = loads[machine]
        for name, _ in builds:
            for task in tasks:
                t1 = statistics.median(samples[machine, name, task, 1])
                t2 = statistics.median(samples[machine, name, task, 2])
                c1 = statistics.median(cpus[machine, name, task, 1])
                c2 = statistics.median(cpus[machine, name, task, 2])
                print(f"{machine:7} {name:10} {task:8} {t1:9.3f}s {t2:9.3f}s {t2 / t1:6.2f}"
                      f" {c1:7.2f}s {c2:7.2f}s   {min(la):.2f}-{max(la):.2f}")
                results.append({"machine": machine, "build": name, "task": task,
                                "seconds_1": t1, "seconds_2": t2, "ratio": t2 / t1,
                                "samples_1": samples[machine, name, task, 1],
                                "samples_2": samples[machine, name, task, 2],
                                "cpu_1": cpus[machine, name, task, 1],
                                "cpu_2": cpus[machine, name, task, 2],
                                "loadavg": [min(la), max(la)]})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
