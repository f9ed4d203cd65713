package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// withMetrics gives a gateway its own metrics, for tests to read.
func withMetrics(m **Metrics) func(*Options) {
	return func(o *Options) {
		*m = NewMetrics(prometheus.NewRegistry())
		o.Metrics = *m
	}
}

func refusals(m *Metrics, limit string) float64 {
	return testutil.ToFloat64(m.LimitRefusals.WithLabelValues(limit))
}

// dialStatus dials url and returns the HTTP status of the handshake and its Retry-After.
func dialStatus(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err == nil {
		t.Cleanup(func() { conn.Close() })
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// Sockets that have not authenticated are connections, not conversations: they cost no Bedrock stream,
// and counting them would let anyone inflate the autoscaling signal without signing in.
func TestOnlyAuthenticatedSessionsCountAsConversations(t *testing.T) {
	var m *Metrics
	gw, hs := startGateway(t, &fakeModel{}, withMetrics(&m))
	for range 3 {
		dial(t, hs, "")
	}
	dial(t, hs, "Bearer user-1")
	waitFor(t, func() bool { return gw.OpenConnections() == 4 })
	if gw.ActiveSessions() != 1 || testutil.ToFloat64(m.ConversationsActive) != 1 || testutil.ToFloat64(m.ConnectionsOpen) != 4 {
		t.Fatalf("ActiveSessions %d, conversations gauge %v, connections gauge %v; want 1, 1, 4",
			gw.ActiveSessions(), testutil.ToFloat64(m.ConversationsActive), testutil.ToFloat64(m.ConnectionsOpen))
	}
}

// A full gateway tells the load balancer (/ready), refuses upgrades with 503, and closes a connection
// that authenticates anyway (it was upgraded before the gateway filled up) with 1013.
func TestAFullGatewayRefusesNewConversations(t *testing.T) {
	var m *Metrics
	gw, hs := startGateway(t, &fakeModel{}, withMetrics(&m), func(o *Options) { o.Limits.MaxConversations = 2 })
	waiting := dial(t, hs, "") // upgraded while there is room
	dial(t, hs, "Bearer user-1")
	dial(t, hs, "Bearer user-2")

	if got := getStatus(t, hs.URL+"/ready"); got != http.StatusServiceUnavailable || gw.Ready() {
		t.Fatalf("/ready of a full gateway = %d, want 503", got)
	}
	if status, retry := dialStatus(t, wsURL(hs), nil); status != http.StatusServiceUnavailable || retry == "" {
		t.Fatalf("upgrade at the limit = %d (Retry-After %q), want 503 with Retry-After", status, retry)
	}
	send(t, waiting, `{"type":"authorization","token":"Bearer user-3"}`)
	frames, code := readToClose(t, waiting)
	if e := lastError(t, frames); code != int(CloseTryAgainLater) || !e.Retryable {
		t.Fatalf("authorization at the limit: close %d, %+v; want 1013, retryable", code, e)
	}
	if refusals(m, LimitConversations) != 2 {
		t.Fatalf("refusals counted: %v, want 2", refusals(m, LimitConversations))
	}
}

// One user may hold a few conversations, not open streams on the owner's bill without end.
func TestAUserMayHoldOnlySoManyConversations(t *testing.T) {
	var m *Metrics
	_, hs := startGateway(t, &fakeModel{}, withMetrics(&m), func(o *Options) { o.Limits.MaxConversationsPerUser = 2 })
	dial(t, hs, "Bearer alice")
	dial(t, hs, "Bearer alice")
	dial(t, hs, "Bearer bob") // another user is not affected

	third := dial(t, hs, "")
	send(t, third, `{"type":"authorization","token":"Bearer alice"}`)
	frames, code := readToClose(t, third)
	if e := lastError(t, frames); code != int(CloseTooManyForUser) || e.Retryable || !strings.Contains(e.Message, "2 conversations") {
		t.Fatalf("alice's third conversation: close %d, %+v; want 4409, not retryable, naming the limit", code, e)
	}
	if refusals(m, LimitConversationsPerUser) != 1 {
		t.Fatal("the refusal was not counted")
	}
}

// Behind CloudFront every connection comes from the VPC origin's addresses: the limit must count the
// viewer's address from CloudFront-Viewer-Address, and only when the gateway was told to trust it.
func TestConnectionsAreLimitedPerClientAddress(t *testing.T) {
	viewer := func(addr string) http.Header { return http.Header{"Cloudfront-Viewer-Address": {addr}} }
	t.Run("behind CloudFront", func(t *testing.T) {
		var m *Metrics
		_, hs := startGateway(t, &fakeModel{}, withMetrics(&m), func(o *Options) {
			o.Limits.MaxConnectionsPerAddress = 2
			o.ClientAddressHeader = "CloudFront-Viewer-Address"
		})
		url := wsURL(hs)
		for i, c := range []struct {
			header http.Header
			want   int
		}{
			{viewer("198.51.100.7:1000"), http.StatusSwitchingProtocols},
			{viewer("198.51.100.7:2000"), http.StatusSwitchingProtocols},
			{viewer("198.51.100.7:3000"), http.StatusTooManyRequests}, // same viewer, another port
			{viewer("198.51.100.8:1000"), http.StatusSwitchingProtocols},
			{viewer("2001:db8:1:2::1:443"), http.StatusSwitchingProtocols},
			{viewer("2001:db8:1:2::ffff:443"), http.StatusSwitchingProtocols},
			{viewer("2001:db8:1:2:aaaa::1:443"), http.StatusTooManyRequests}, // the same /64
		} {
			if status, _ := dialStatus(t, url, c.header); status != c.want {
				t.Fatalf("connection %d from %s = %d, want %d", i, c.header.Get("Cloudfront-Viewer-Address"), status, c.want)
			}
		}
		if refusals(m, LimitConnectionsPerAddr) != 2 {
			t.Fatalf("refusals counted: %v, want 2", refusals(m, LimitConnectionsPerAddr))
		}
	})
	t.Run("reached directly, the header is not trusted", func(t *testing.T) {
		_, hs := startGateway(t, &fakeModel{}, func(o *Options) { o.Limits.MaxConnectionsPerAddress = 2 })
		url := wsURL(hs)
		for i, want := range []int{http.StatusSwitchingProtocols, http.StatusSwitchingProtocols, http.StatusTooManyRequests} {
			if status, _ := dialStatus(t, url, viewer(fmt.Sprintf("203.0.113.%d:1", i))); status != want {
				t.Fatalf("connection %d claiming its own address = %d, want %d: the peer address counts", i, status, want)
			}
		}
	})
}

// A closed connection frees its place under the per-address limit.
func TestAClosedConnectionFreesItsAddressPlace(t *testing.T) {
	gw, hs := startGateway(t, &fakeModel{}, func(o *Options) { o.Limits.MaxConnectionsPerAddress = 1 })
	first := dial(t, hs, "")
	waitFor(t, func() bool { return gw.OpenConnections() == 1 })
	first.Close()
	waitFor(t, func() bool { return gw.OpenConnections() == 0 })
	if status, _ := dialStatus(t, wsURL(hs), nil); status != http.StatusSwitchingProtocols {
		t.Fatalf("a new connection after the first closed = %d, want 101", status)
	}
}

// New connections are rate-limited per gateway, with bursts of twice the rate.
func TestNewConnectionsAreRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m *Metrics
		gw := startVirtualGateway(t, &fakeModel{}, defaultTiming, withMetrics(&m), func(o *Options) {
			o.Limits.NewConnectionsPerSecond = 1
		})
		dialStatus := func() int {
			conn, resp, err := gw.dialer.Dial("ws://gateway.test"+InteractPath, nil)
			if err == nil {
				t.Cleanup(func() { conn.Close() })
			}
			return resp.StatusCode
		}
		for i, want := range []int{http.StatusSwitchingProtocols, http.StatusSwitchingProtocols, http.StatusTooManyRequests} {
			if got := dialStatus(); got != want {
				t.Fatalf("connection %d at once = %d, want %d (burst of 2)", i, got, want)
			}
		}
		time.Sleep(time.Second)
		if got := dialStatus(); got != http.StatusSwitchingProtocols {
			t.Fatalf("a connection a second later = %d, want 101", got)
		}
		if refusals(m, LimitConnectionRate) != 1 {
			t.Fatal("the refusal was not counted")
		}
	})
}

