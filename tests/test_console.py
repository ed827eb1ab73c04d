import io

from bot.console import HELP, Console


def session(engine, text):
    out = io.StringIO()
    code = Console(engine, io.StringIO(text), out).run()
    return code, out.getvalue()


def test_console_answers_and_exits_zero_at_end_of_input(shipped_engine):
    code, out = session(shipped_engine, "What is PESCO?\n")
    assert code == 0
    assert "Permanent Structured Cooperation" in out
    assert "? " not in out  # no prompt when not on a terminal


def test_more_shows_the_next_results_then_says_when_there_are_none(shipped_engine):
    console = Console(shipped_engine, io.StringIO(), io.StringIO())
    console.handle("cyber resilience")
    first = console.handle(":more")
    assert first.startswith("2. ")
    assert "3. " in first
    for _ in range(20):
        last = console.handle(":more")
    assert last == "No more results."


def test_more_after_two_questions_skips_the_passages_already_quoted(shipped_engine):
    console = Console(shipped_engine, io.StringIO(), io.StringIO())
    reply = console.handle("What is PESCO? What does the EU offer Ukraine?")
    more = console.handle(":more")
    assert reply.count("\n— ") == 2  # each answer quotes its own passage
    assert not more.startswith(("1. ", "2. "))  # the next result is the third
    quoted = [q.hit.passage.text for q in shipped_engine.ask(console._last.question).quotes]
    assert len(quoted) == 2 and not any(text in more for text in quoted)


def test_more_is_offered_only_when_there_are_passages_not_quoted(shipped_engine):
    console = Console(shipped_engine, io.StringIO(), io.StringIO())
    console.interactive = True  # as on a terminal
    both = console.handle("what is PESCO and when did Russia invade Ukraine?")
    assert len(console._last.hits) == console._last.shown == 2  # both passages quoted
    assert ":more" not in both
    assert console.handle(":more") == "No more results."
    assert "(:more for other results)" in console.handle("cyber resilience")


def test_more_before_any_question_explains_itself(shipped_engine):
    assert "Ask a question first" in Console(shipped_engine, io.StringIO(), io.StringIO()).handle(
        ":more"
    )


def test_sources_help_and_quit(shipped_engine):
    code, out = session(shipped_engine, ":sources\n:help\n:quit\nWhat is PESCO?\n")
    assert code == 0
    assert "cybersecurity-eu-external-action.txt" in out
    assert HELP in out
    assert "Permanent" not in out  # nothing after :quit


def test_unknown_commands_and_blank_lines(shipped_engine):
    code, out = session(shipped_engine, ":bogus\n\n   \n")
    assert code == 0
    assert "Unknown command :bogus" in out


def test_piped_sessions_print_answers_only(shipped_engine):
    code, out = session(shipped_engine, "What is PESCO?\nWhat is the cyber diplomacy toolbox?\n")
    assert code == 0
    assert "Permanent Structured Cooperation" in out
    assert ":more" not in out and ":help" not in out


def test_an_index_damaged_under_the_console_is_one_error_line_and_it_goes_on(small_engine):
    small_engine.check_interval = 0
    (small_engine.retriever.index.path / "idf.npy").write_bytes(b"")
    code, out = session(small_engine, "Where are offshore wind farms built?\n:help\n")
    assert code == 0
    assert out.startswith("Error: ") and "idf.npy" in out and "python -m bot build" in out
    assert HELP in out  # still running


def test_sources_lists_only_documents_that_hold_text(tmp_path):
    from tests.conftest import SMALL_TEXT, settings_for

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "energy.txt").write_text(SMALL_TEXT)
    (corpus / "empty.md").write_text("   \n\n")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    from bot.engine import Engine

    engine = Engine.open(settings_for(corpus))
    code, out = session(engine, ":sources\n")
    assert code == 0
    assert out.split() == ["energy.txt"]
