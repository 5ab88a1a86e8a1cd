"""A plain NumPy reference of what pylstm computes, written from the equations.

The test suite compares pylstm with this module always, and with torch as well
when torch is installed, so the wheel tests (which have no torch) still check
numbers. Everything is computed in float64 whatever the input dtype, one time
step at a time, with no attempt at speed: the point is that a reader holding
the equations recognises every line.

LSTM (torch.nn.LSTM; gate order i, f, g, o; sigma the logistic function)::

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh          (4H)
    i, f, g, o = sigma(a_i), sigma(a_f), tanh(a_g), sigma(a_o)
    c_t = f * c_{t-1} + i * g
    m_t = o * tanh(c_t)
    h_t = W_hr m_t  if proj_size > 0  else  m_t

Backward is back-propagation through time written out by hand (not finite
differences; tests/test_reference.py checks this module against central
finite differences and against torch numbers stored in tests/c/).
"""
import numpy as np

# ---- the LSTM ----------------------------------------------------------------


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def param_names(num_layers, bidirectional, bias, proj_size):
    """torch.nn.LSTM's state-dict names, in its order."""
    names = []
    for layer in range(num_layers):
        for d in range(2 if bidirectional else 1):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            names += ["weight_ih" + sfx, "weight_hh" + sfx]
            if bias:
                names += ["bias_ih" + sfx, "bias_hh" + sfx]
            if proj_size:
                names.append("weight_hr" + sfx)
    return names


def _direction_forward(w, x, h0, c0, active):
    """One layer direction over time-major x (T, B, I), in time order.

    w: dict with W_ih, W_hh, b_ih, b_hh (None: zero), W_hr (None: no
    projection). active (T, B) bool: rows that are padding keep their state and
    output zero. Returns y (T, B, R), h_n, c_n and the per-step tape."""
    T, B, _ = x.shape
    H = w["W_hh"].shape[0] // 4
    h, c = h0, c0
    y = np.zeros((T, B, h0.shape[1]))
    tape = []
    for t in range(T):
        a = x[t] @ w["W_ih"].T + h @ w["W_hh"].T
        if w["b_ih"] is not None:
            a = a + w["b_ih"] + w["b_hh"]
        i = sigmoid(a[:, :H])
        f = sigmoid(a[:, H:2 * H])
        g = np.tanh(a[:, 2 * H:3 * H])
        o = sigmoid(a[:, 3 * H:])
        c_new = f * c + i * g
        m = o * np.tanh(c_new)
        h_new = m @ w["W_hr"].T if w["W_hr"] is not None else m
        act = active[t][:, None]
        tape.append(dict(x=x[t], h=h, c=c, i=i, f=f, g=g, o=o, c_new=c_new, m=m, h_new=h_new,
                         act=act))
        y[t] = np.where(act, h_new, 0.0)
        h = np.where(act, h_new, h)
        c = np.where(act, c_new, c)
    return y, h, c, tape


def _direction_backward(w, tape, dy, dh_n, dc_n, grads):
    """BPTT through one direction: returns dx (T, B, I), dh0, dc0 and adds the
    parameter gradients into grads (same keys as w)."""
    dh, dc = dh_n.copy(), dc_n.copy()
    dx = np.zeros((len(tape),) + tape[0]["x"].shape)
    for t in reversed(range(len(tape))):
        s = tape[t]
        act = s["act"]
        # Padding steps: y is a constant 0 and the state passes through.
        dh_t = dh + np.where(act, dy[t], 0.0)
        if w["W_hr"] is not None:
            grads["W_hr"] += np.where(act, dh_t, 0.0).T @ s["m"]
            dm = dh_t @ w["W_hr"]
        else:
            dm = dh_t
        tc = np.tanh(s["c_new"])
        do = dm * tc
        dc_t = dc + dm * s["o"] * (1 - tc * tc)
        di, df, dg = dc_t * s["g"], dc_t * s["c"], dc_t * s["i"]
        da = np.concatenate([di * s["i"] * (1 - s["i"]), df * s["f"] * (1 - s["f"]),
                             dg * (1 - s["g"] ** 2), do * s["o"] * (1 - s["o"])], axis=1)
        da = np.where(act, da, 0.0)
        grads["W_ih"] += da.T @ s["x"]
        grads["W_hh"] += da.T @ s["h"]
        if w["b_ih"] is not None:
            grads["b_ih"] += da.sum(axis=0)
            grads["b_hh"] += da.sum(axis=0)
        dx[t] = da @ w["W_ih"]
        dh = np.where(act, da @ w["W_hh"], dh)
        dc = np.where(act, dc_t * s["f"], dc)
    return dx, dh, dc


