"""Train a tiny LSTM with pylstm alone (NumPy, no PyTorch) and watch the loss fall.

The task: read a sequence of T random numbers in [-1, 1] and output, at the last
step, a quarter of their sum. A linear read-out on the last hidden state makes
the prediction; LSTM.forward_train / LSTM.backward give the gradients, and SGD
with momentum updates the parameters in place.

    python examples/quickstart.py
"""
import numpy as np

import pylstm

rng = np.random.default_rng(0)
T, B, H = 10, 32, 16
lstm = pylstm.LSTM(1, H, seed=0)
w_out = np.zeros(H, np.float32)   # read-out weights
b_out = np.zeros(1, np.float32)   # read-out bias
params = lstm.parameters() + [w_out, b_out]
velocity = [np.zeros_like(p) for p in params]
lr, momentum = 0.05, 0.9

for step in range(401):
    x = rng.uniform(-1, 1, size=(T, B, 1)).astype(np.float32)
    target = x.sum(axis=0)[:, 0] / 4
    out, _, cache = lstm.forward_train(x)
    pred = out[-1] @ w_out + b_out[0]       # (B,)
    err = pred - target
    loss = float(np.mean(err ** 2))

    d_pred = 2 * err / B                    # dloss/dpred
    d_out = np.zeros_like(out)
    d_out[-1] = np.outer(d_pred, w_out)     # only the last step feeds the loss
    lstm.zero_grad()
    lstm.backward(cache, d_out)
    grads = [lstm.grads[name] for name, _ in lstm.named_parameters()]
    grads += [out[-1].T @ d_pred, d_pred.sum(keepdims=True)]

    for p, g, v in zip(params, grads, velocity):
        v *= momentum
        v -= lr * g
        p += v
    if step % 50 == 0:
        print(f"step {step:4d}  loss {loss:.5f}")

print(f"always predicting 0 scores {T / 3 / 16:.5f}")
