"""Sentence sentiment with negation: token ids -> Embedding -> LSTM -> Linear,
trained end to end with pylstm alone (NumPy, no PyTorch).

    python examples/text_classification.py [--steps 300] [--seed 0]

The sentences are synthetic, made of a small vocabulary: filler words ("the
film was really ..."), one sentiment word ("great", "boring", ...) and, in
half of them, a negation ("not", "never", "hardly") up to three words before
it ("not very good", "never really that dull"). The label is the sentiment
word's polarity, flipped when it is negated. Half the sentences are negated,
so the polarity of the sentiment word alone scores 50%, as does guessing, and
no bag of words does better: the label is an XOR of two words, and their
order matters ("good, not bad" has no negated sentiment word here, since the
negation must come before the word it flips). The LSTM must remember what
it read, up to the end of the sentence, whatever the filler after it.

Sentences have 4 to 16 words, padded with id 0 (the Embedding's padding_idx)
and read with ``lengths=``, so the LSTM's h_n is its state after each
sentence's last real word; a Linear layer maps it to two class scores.
"""

import argparse
import sys
import time

import numpy as np

import pylstm
from pylstm.losses import cross_entropy

PAD = "<pad>"
FILLER = ["the", "film", "movie", "plot", "was", "is", "it", "this", "acting", "story", "and",
          "a", "bit", "of", "with", "music", "overall", "ending", "cast", "felt"]
INTENSIFIERS = ["very", "really", "so", "that"]
POSITIVE = ["good", "great", "excellent", "wonderful", "fun", "brilliant", "moving", "superb"]
NEGATIVE = ["bad", "awful", "boring", "terrible", "dull", "poor", "weak", "tedious"]
NEGATIONS = ["not", "never", "hardly"]
VOCAB = [PAD] + FILLER + INTENSIFIERS + POSITIVE + NEGATIVE + NEGATIONS
ID = {w: i for i, w in enumerate(VOCAB)}
MIN_WORDS, MAX_WORDS = 4, 16


def sentence(rng):
    """(words, label, negated) of one random sentence; label 1 is positive."""
    positive = bool(rng.integers(2))
    negated = bool(rng.integers(2))
    core = [str(rng.choice(POSITIVE if positive else NEGATIVE))]
    if negated:
        between = [str(w) for w in rng.choice(INTENSIFIERS, rng.integers(0, 3), replace=False)]
        core = [str(rng.choice(NEGATIONS))] + between + core
    n = int(rng.integers(max(MIN_WORDS, len(core)), MAX_WORDS + 1))
    before = int(rng.integers(0, n - len(core) + 1))
    words = [str(w) for w in rng.choice(FILLER, n - len(core))]
    words[before:before] = core
    return words, int(positive != negated), negated


def batch(rng, size):
    """ids (size, MAX_WORDS) padded with 0, lengths (size,), labels (size,), negated (size,)."""
    ids = np.zeros((size, MAX_WORDS), np.int64)
    lengths = np.zeros(size, np.int64)
    labels = np.zeros(size, np.int64)
    negated = np.zeros(size, bool)
    for k in range(size):
        words, labels[k], negated[k] = sentence(rng)
        ids[k, :len(words)] = [ID[w] for w in words]
        lengths[k] = len(words)
    return ids, lengths, labels, negated


class SentimentModel:
    """Embedding(V, E, padding_idx=0) -> Dropout -> LSTM(E, H) -> Linear(H, 2)."""

    def __init__(self, embed=16, hidden=32, dropout=0.1, seed=0):
        self.embedding = pylstm.Embedding(len(VOCAB), embed, padding_idx=ID[PAD], seed=seed)
        self.dropout = pylstm.Dropout(dropout, seed=seed + 1)
        self.lstm = pylstm.LSTM(embed, hidden, batch_first=True, forget_bias=1.0, seed=seed + 2)
        self.head = pylstm.Linear(hidden, 2, seed=seed + 3)
        self.modules = [self.embedding, self.dropout, self.lstm, self.head]

    def scores(self, ids, lengths):
        """Class scores (B, 2), inference (no dropout)."""
        _, (h_n, _) = self.lstm(self.embedding(ids), lengths=lengths)
        return self.head(h_n[-1])

    def train_step(self, ids, lengths, labels):
        """Forward, backward; gradients left in the modules. Returns the loss."""
        e, e_cache = self.embedding.forward_train(ids)
        e, d_cache = self.dropout.forward_train(e)
        _, (h_n, _), l_cache = self.lstm.forward_train(e, lengths=lengths)
        z, h_cache = self.head.forward_train(h_n[-1])
        loss, d_z = cross_entropy(z, labels)
        d_h_n = np.zeros_like(h_n)
        d_h_n[-1] = self.head.backward(h_cache, d_z)
        d_e, _ = self.lstm.backward(l_cache, None, d_h_n)
        self.embedding.backward(e_cache, self.dropout.backward(d_cache, d_e))
        return loss


def main(steps=300, batch_size=64, lr=1e-2, seed=0, n_test=2000, quiet=False, out=sys.stdout):
    """Trains, then reports test accuracy overall and on negated sentences.

    Returns
    -------
    dict with "accuracy", "accuracy_negated", "accuracy_plain", "seconds", "losses"
    """
    rng = np.random.default_rng(seed)
    test_ids, test_lengths, test_labels, test_negated = batch(np.random.default_rng([seed, 1]),
                                                              n_test)
    model = SentimentModel(seed=seed)
    opt = pylstm.Adam(model.modules, lr=lr)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=out, flush=True))
    say(f"vocabulary of {len(VOCAB)} words, sentences of {MIN_WORDS}-{MAX_WORDS} words; "
        f"{steps} steps of {batch_size} sentences, Adam lr {lr:g}")
    losses = []
    start = time.perf_counter()
    for step in range(steps):
        ids, lengths, labels, _ = batch(rng, batch_size)
        opt.zero_grad()
        losses.append(model.train_step(ids, lengths, labels))
        pylstm.clip_grad_norm(model.modules, 1.0)
        opt.step()
        if (step + 1) % 50 == 0:
            say(f"step {step + 1:4d}: loss {np.mean(losses[-50:]):.4f}")
    seconds = time.perf_counter() - start
    pred = model.scores(test_ids, test_lengths).argmax(axis=1)
    right = pred == test_labels
    result = {"accuracy": float(right.mean()),
              "accuracy_negated": float(right[test_negated].mean()),
              "accuracy_plain": float(right[~test_negated].mean()),
              "seconds": seconds, "losses": losses}
    say(f"trained in {seconds:.1f} s")
    say(f"test accuracy {result['accuracy']:.3f} on {n_test} sentences (chance 0.5): "
        f"{result['accuracy_plain']:.3f} without negation, "
        f"{result['accuracy_negated']:.3f} with")
    for k in range(4):
        words = [VOCAB[i] for i in test_ids[k, :test_lengths[k]]]
        say(f"  {' '.join(words)!r}: {'positive' if pred[k] else 'negative'} "
            f"({'right' if right[k] else 'wrong'})")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args()
    main(steps=args.steps, seed=args.seed)
