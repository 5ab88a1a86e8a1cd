"""examples/text_classification.py: Embedding -> Dropout -> LSTM -> Linear
trained end to end on synthetic sentences with negation learns the task,
negated sentences included (the sentiment word's polarity alone scores 0.5)."""
import importlib.util
import io
import pathlib

import numpy as np

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "text_classification.py"


def load_example():
    spec = importlib.util.spec_from_file_location("text_classification", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_text_classification_example_learns_negation():
    example = load_example()
    out = io.StringIO()
    result = example.main(steps=150, seed=0, n_test=500, out=out)
    assert result["accuracy"] > 0.9
    assert result["accuracy_negated"] > 0.85 and result["accuracy_plain"] > 0.85
    assert result["losses"][-1] < 0.5 * result["losses"][0]
    assert "test accuracy" in out.getvalue()


def test_text_classification_sentences_follow_the_labelling_rule():
    """The data generator: the label is the sentiment word's polarity,
    flipped exactly when a negation precedes it."""
    example = load_example()
    rng = np.random.default_rng(3)
    negated_seen = 0
    for _ in range(300):
        words, label, negated = example.sentence(rng)
        assert example.MIN_WORDS <= len(words) <= example.MAX_WORDS
        sentiment = [i for i, w in enumerate(words)
                     if w in example.POSITIVE or w in example.NEGATIVE]
        assert len(sentiment) == 1
        k = sentiment[0]
        has_negation = any(w in example.NEGATIONS for w in words[max(0, k - 3):k])
        assert has_negation == negated == any(w in example.NEGATIONS for w in words)
        assert label == int((words[k] in example.POSITIVE) != negated)
        negated_seen += negated
    assert 100 < negated_seen < 200
