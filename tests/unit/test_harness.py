"""The test harness itself: settings the in-process Debezium tests depend on."""

import faulthandler


def test_faulthandler_is_off_so_the_jvm_keeps_its_sigsegv_handler() -> None:
    # pytest's faulthandler plugin calls faulthandler.disable() at session end, which resets SIGSEGV
    # to SIG_DFL under the still-running JVM (tests/support/debezium_engine.py); the JVM raises SIGSEGV
    # on purpose, so the run then died at exit. pyproject's addopts turns the plugin off.
    assert not faulthandler.is_enabled()
