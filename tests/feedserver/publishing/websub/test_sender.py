"""The hub's sender: one per-host limit per address, however the callback spells it."""

from __future__ import annotations

import threading
import time

import pytest

from feedserver.publishing.websub.deliver import HubSettings, Sender

SPELLINGS = [
    "http://127.0.0.1:9511/a",
    "http://127.1:9511/b",
    "http://0x7f.1:9511/c",
    "http://2130706433:9511/d",
    "http://0177.0.0.1:9511/e",
    "https://127.0.0.1:8443/f",  # another port and scheme of the same address
    "http://127.0.0.1/g",
]


@pytest.fixture
def sender():
    sender = Sender(HubSettings(per_host=1))
    yield sender
    sender.close()


def test_every_spelling_of_one_address_shares_its_slots(sender):
    # Keyed on the URL's text, each spelling had its own 8 slots: slow callbacks
    # under six spellings held every sender and delayed everyone's deliveries.
    slots = {id(sender._slot(url)) for url in SPELLINGS}
    assert len(slots) == 1
    assert sender._slot("http://127.0.0.2:9511/") is not sender._slot(SPELLINGS[0])


def test_a_second_spelling_waits_for_the_first(sender):
    held = sender._slot(SPELLINGS[0])
    held.acquire()
    entered = threading.Event()

    def other() -> None:
        with sender._slot(SPELLINGS[2]):
            entered.set()

    thread = threading.Thread(target=other)
    thread.start()
    time.sleep(0.2)
    assert not entered.is_set()  # the address's one slot is taken
    held.release()
    assert entered.wait(5)
    thread.join(5)


def test_a_host_that_does_not_resolve_counts_as_itself(sender):
    first = sender._slot("http://no-such-host.invalid/x")
    assert first is sender._slot("http://NO-SUCH-HOST.invalid:81/y")
    assert first is not sender._slot(SPELLINGS[0])
