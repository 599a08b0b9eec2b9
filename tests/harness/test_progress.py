"""The progress line (milestones/progress.py): in place in a terminal, throttled lines in a log, one
replaced output in a notebook."""

import io

from milestones import progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_line_is_rewritten_in_place_and_ended_once():
    out = Terminal()
    with progress.Line(every=0.0, stream=out) as line:
        line.update("step 10  loss 1.234")
        line.update("step 20  loss 0.5")
    text = out.getvalue()
    assert text == "\rstep 10  loss 1.234" + "\rstep 20  loss 0.5" + " " * 2 + "\n"  # padded over the longer line


def test_a_log_gets_whole_lines_at_most_every_log_every_seconds_and_the_last_state_at_close():
    out = io.StringIO()
    line = progress.Line(log_every=3600, stream=out)
    for step in range(1, 101):
        line.update(f"step {step}")
    line.close()
    assert out.getvalue().splitlines() == ["step 1", "step 100"]


def test_forced_updates_are_always_shown_and_repeats_are_not():
    out = io.StringIO()
    line = progress.Line(log_every=3600, stream=out)
    line.update("a", force=True)
    line.update("b", force=True)
    line.update("b", force=True)
    line.close("done")
    assert out.getvalue().splitlines() == ["a", "b", "done"]


def test_in_a_notebook_one_output_is_displayed_then_updated(monkeypatch):
    shown = []

    class Handle:
        def update(self, data, raw):
            shown.append(("update", data["text/plain"]))

    def display(data, raw, display_id):
        assert raw and display_id
        shown.append(("display", data["text/plain"]))
        return Handle()

    import IPython.display
    monkeypatch.setattr(progress, "_in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", display)
    with progress.Line(every=0.0) as line:
        line.update("step 1")
        line.update("step 2")
    assert shown == [("display", "step 1"), ("update", "step 2")]
