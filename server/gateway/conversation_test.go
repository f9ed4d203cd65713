package gateway

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// The history replayed on a new stream follows Nova Sonic's rules: the latest messages only, the first
// one the user's, roles alternating, each message within its size limit and still valid UTF-8.
func TestReplayedHistoryIsWhatNovaSonicAccepts(t *testing.T) {
	t.Run("consecutive messages of one role are merged, blank ones ignored", func(t *testing.T) {
		var c conversation
		c.addHistory("USER", " hello ")
		c.addHistory("USER", "there")
		c.addHistory("ASSISTANT", "   ")
		c.addHistory("ASSISTANT", "hi")
		c.addHistory("ASSISTANT", "how can I help?")
		want := []historyMessage{{role: "USER", text: "hello there"}, {role: "ASSISTANT", text: "hi how can I help?"}}
		if got := normalizedHistory(c.history); !reflect.DeepEqual(got, want) {
			t.Fatalf("history = %+v, want %+v", got, want)
		}
	})

	t.Run("a history that starts with the assistant starts at the user's first message", func(t *testing.T) {
		var c conversation
		c.addHistory("ASSISTANT", "Welcome!")
		c.addHistory("USER", "thanks")
		c.addHistory("ASSISTANT", "sure")
		want := []historyMessage{{role: "USER", text: "thanks"}, {role: "ASSISTANT", text: "sure"}}
		if got := normalizedHistory(c.history); !reflect.DeepEqual(got, want) {
			t.Fatalf("history = %+v, want %+v", got, want)
		}
	})

	t.Run("only the latest 40 messages, still starting with the user", func(t *testing.T) {
		var c conversation
		for i := range 101 { // USER 0, ASSISTANT 1, …, USER 100
			role := "USER"
			if i%2 == 1 {
				role = "ASSISTANT"
			}
			c.addHistory(role, fmt.Sprint(i))
		}
		got := normalizedHistory(c.history)
		// The latest 40 are 61…100; 61 is the assistant's, so the replay starts at 62.
		if len(got) != 39 || got[0] != (historyMessage{role: "USER", text: "62"}) || got[38] != (historyMessage{role: "USER", text: "100"}) {
			t.Fatalf("history has %d messages from %+v to %+v, want 39 from USER 62 to USER 100", len(got), got[0], got[len(got)-1])
		}
		for i := 1; i < len(got); i++ {
			if got[i].role == got[i-1].role {
				t.Fatalf("messages %d and %d are both %s", i-1, i, got[i].role)
			}
		}
		if len(c.history) > 2*historyMaxMessages {
			t.Fatalf("the conversation keeps %d messages, want at most %d", len(c.history), 2*historyMaxMessages)
		}
	})

	t.Run("a long message is cut to 1 KiB on a character boundary", func(t *testing.T) {
		var c conversation
		long := strings.Repeat("a", historyMaxMessageBytes-1) + "é and more" // é straddles the limit
		c.addHistory("USER", long)
		got := normalizedHistory(c.history)[0].text
		if got != strings.Repeat("a", historyMaxMessageBytes-1) || !utf8.ValidString(got) {
			t.Fatalf("cut to %d bytes ending %q, want the %d bytes before é", len(got), got[len(got)-3:], historyMaxMessageBytes-1)
		}
		short := "ünïcode"
		if cutUTF8(short, 100) != short || cutUTF8(short, 2) != "ü" || cutUTF8(short, 1) != "" {
			t.Fatal("cutUTF8 must keep short text whole and never split a character")
		}
	})
}
