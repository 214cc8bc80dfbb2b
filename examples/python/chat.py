"""Alice and Bob chat on one channel through libstorage. The "transport" is a direct
hand-over of the wire bytes; a real host would broadcast them (UDP, Zenoh, ...).

Run with `make example-python`, or with the binding on PYTHONPATH:
    PYTHONPATH=bindings/python python3 examples/python/chat.py
"""

from __future__ import annotations

import libstorage_sds as storage


def say(sender: storage.Manager, receiver: storage.Manager, name: str, mid: str, text: str) -> None:
    """Wraps text from one participant and hands the wire bytes to the other."""
    wire = sender.wrap("chat", mid, text.encode())
    receiver.unwrap(wire)
    print(f"{name:<5} -> {text!r} ({len(wire)} bytes on the wire)")


def show(name: str, manager: storage.Manager) -> None:
    """Prints the events a participant has had, until it goes quiet."""
    for event in manager.events(timeout=0.1):
        print(f"  {name}: {event.type:<13} {event.message_id} {event.content.decode()!r}")


def main() -> None:
    print("libstorage", storage.version())
    with (
        storage.Manager(participant_id="alice") as alice,
        storage.Manager(participant_id="bob") as bob,
    ):
        say(alice, bob, "alice", "a1", "hi bob, robot 3 is charging")
        show("bob", bob)
        say(bob, alice, "bob", "b1", "thanks, rerouting robot 5")
        show("alice", alice)  # Bob's reply acknowledges a1: message_sent


if __name__ == "__main__":
    main()
