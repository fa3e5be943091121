"""The crash-loop guard of the driver manager: which host losses give a driver up."""

from sugo.daemon.drivers import CRASH_LIMIT, CRASH_WINDOW, HEALTHY_AFTER, CrashLoop


def test_a_host_that_never_gets_ready_is_given_up_on_the_fifth_loss() -> None:
    guard = CrashLoop()
    assert [guard.lost(t, None) for t in range(CRASH_LIMIT)] == [False] * 4 + [True]


def test_hosts_lost_soon_after_becoming_ready_count() -> None:
    guard = CrashLoop()
    # Each host is ready 2 s after the previous loss and lost 8 s later.
    ends = [10.0 * (i + 1) for i in range(CRASH_LIMIT)]
    assert [guard.lost(t, t - 8) for t in ends] == [False] * 4 + [True]


def test_losses_spread_over_more_than_the_window_are_not_a_loop() -> None:
    guard = CrashLoop()
    step = CRASH_WINDOW / (CRASH_LIMIT - 1)  # the fifth loss is a full window after the first
    assert not any(guard.lost(i * step, None) for i in range(3 * CRASH_LIMIT))


def test_a_host_that_was_healthy_for_a_minute_does_not_count() -> None:
    guard = CrashLoop()
    for t in range(CRASH_LIMIT - 1):
        assert not guard.lost(t, None)
    # This host was ready for a full minute: its loss is no part of a loop,
    # and the count starts afresh.
    t = 30.0
    assert not guard.lost(t, t - HEALTHY_AFTER)
    assert [guard.lost(t + 1 + i, None) for i in range(CRASH_LIMIT)] == [False] * 4 + [True]


def test_healthy_hosts_lost_often_are_never_given_up() -> None:
    guard = CrashLoop()
    # Lost every 61 s, each after 60 s of being ready: days of restarts, no give-up.
    assert not any(guard.lost(61.0 * i, 61.0 * i - 60.0) for i in range(1, 2000))


def test_clear_forgets_the_losses() -> None:
    guard = CrashLoop()
    for t in range(CRASH_LIMIT - 1):
        guard.lost(t, None)
    guard.clear()
    assert not guard.lost(CRASH_LIMIT, None)
