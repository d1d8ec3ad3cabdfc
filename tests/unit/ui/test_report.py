"""Reporter: plain prefixed lines on a non-terminal stream, markup in messages shown literally."""

import io

from u7s.ui.report import Reporter


def test_lines_are_prefixed_and_marked():
    stream = io.StringIO()
    report = Reporter("host1", stream=stream)
    report.info("staging")
    report.done("started")
    report.warn("lingering off")
    report.error("failed")
    report.skip("already up")
    assert stream.getvalue().splitlines() == [
        "host1 - staging", "host1 ✓ started", "host1 ! lingering off", "host1 ✗ failed", "host1 = already up",
    ]


def test_markup_in_messages_is_not_interpreted():
    stream = io.StringIO()
    Reporter("[h]", stream=stream).info("value [red]x[/red] and [bold]")
    assert stream.getvalue() == "[h] - value [red]x[/red] and [bold]\n"


def test_step_prints_a_start_line_and_its_duration_when_not_on_a_terminal():
    stream = io.StringIO()
    with Reporter(stream=stream).step("kubeadm init"):
        pass
    first, second = stream.getvalue().splitlines()
    assert first == "- kubeadm init ..."
    assert second.startswith("✓ kubeadm init (") and second.endswith("s)")
