// Command jschat: a libstorage node (a "robot") chats with a browser-style JavaScript peer
// running js-waku's @waku/sds. The channel speaks the SDS spec dialect
// ("wire_format": "spec"), the only one @waku/sds reads. The JS node is
// tests/js-interop/harness.mjs under node, driven over a pipe with one JSON line per
// command; a real host would broadcast the wire bytes (Waku, WebSocket, ...).
//
// Run it with `make example-js-chat` (installs @waku/sds with npm on first use).
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os/exec"
	"time"

	storage "github.com/libstorage/libstorage/bindings/go"
)

const channel = "lobby"

// jsNode is the @waku/sds peer behind a pipe.
type jsNode struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	replies chan map[string]any
}

func startJS(harness string) *jsNode {
	cmd := exec.Command("node", harness)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		log.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatalf("cannot run node (install Node.js 20): %v", err)
	}
	js := &jsNode{cmd: cmd, stdin: stdin, replies: make(chan map[string]any)}
	go func() {
		lines := bufio.NewScanner(stdout)
		lines.Buffer(make([]byte, 0, 1<<16), 1<<24) // replies carry 18 KiB bloom filters
		for lines.Scan() {
			var reply map[string]any
			if err := json.Unmarshal(lines.Bytes(), &reply); err != nil {
				log.Fatalf("JS node: %v", err)
			}
			js.replies <- reply
		}
		close(js.replies)
	}()
	js.call(map[string]any{"op": "init", "channel": channel, "sender": "browser"})
	return js
}

// call sends one command and waits (at most 10 s) for its reply.
func (js *jsNode) call(command map[string]any) map[string]any {
	line, _ := json.Marshal(command)
	if _, err := fmt.Fprintf(js.stdin, "%s\n", line); err != nil {
		log.Fatalf("JS node: %v", err)
	}
	select {
	case reply, ok := <-js.replies:
		if !ok {
			log.Fatal("JS node exited")
		}
		if failed, ok := reply["failed"]; ok {
			log.Fatalf("JS node failed: %v", failed)
		}
		return reply
	case <-time.After(10 * time.Second):
		log.Fatalf("JS node did not answer %v", command["op"])
	}
	return nil
}

func (js *jsNode) close() {
	js.stdin.Close() // the harness leaves at the end of its input
	js.cmd.Wait()
}

// jsEvents prints what the JS channel reported with a reply.
func jsEvents(reply map[string]any) {
	events, _ := reply["events"].([]any)
	for _, e := range events {
		ev, _ := e.(map[string]any)
		switch ev["type"] {
		case "delivered":
			fmt.Printf("  browser: delivered     %v\n", ev["id"])
		case "acknowledged":
			fmt.Printf("  browser: acknowledged  %.16v...\n", ev["id"])
		}
	}
}

// robotEvents prints the robot's acknowledgements until it goes quiet, noting them in
// acked.
func robotEvents(robot *storage.Manager, acked map[string]bool) {
	for {
		select {
		case e := <-robot.Events():
			if e.Type == storage.MessageSent || e.Type == storage.PossiblyAcknowledged {
				fmt.Printf("  robot:   %-21s %s\n", e.Type, e.MessageID)
			}
			if e.Type == storage.MessageSent {
				acked[e.MessageID] = true
			}
		case <-time.After(100 * time.Millisecond):
			return
		}
	}
}

// robotSays wraps text on the spec channel and hands the bytes to the JS node.
func robotSays(robot *storage.Manager, js *jsNode, id, text string) {
	wire, err := robot.Wrap(channel, id, []byte(text))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("robot   -> %q (%d bytes, spec dialect)\n", text, len(wire))
	jsEvents(js.call(map[string]any{"op": "recv", "wire": base64.StdEncoding.EncodeToString(wire)}))
}

// browserSays has the JS node send text and gives its bytes to the robot.
func browserSays(robot *storage.Manager, js *jsNode, text string) {
	reply := js.call(map[string]any{"op": "send", "payload": base64.StdEncoding.EncodeToString([]byte(text))})
	jsEvents(reply)
	wire, err := base64.StdEncoding.DecodeString(reply["wire"].(string))
	if err != nil {
		log.Fatal(err)
	}
	got, err := robot.Unwrap(wire)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("browser -> %q: robot %s it (id %.16s...)\n", got.Content, got.Status, got.MessageID)
	if got.Status != storage.Delivered {
		log.Fatalf("expected the robot to deliver the browser's message, got %s", got.Status)
	}
}

func main() {
	harness := flag.String("harness", "../../tests/js-interop/harness.mjs", "the @waku/sds node script")
	flag.Parse()

	robot, err := storage.New(storage.Config{ParticipantID: "robot", WireFormat: "spec"})
	if err != nil {
		log.Fatal(err)
	}
	defer robot.Close()
	js := startJS(*harness)
	defer js.close()

	fmt.Println("libstorage", storage.Version(), "and @waku/sds on channel", channel)
	acked := map[string]bool{}
	robotSays(robot, js, "r1", "hello browser, robot 3 is charging")
	browserSays(robot, js, "thanks robot, noted") // its causal history acknowledges r1
	robotEvents(robot, acked)
	robotSays(robot, js, "r2", "robot 3 is back on patrol") // acknowledges the browser's
	browserSays(robot, js, "great")
	robotEvents(robot, acked)
	if !acked["r1"] || !acked["r2"] {
		log.Fatalf("the browser did not acknowledge both robot messages: %v", acked)
	}
}
