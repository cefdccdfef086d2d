"""What a setting affects: the words each `setting(affects=...)` declares from.

Every subset of the settings is derived from these declarations rather than kept by hand: the
settings a fit's recipe holds (`settings.affecting`), those that change no result and so are
left out of a run's recipe and of a value's content (`settings.result_free`), the files a run
reads, the options that mean the generated data. A setting forgotten in a hand-kept list would
have let the fit cache hand back a stale fit with no error.
"""

from __future__ import annotations

DATA = "data"
GENERATED = "generated"
HOLDOUT = "holdout"
FOLDS = "folds"
SAMPLES = "samples"
MODELS = "models"
THRESHOLD = "threshold"
REPORT = "report"
PROMOTION = "promotion"
THREADS = "threads"
PLACES = "places"
WHERE = "where"
AFFECTS = {
    DATA: "what is read from the files and how: columns, parsing, labels, the contract",
    GENERATED: "the embedded generated data, read when no --data is given",
    HOLDOUT: "which rows are held out",
    FOLDS: "how the training split is cut into folds",
    SAMPLES: "each fold's preprocessing and resampled training rows",
    MODELS: "the fitted trees",
    THRESHOLD: "the decision threshold and what the holdout judges it by",
    REPORT: "what the report shows, and nothing it is computed from",
    PROMOTION: "which model serves: whether a retrained one replaces it, how one waiting is tried",
    THREADS: "how many threads a fit uses; fits are reused across it",
    PLACES: "where files and values are kept; what they hold is versioned on its own",
    WHERE: "where and when steps run, never what they compute",
}
# Settings that affect only these change no result: a run's recipe and a value's content leave
# them out (a run's recipe keeps PLACES: a run that wrote elsewhere did not write here).
NO_RESULT = frozenset({PLACES, WHERE})


def declared(affects: str | tuple[str, ...]) -> frozenset[str]:
    """The words of one declaration, checked against the vocabulary."""
    words = frozenset((affects,) if isinstance(affects, str) else affects)
    if not words or not words <= AFFECTS.keys():
        raise ImportError(f"a setting affects one or more of {', '.join(AFFECTS)}: {affects!r}")
    return words
