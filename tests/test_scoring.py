"""Both scoring paths (numpy, compiled loop) against a plain sum over the whole matrix.

The matrix holds counts; a posting's score is weight * tf / (tf + norm of its passage).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from unittest import mock

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import index as index_mod
from bot import scoring
from bot.retriever import Retriever
from bot.scoring import top_candidates


def fresh_python(code: str) -> str:
    """What `code` prints in a new interpreter (nothing imported or compiled before)."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


Question = tuple[sp.csc_matrix, np.ndarray, list[int], np.ndarray, int]


def _reference(
    matrix: sp.csc_matrix, norms: np.ndarray, columns: list[int], weights: np.ndarray
) -> np.ndarray:
    """Every passage's score: float32 sums, column by column, like the loop.

    In decreasing weight, ties by column, as both paths sum them (whatever the order
    asked): float32 addition is not associative, so the order is part of the result.
    """
    scores = np.zeros(matrix.shape[0], dtype=np.float32)
    order = sorted(range(len(columns)), key=lambda j: (-weights[j], columns[j]))
    for column, weight in ((columns[j], weights[j]) for j in order):
        start, end = matrix.indptr[column], matrix.indptr[column + 1]
        rows = matrix.indices[start:end]
        tf = matrix.data[start:end].astype(np.float32)
        scores[rows] += weight * tf / (tf + norms[rows])
    return scores


def _ones(passages: int) -> np.ndarray:
    return np.ones(passages, dtype=np.float32)


@st.composite
def questions(draw: st.DrawFn) -> Question:
    passages = draw(st.integers(1, 40))
    terms = draw(st.integers(1, 8))
    # Few distinct values, so equal scores (ties at the cut) are common; dense and
    # sparse matrices both (the loop handles a large touched share differently).
    values = st.sampled_from([0] * draw(st.integers(1, 30)) + [1, 2, 3])
    dense = np.array(
        draw(st.lists(values, min_size=passages * terms, max_size=passages * terms)),
        dtype=np.uint8,
    ).reshape(passages, terms)
    matrix = sp.csc_matrix(dense)
    matrix.sort_indices()
    norms = np.array(
        draw(st.lists(st.sampled_from([0.3, 1.0, 1.5]), min_size=passages, max_size=passages)),
        dtype=np.float32,
    )
    columns = draw(st.lists(st.integers(0, terms - 1), min_size=1, max_size=4, unique=True))
    weights = np.array(
        draw(st.lists(st.sampled_from([0.3, 1.0, 2.0]), min_size=len(columns), max_size=4))[
            : len(columns)
        ],
        dtype=np.float32,
    )
    return matrix, norms, columns, weights, draw(st.integers(1, 12))


@settings(max_examples=300, deadline=None)
@given(questions())
def test_returns_exactly_the_passages_at_or_above_the_kth_score(question: Question) -> None:
    matrix, norms, columns, weights, k = question
    expected = _reference(matrix, norms, columns, weights)
    scored = np.flatnonzero(expected)
    if scored.size > k:
        kth = np.sort(expected[scored])[::-1][k - 1]
        scored = scored[expected[scored] >= kth]
    # Twice each way: the second call finds the accumulators clean again; the compiled
    # loop with every question split between two threads, then with none, each
    # skipping postings whenever it can and never; then numpy.
    kernels = scoring.compiled()
    never = 10**9
    ways = [(0, kernels, 0), (0, kernels, 0), (scoring.SPLIT_POSTINGS, kernels, 0)]
    ways += [(scoring.SPLIT_POSTINGS, kernels, 0), (0, kernels, never)]
    ways += [(scoring.SPLIT_POSTINGS, kernels, never), (0, None, 0), (0, None, 0)]
    for split, loaded, least in ways:
        with (
            mock.patch.object(scoring, "SPLIT_POSTINGS", split),
            mock.patch.object(scoring, "_kernels", loaded),
            mock.patch.object(scoring, "_cpu_free", lambda: True),  # split on a busy machine too
            mock.patch.object(scoring, "PRUNE_POSTINGS", least),
            mock.patch.object(scoring, "PRUNE_RATIO", 0 if least == 0 else 16),
        ):
            positions, scores = top_candidates(matrix, norms, np.array(columns), weights, k)
        order = np.argsort(positions)
        assert positions[order].tolist() == scored.tolist()
        assert scores[order].tolist() == expected[scored].tolist()


