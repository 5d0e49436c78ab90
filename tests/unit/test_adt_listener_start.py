"""The MLLP listener's start: the first process waits for its workers' word that they serve, and no longer than
it must (a worker that died closes its end of the pipe unwritten)."""

import os
import time

from transitions.adt.listener import _tell_ready, wait_for_children


def test_the_wait_counts_the_workers_that_serve_and_ends_when_the_others_have_died():
    ready_read, ready_write = os.pipe()
    dead_workers_end = os.dup(ready_write)
    _tell_ready(ready_write)  # one worker serves
    os.close(dead_workers_end)  # the other died before it served
    started = time.monotonic()
    assert wait_for_children(ready_read, 2, timeout=30) == 1
    assert time.monotonic() - started < 5
    os.close(ready_read)


def test_the_wait_gives_up_after_its_timeout_on_a_worker_that_never_answers():
    ready_read, ready_write = os.pipe()
    started = time.monotonic()
    assert wait_for_children(ready_read, 1, timeout=0.2) == 0
    assert 0.2 <= time.monotonic() - started < 5
    os.close(ready_read)
    os.close(ready_write)


def test_a_worker_that_answers_after_the_first_process_stopped_waiting_is_not_hurt():
    ready_read, ready_write = os.pipe()
    os.close(ready_read)
    _tell_ready(ready_write)  # EPIPE (SIGPIPE is ignored by Python) is swallowed, not raised