// A session may send input events well above real-time audio's rate, not floods.
func TestASessionFloodingInputIsClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m *Metrics
		model := &fakeModel{}
		gw := startVirtualGateway(t, model, defaultTiming, withMetrics(&m), func(o *Options) {
			o.Limits.InputEventsPerSecond = 10
		})
		conn := gw.dial(t, "Bearer any-token")
		seen := watchClose(conn)
		events := openingEvents()
		for len(events) < 20 { // the burst allowance: twice the rate
			events = append(events, audioInput(make([]byte, 64)))
		}
		for _, ev := range events[:20] {
			send(t, conn, ev)
		}
		time.Sleep(time.Second) // ten more are allowed now
		for range 10 {
			send(t, conn, audioInput(make([]byte, 64)))
		}
		synctest.Wait()
		select {
		case c := <-seen:
			t.Fatalf("closed with %d while within the rate", c.code)
		default:
		}
		send(t, conn, audioInput(make([]byte, 64))) // one more within the same second
		c := <-seen
		if c.code != int(CloseInputRate) || lastError(t, c.frames).Retryable {
			t.Fatalf("a flood: close %d, want 1008, not retryable", c.code)
		}
		if refusals(m, LimitInputRate) != 1 {
			t.Fatal("the refusal was not counted")
		}
	})
}