def test_norms_of_many_lengths_score_the_same_through_two_byte_codes() -> None:
    # A corpus of passages of every length from 1 to 400 words: more distinct norms
    # than one-byte codes can name; the compiled loop reads them through two-byte codes
    # and still sums exactly what the norms give, whether the index passes the codes
    # or scoring makes them.
    rng = np.random.default_rng(3)
    norms = (1.2 * (0.25 + 0.75 * rng.permutation(np.arange(1, 401)) / 200)).astype(np.float32)
    codes, table = scoring.norm_codes(norms)
    assert codes.dtype == np.uint16 and table.size == 65536
    assert table[codes].tobytes() == norms.tobytes()
    matrix = sp.random(400, 5, density=0.5, format="csc", random_state=rng, dtype=np.float32)
    matrix.data = np.ceil(matrix.data * 4).astype(np.uint8)
    matrix.sort_indices()
    weights = np.array([1.5, 0.7], dtype=np.float32)
    expected = _reference(matrix, norms, [1, 3], weights)
    kth = np.sort(expected)[::-1][9]
    for coded in (None, (codes, table)):
        with mock.patch.object(scoring, "_kernels", scoring.compiled()):
            positions, scores = top_candidates(matrix, norms, np.array([1, 3]), weights, 10, coded)
        assert sorted(positions.tolist()) == np.flatnonzero(expected >= kth).tolist()
        assert scores.tolist() == expected[positions].tolist()


def test_a_split_question_does_not_wait_for_a_busy_helper_thread() -> None:
    # With the other CPU busy, the helper thread may not start its half for a while:
    # the question's own thread then scores that half too, with the same result.
    rng = np.random.default_rng(7)
    matrix = sp.random(500, 6, density=0.4, format="csc", random_state=rng, dtype=np.float32)
    matrix.data = np.ceil(matrix.data * 3).astype(np.uint8)
    matrix.sort_indices()
    norms = rng.uniform(0.3, 2.0, 500).astype(np.float32)
    columns, weights = np.array([0, 2, 5]), np.array([2.0, 1.0, 0.5], dtype=np.float32)
    expected = _reference(matrix, norms, [0, 2, 5], weights)
    kth = np.sort(expected)[::-1][4]
    release = threading.Event()
    timer = threading.Timer(30, release.set)  # never hangs the suite
    timer.start()
    try:
        busy = scoring._helper.submit(release.wait)
        with (
            mock.patch.object(scoring, "SPLIT_POSTINGS", 0),
            mock.patch.object(scoring, "_kernels", scoring.compiled()),
            mock.patch.object(scoring, "_cpu_free", lambda: True),
            mock.patch.object(scoring, "_score", wraps=scoring._score) as score,
        ):
            positions, scores = top_candidates(matrix, norms, columns, weights, 5)
        assert score.call_count == 2  # split in two halves, both scored here
        assert not busy.done()  # answered while the helper was still busy
    finally:
        release.set()
        timer.cancel()
    order = np.argsort(positions)
    assert positions[order].tolist() == np.flatnonzero(expected >= kth).tolist()
    assert scores[order].tolist() == expected[expected >= kth].tolist()


def test_skipping_hopeless_postings_keeps_the_hits_of_a_real_index(tmp_path: Path) -> None:
    # A word in every passage ("report") beside rarer ones, and passages written twice
    # (ties at the cut); k from 1 to more than there are passages.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rows = [f"Report {n}: the station measured ozone and {WORDS[n % 7]}." for n in range(300)]
    rows += [f"Report: {WORDS[n % 7]} {WORDS[(n + 3) % 7]} rose again." for n in range(40)] * 2
    lines = (json.dumps({"id": f"r{n}", "text": row}) for n, row in enumerate(rows))
    (corpus / "reports.jsonl").write_text("\n".join(lines), encoding="utf-8")  # a passage each
    index_mod.build(corpus, tmp_path / "index")
    retriever = Retriever(index_mod.load(tmp_path / "index"))
    kernels = scoring.compiled()
    accumulate = kernels.accumulate
    listed: list[int] = []

    def spy(*args: object) -> int:
        count: int = accumulate(*args)
        listed.append(count)
        return count

    questions = [f"report on {a} and {b}" for a in WORDS for b in ("ozone", "station", a)]
    found = {}
    for least in (10**9, 0):  # never, then whenever it can
        with (
            mock.patch.object(scoring, "_kernels", kernels),
            mock.patch.object(kernels, "accumulate", spy),
            mock.patch.object(scoring, "PRUNE_POSTINGS", least),
            mock.patch.object(scoring, "PRUNE_RATIO", 0 if least == 0 else 16),
        ):
            found[least] = [
                [(h.passage.id, h.score, h.matched) for h in retriever.search(q, k).hits]
                for q in questions
                for k in (1, 3, 10, 500)
            ]
    assert found[0] == found[10**9]
    assert [len(hits) for hits in found[0]] == [1, 3, 10, len(rows)] * len(questions)
    half = len(listed) // 2  # fewer passages left to the selection: postings were skipped
    assert sum(listed[half:]) < sum(listed[:half])