def _reverse_within_lengths(a, lengths):
    """a (T, B, ...) with each column b's first lengths[b] steps reversed: the
    reverse direction of a sequence starts at its own last real step."""
    out = a.copy()
    for b, n in enumerate(lengths):
        out[:n, b] = a[n - 1::-1, b]
    return out


def mix64(z):
    """The SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    z = np.asarray(z, dtype=np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def dropout_mask(seed, layer, shape, p):
    """Layer `layer`'s dropout mask over its time-major output `shape`
    (T, B, D*R), from pylstm.h's counter-based rule: element k (row-major) is
    kept iff u * 2^-53 >= p with
        u = mix64((mix64(layer + 1) ^ seed) + (k + 1) * 0x9E3779B97F4A7C15) >> 11
    (grouped as src_c/model.c computes it); kept elements are scaled by 1/(1-p)."""
    if p == 0:
        return np.ones(shape)
    n = int(np.prod(shape))
    with np.errstate(over="ignore"):
        k1 = np.arange(1, n + 1, dtype=np.uint64)
        z = (mix64(np.uint64(layer + 1)) ^ np.uint64(seed)) + k1 * np.uint64(0x9E3779B97F4A7C15)
        u = (mix64(z) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    return np.where(u >= p, scale, 0.0).reshape(shape)


class LSTM:
    """torch.nn.LSTM's forward and backward in float64 NumPy.

    params: a torch-style state dict (pylstm's state_dict()), copied to float64
    at construction. forward keeps
    what backward needs; backward returns dx, dh0, dc0 and a dict of parameter
    gradients with the state-dict names."""

    def __init__(self, params, *, num_layers=1, bidirectional=False, batch_first=False,
                 proj_size=0):
        self.L = num_layers
        self.D = 2 if bidirectional else 1
        self.batch_first = batch_first
        self.P = proj_size
        self.w = []
        for layer in range(num_layers):
            for d in range(self.D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                get = lambda n: (None if params.get(n + sfx) is None  # noqa: E731
                                 else np.array(params[n + sfx], dtype=np.float64))
                self.w.append({"W_ih": get("weight_ih"), "W_hh": get("weight_hh"),
                               "b_ih": get("bias_ih"), "b_hh": get("bias_hh"),
                               "W_hr": get("weight_hr"), "sfx": sfx})
        self.H = self.w[0]["W_hh"].shape[0] // 4
        self.R = proj_size or self.H

    def forward(self, x, hx=None, lengths=None, dropout=0.0, seed=0):
        """x (T, B, I), (B, T, I) if batch_first, or (T, I) unbatched; hx =
        (h0, c0) or None; lengths (B,) or None; dropout and seed: the masks of
        pylstm.h between layers (training). Returns y, (h_n, c_n)."""
        x = np.asarray(x, dtype=np.float64)
        self.unbatched = x.ndim == 2
        if self.unbatched:
            x = x[:, None, :]
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        T, B, _ = x.shape
        LD = self.L * self.D
        if hx is None:
            h0, c0 = np.zeros((LD, B, self.R)), np.zeros((LD, B, self.H))
        else:
            h0 = np.asarray(hx[0], dtype=np.float64).reshape(LD, B, self.R)
            c0 = np.asarray(hx[1], dtype=np.float64).reshape(LD, B, self.H)
        self.lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
        active = np.arange(T)[:, None] < self.lengths[None, :]
        h_n, c_n = np.zeros_like(h0), np.zeros_like(c0)
        self.tapes, self.masks = [], []
        inp = x
        for layer in range(self.L):
            outs = []
            for d in range(self.D):
                e = layer * self.D + d
                xin = _reverse_within_lengths(inp, self.lengths) if d else inp
                y, h_n[e], c_n[e], tape = _direction_forward(self.w[e], xin, h0[e], c0[e], active)
                self.tapes.append(tape)
                outs.append(_reverse_within_lengths(y, self.lengths) if d else y)
            inp = np.concatenate(outs, axis=2)
            if layer + 1 < self.L:
                mask = dropout_mask(seed, layer, inp.shape, dropout)
                self.masks.append(mask)
                inp = inp * mask
        return self._out(inp), (self._state(h_n), self._state(c_n))

    def backward(self, dy, dh_n=None, dc_n=None):
        """Gradients of sum(y*dy) + sum(h_n*dh_n) + sum(c_n*dc_n) after the
        last forward: dx, (dh0, dc0), {parameter name: gradient}."""
        T, B = len(self.tapes[0]), len(self.lengths)
        LD = self.L * self.D
        if dy is None:
            dy = np.zeros((T, B, self.D * self.R))
        elif self.unbatched:
            dy = np.asarray(dy, np.float64)[:, None, :]
        elif self.batch_first:
            dy = np.asarray(dy, np.float64).transpose(1, 0, 2)
        else:
            dy = np.asarray(dy, np.float64)
        dh_n = np.zeros((LD, B, self.R)) if dh_n is None else \
            np.asarray(dh_n, np.float64).reshape(LD, B, self.R)
        dc_n = np.zeros((LD, B, self.H)) if dc_n is None else \
            np.asarray(dc_n, np.float64).reshape(LD, B, self.H)
        dh0, dc0 = np.zeros_like(dh_n), np.zeros_like(dc_n)
        grads = {}
        dout = dy
        for layer in reversed(range(self.L)):
            if layer + 1 < self.L:
                dout = dout * self.masks[layer]
            din = 0.0
            for d in range(self.D):
                e = layer * self.D + d
                w = self.w[e]
                g = {k: np.zeros_like(v) for k, v in w.items() if k != "sfx" and v is not None}
                dyd = dout[:, :, d * self.R:(d + 1) * self.R]
                if d:
                    dyd = _reverse_within_lengths(dyd, self.lengths)
                dxd, dh0[e], dc0[e] = _direction_backward(w, self.tapes[e], dyd, dh_n[e],
                                                          dc_n[e], g)
                din = din + (_reverse_within_lengths(dxd, self.lengths) if d else dxd)
                names = {"W_ih": "weight_ih", "W_hh": "weight_hh", "b_ih": "bias_ih",
                         "b_hh": "bias_hh", "W_hr": "weight_hr"}
                grads.update({names[k] + w["sfx"]: v for k, v in g.items()})
            dout = din
        return self._out(dout), (self._state(dh0), self._state(dc0)), grads

    def trace(self):
        """What the last forward computed inside each layer direction: a list
        (entry layer*D + direction) of dicts with "i", "f", "g", "o", "c" (T, B, H)
        and "h" (T, B, R), time-major, in time order, zero on padding steps."""
        out = []
        for e, tape in enumerate(self.tapes):
            entry = {}
            for key, src in zip("ifgoch", ("i", "f", "g", "o", "c_new", "h_new")):
                v = np.stack([np.where(s["act"], s[src], 0.0) for s in tape])
                entry[key] = _reverse_within_lengths(v, self.lengths) if e % self.D else v
            out.append(entry)
        return out

    def _out(self, a):
        if self.unbatched:
            return a[:, 0, :]
        return a.transpose(1, 0, 2) if self.batch_first else a

    def _state(self, s):
        return s[:, 0, :] if self.unbatched else s


def lstm_cell(params, x, hx=None, dh=None, dc=None):
    """torch.nn.LSTMCell: one step, x (B, I) or (I,), hx = (h, c) or None.
    Returns (h', c') and, given dh (and dc), the gradients
    (dx, (dh, dc), {parameter name: gradient}) of sum(h'*dh) + sum(c'*dc)."""
    x = np.asarray(x, dtype=np.float64)
    unbatched = x.ndim == 1
    x = x.reshape(1, -1) if unbatched else x
    B = x.shape[0]
    H = params["weight_hh"].shape[1]
    h, c = (np.zeros((B, H)), np.zeros((B, H))) if hx is None else \
        (np.asarray(hx[0], np.float64).reshape(B, H), np.asarray(hx[1], np.float64).reshape(B, H))
    sd = {"weight_ih_l0": params["weight_ih"], "weight_hh_l0": params["weight_hh"]}
    if params.get("bias_ih") is not None:
        sd.update(bias_ih_l0=params["bias_ih"], bias_hh_l0=params["bias_hh"])
    model = LSTM(sd)
    _, (h1, c1) = model.forward(x[None], (h[None], c[None]))
    shape = (H,) if unbatched else (B, H)
    out = (h1[0].reshape(shape), c1[0].reshape(shape))
    if dh is None:
        return out
    dh = np.asarray(dh, np.float64).reshape(1, B, H)
    dc = np.zeros_like(dh) if dc is None else np.asarray(dc, np.float64).reshape(1, B, H)
    dx, (dh0, dc0), grads = model.backward(None, dh, dc)
    grads = {k[:-3]: v for k, v in grads.items()}  # weight_ih_l0 -> weight_ih
    return out, (dx[0].reshape(x.shape[1:] if unbatched else x.shape),
                 (dh0[0].reshape(shape), dc0[0].reshape(shape)), grads)


# ---- Linear, losses, optimisers (torch's documented rules) -------------------


def linear(weight, bias, x, dy):
    """torch.nn.Linear: y = x W^T + b over any leading axes, and the gradients
    of sum(y*dy): dx, dW, db (None without bias)."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    W = np.asarray(weight, np.float64)
    y = x @ W.T + (0.0 if bias is None else np.asarray(bias, np.float64))
    x2, dy2 = x.reshape(-1, W.shape[1]), dy.reshape(-1, W.shape[0])
    return y, dy @ W, dy2.T @ x2, None if bias is None else dy2.sum(axis=0)


def embedding(weight, indices, dy, padding_idx=None):
    """torch.nn.Embedding: the rows of weight for the ids, and the gradient of
    sum(y*dy) with respect to weight, summed position by position (the
    padding_idx row gets none)."""
    W = np.asarray(weight, np.float64)
    idx = np.asarray(indices)
    y = np.stack([W[k] for k in idx.reshape(-1)]).reshape(idx.shape + W.shape[1:]) \
        if idx.size else np.zeros(idx.shape + W.shape[1:])
    dW = np.zeros_like(W)
    for k, row in zip(idx.reshape(-1), np.asarray(dy, np.float64).reshape(-1, W.shape[1])):
        if k != padding_idx:
            dW[k] += row
    return y, dW


def mse(pred, target, mask=None):
    """torch.nn.MSELoss() (mean) over the elements where mask is True, and its
    gradient with respect to pred."""
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    counted = np.ones(pred.shape, bool) if mask is None else np.broadcast_to(mask, pred.shape)
    n = counted.sum()
    diff = np.where(counted, pred - target, 0.0)
    return float((diff ** 2).sum() / n), 2 * diff / n


def cross_entropy(logits, labels, ignore_index=None):
    """torch.nn.CrossEntropyLoss() with classes on the last axis: the mean of
    -log softmax(z)[label] over positions whose label is not ignore_index, and
    its gradient (softmax - onehot) / n there."""
    z = np.asarray(logits, np.float64)
    labels = np.asarray(labels)
    C = z.shape[-1]
    z2, lab = z.reshape(-1, C), labels.reshape(-1)
    counted = np.ones(lab.shape, bool) if ignore_index is None else lab != ignore_index
    n = counted.sum()
    shifted = z2 - z2.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.flatnonzero(counted)
    loss = -logp[rows, lab[rows]].sum() / n
    d = np.exp(logp)
    d[rows, lab[rows]] -= 1
    d[~counted] = 0
    return float(loss), (d / n).reshape(z.shape)


class SGD:
    """torch.optim.SGD's algorithm (dampening 0, no Nesterov) on lists of arrays."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        self.params, self.lr, self.momentum, self.wd = params, lr, momentum, weight_decay
        self.buf = [None] * len(params)

    def step(self, grads):
        for j, (p, g) in enumerate(zip(self.params, grads)):
            g = g + self.wd * p if self.wd else g
            if self.momentum:
                self.buf[j] = g.copy() if self.buf[j] is None else self.momentum * self.buf[j] + g
                g = self.buf[j]
            p -= self.lr * g


class Adam:
    """torch.optim.Adam's algorithm (amsgrad off, L2 weight decay) on lists of arrays."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.params, self.lr, self.betas, self.eps, self.wd = params, lr, betas, eps, weight_decay
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        b1, b2 = self.betas
        self.t += 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            g = g + self.wd * p if self.wd else g
            m[...] = b1 * m + (1 - b1) * g
            v[...] = b2 * v + (1 - b2) * g * g
            denom = np.sqrt(v) / np.sqrt(1 - b2 ** self.t) + self.eps
            p -= self.lr / (1 - b1 ** self.t) * m / denom


def clip_grad_norm(grads, max_norm):
    """torch.nn.utils.clip_grad_norm_: scales the arrays in place by
    min(1, max_norm / (total + 1e-6)) and returns total, their joint L2 norm."""
    total = float(np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads)))
    coef = min(1.0, max_norm / (total + 1e-6))
    for g in grads:
        g *= coef
    return total
