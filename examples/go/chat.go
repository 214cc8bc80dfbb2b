// Command chat: Alice and Bob chat on one channel through libstorage. The "transport" is
// a direct hand-over of the wire bytes; a real host would broadcast them (UDP, Zenoh, ...).
package main

import (
	"fmt"
	"log"
	"time"

	storage "github.com/libstorage/libstorage/bindings/go"
)

// say wraps text from one participant and hands the wire bytes to the other.
func say(from, to *storage.Manager, name, id, text string) {
	wire, err := from.Wrap("chat", id, []byte(text))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := to.Unwrap(wire); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%-5s -> %q (%d bytes on the wire)\n", name, text, len(wire))
}

// show prints the events a participant has had, until it goes quiet.
func show(name string, m *storage.Manager) {
	for {
		select {
		case e := <-m.Events():
			fmt.Printf("  %s: %-13s %s %q\n", name, e.Type, e.MessageID, e.Content)
		case <-time.After(100 * time.Millisecond):
			return
		}
	}
}

func main() {
	alice, err := storage.New(storage.Config{ParticipantID: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()
	bob, err := storage.New(storage.Config{ParticipantID: "bob"})
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Close()

	fmt.Println("libstorage", storage.Version())
	say(alice, bob, "alice", "a1", "hi bob, robot 3 is charging")
	show("bob", bob)
	say(bob, alice, "bob", "b1", "thanks, rerouting robot 5")
	show("alice", alice) // Bob's reply acknowledges a1: message_sent
}