WORDS = ["nitrogen", "sulphur", "methane", "pollen", "dust", "radon", "smoke"]


def test_all_passages_tied_with_the_kth_are_kept() -> None:
    matrix = sp.csc_matrix(np.array([[1], [2], [2], [2], [1]], dtype=np.uint8))
    norms = np.array([3, 2, 2, 2, 3], dtype=np.float32)
    weight = np.array([3.0], np.float32)
    positions, scores = top_candidates(matrix, norms, np.array([0]), weight, 2)
    assert sorted(positions.tolist()) == [1, 2, 3]
    assert scores.tolist() == [1.5, 1.5, 1.5]  # 3 * 2 / (2 + 2)


def test_no_posting_gives_nothing() -> None:
    matrix = sp.csc_matrix((3, 2), dtype=np.uint8)
    positions, scores = top_candidates(
        matrix, _ones(3), np.array([0, 1]), np.ones(2, np.float32), 3
    )
    assert positions.size == 0 and scores.size == 0


def test_small_questions_do_not_load_the_compiled_loop() -> None:
    # A one-shot `ask` on a small corpus must not pay a second for numba.
    code = (
        "import sys, numpy as np, scipy.sparse as sp\n"
        "from bot import scoring\n"
        "m = sp.csc_matrix(np.eye(4, dtype=np.uint8))\n"
        "n = np.ones(4, np.float32)\n"
        "p, s = scoring.top_candidates(m, n, np.array([1, 2]), np.ones(2, np.float32), 1)\n"
        "assert sorted(p.tolist()) == [1, 2], p\n"
        "print('numba' in sys.modules)\n"
    )
    assert fresh_python(code) == "False"


def test_engines_warm_the_compiled_loop_only_for_large_indexes(shipped_engine) -> None:
    assert shipped_engine.warm_up() is None  # a small corpus: numpy answers everything
    with mock.patch.object(scoring, "WARM_POSTINGS", 0), mock.patch.object(scoring, "_kernels"):
        scoring._kernels = None
        thread = shipped_engine.warm_up()
        assert thread is not None
        thread.join(timeout=120)
        assert scoring._kernels is not None
        assert shipped_engine.ask("What is PESCO?").answered


def test_a_long_session_loads_the_compiled_loop_once_numpy_has_cost_as_much() -> None:
    # A process asking many questions (`ask -`) must not sum with numpy forever.
    code = (
        "import sys, numpy as np, scipy.sparse as sp\n"
        "from bot import scoring\n"
        "scoring.NUMPY_SECONDS = 0.001\n"
        "m = sp.csc_matrix(np.ones((200_000, 1), dtype=np.uint8))\n"
        "n = np.ones(200_000, np.float32)\n"
        "for _ in range(3):\n"
        "    scoring.top_candidates(m, n, np.array([0]), np.ones(1, np.float32), 1)\n"
        "print(scoring._kernels is not None)\n"
    )
    assert fresh_python(code) == "True"


@settings(max_examples=200, deadline=None)
@given(questions(), st.lists(st.integers(0, 45), max_size=12))
def test_listed_tells_which_columns_hold_each_passage(question: Question, passages) -> None:
    matrix, _, columns, _, _ = question
    dense = matrix.toarray()
    wanted = np.array(passages, dtype=np.int64)
    expected = [[p < dense.shape[0] and dense[p, c] != 0 for p in passages] for c in columns]
    for loaded in (scoring.compiled(), None):  # the compiled search, then numpy's
        with mock.patch.object(scoring, "_kernels", loaded):
            found = scoring.listed(matrix, np.array(columns), wanted)
        assert found.shape == (len(columns), len(passages))
        assert found.tolist() == expected
