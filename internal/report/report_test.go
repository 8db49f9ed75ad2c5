package report

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// receiver is a real receiver (HTTPS server, syslog listener, homeserver
// stub) that can be stopped and started again on the same port.
type receiver interface {
	start(t *testing.T)
	stop()
	// got returns the report IDs received, in order, duplicates included.
	got() []string
}

func eicarReport(id string) Report {
	return Report{ID: id, Kind: KindVerdict, At: time.Now().UTC(), MXC: "mxc://example.org/abc", Uploader: "@mallory:example.org",
		SHA256: strings.Repeat("ab", 32), Size: 68, Result: "infected", Signature: "Eicar-Test-Signature",
		Findings: []Finding{{Engine: "clamd", Result: "infected", Signature: "Eicar-Test-Signature", EngineVersion: "ClamAV 1.4.6"},
			{Engine: "cicap", Result: "infected", Signature: "Eicar-Test-Signature", SignatureVersion: "CI0001-x"}},
		Action: "quarantined", State: "quarantined"}
}

// TestSinksExactlyOnce: for each sink, with its receiver down a report
// waits in the outbox (counted as waiting and failed), and once the
// receiver is back it arrives exactly once.
func TestSinksExactlyOnce(t *testing.T) {
	for name, mk := range map[string]func(t *testing.T) (Sink, receiver){
		"webhook": newWebhookReceiver,
		"syslog":  newSyslogReceiver,
		"matrix":  newMatrixReceiver,
	} {
		t.Run(name, func(t *testing.T) {
			sink, recv := mk(t)
			js := testenv.JetStream(t)
			reg := prometheus.NewRegistry()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o, err := Open(ctx, js, Options{Backoff: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}}, slog.New(slog.DiscardHandler), reg)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- o.Run(ctx, sink) }()

			// Receiver down: the report waits and the tries count as failed.
			if err := o.Publish(ctx, eicarReport("r1")); err != nil {
				t.Fatal(err)
			}
			if err := o.Publish(ctx, eicarReport("r1")); err != nil { // the same report again: stored once
				t.Fatal(err)
			}
			waitFor(t, func() bool { return testutil.ToFloat64(o.failed.WithLabelValues(sink.Name())) >= 2 })
			// The gauge is read from the consumer before each fetch, so
			// it may lag the failures by one fetch (≤ 2 s).
			waitFor(t, func() bool { return testutil.ToFloat64(o.waiting.WithLabelValues(sink.Name())) == 1 })
			recv.start(t)
			waitFor(t, func() bool { return len(recv.got()) >= 1 })
			if err := o.Publish(ctx, eicarReport("r2")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return len(recv.got()) >= 2 })
			time.Sleep(time.Second) // a duplicate would arrive within the backoff
			if got := recv.got(); strings.Join(got, ",") != "r1,r2" {
				t.Errorf("received %v, want r1 and r2 once each", got)
			}
			waitFor(t, func() bool { return testutil.ToFloat64(o.waiting.WithLabelValues(sink.Name())) == 0 })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restartable holds a loopback port that a receiver listens on while
// started.
type restartable struct {
	addr string
	mu   sync.Mutex
	ids  []string
}

func (r *restartable) add(id string) {
	r.mu.Lock()
	r.ids = append(r.ids, id)
	r.mu.Unlock()
}

func (r *restartable) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// freeAddr is a receiver's address: a port that no other process of the
// test run takes while the receiver is down (a syslog sender would deliver
// to whatever accepts).
func freeAddr(t *testing.T) string { return testenv.StableAddr(t) }

// --- webhook: a real HTTPS server that checks the HMAC signature ---

type webhookReceiver struct {
	restartable
	secret []byte
	cert   tls.Certificate
	srv    *httptest.Server
}

func newWebhookReceiver(t *testing.T) (Sink, receiver) {
	r := &webhookReceiver{restartable: restartable{addr: freeAddr(t)}, secret: []byte("s3cret")}
	// The certificate of an httptest TLS server, trusted by the sink.
	probe := httptest.NewTLSServer(http.NotFoundHandler())
	r.cert = probe.TLS.Certificates[0]
	pool := x509.NewCertPool()
	pool.AddCert(probe.Certificate())
	probe.Close()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(r.stop)
	return &Webhook{URL: "https://" + r.addr + "/hooks/mediarepo", Secret: r.secret, Client: client}, r
}

func (r *webhookReceiver) start(t *testing.T) {
	l, err := net.Listen("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if !VerifySignature(r.secret, body, req.Header.Get(SignatureHeader)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var rep Report
		if err := json.Unmarshal(body, &rep); err != nil || rep.MXC == "" || len(rep.Findings) != 2 {
			http.Error(w, "bad report", http.StatusBadRequest)
			return
		}
		r.add(rep.ID)
	}))
	r.srv.Listener.Close()
	r.srv.Listener = l
	r.srv.TLS = &tls.Config{Certificates: []tls.Certificate{r.cert}}
	r.srv.StartTLS()
}

func (r *webhookReceiver) stop() {
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
}

// TestWebhookSignature: a receiver with another secret refuses the report.
func TestWebhookSignature(t *testing.T) {
	body := []byte(`{"id":"x"}`)
	mac := "sha256=" + strings.Repeat("0", 64)
	if VerifySignature([]byte("k"), body, mac) {
		t.Error("a wrong signature verified")
	}
}

// --- syslog: a listener that parses RFC 5424 with octet counting strictly ---

// rfc5424 matches HEADER SP STRUCTURED-DATA SP MSG (RFC 5424 section 6).
var rfc5424 = regexp.MustCompile(`^<([0-9]{1,3})>1 ([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z) ([!-~]{1,255}) ([!-~]{1,48}) (-|[!-~]{1,128}) ([!-~]{1,32}) (\[mediarepo@32473(?: [^ =\]"]+="(?:[^"\\\]]|\\["\\\]])*")+\]) (.+)$`)

type syslogReceiver struct {
	restartable
	l  net.Listener
	wg sync.WaitGroup
	t  *testing.T
}

func newSyslogReceiver(t *testing.T) (Sink, receiver) {
	r := &syslogReceiver{restartable: restartable{addr: freeAddr(t)}, t: t}
	t.Cleanup(r.stop)
	return &Syslog{Address: r.addr, Hostname: "mr-test"}, r
}

func (r *syslogReceiver) start(t *testing.T) {
	l, err := net.Listen("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	r.l = l
	r.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.wg.Go(func() { r.serve(c) })
		}
	})
}

func (r *syslogReceiver) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		lenStr, err := br.ReadString(' ')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSuffix(lenStr, " "))
		if err != nil || n <= 0 || n > 64<<10 {
			r.t.Errorf("syslog: bad frame length %q", lenStr)
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(br, msg); err != nil {
			r.t.Errorf("syslog: short frame: %v", err)
			return
		}
		m := rfc5424.FindStringSubmatch(string(msg))
		if m == nil {
			r.t.Errorf("syslog: not RFC 5424: %q", msg)
			return
		}
		if pri, _ := strconv.Atoi(m[1]); pri != 4*8+4 || m[3] != "mr-test" || m[4] != "mediarepo" || m[6] != "verdict" {
			r.t.Errorf("syslog: header %q", m[:7])
		}
		id := regexp.MustCompile(` id="([^"]+)"`).FindStringSubmatch(m[7])
		if id == nil || !strings.Contains(m[8], "Eicar-Test-Signature") || !strings.Contains(m[7], `mxc="mxc://example.org/abc"`) {
			r.t.Errorf("syslog: structured data or message: %q %q", m[7], m[8])
			return
		}
		r.add(id[1])
	}
}

func (r *syslogReceiver) stop() {
	if r.l != nil {
		r.l.Close()
		r.wg.Wait()
		r.l = nil
	}
}

// --- Matrix: a homeserver stub with the client-server send endpoint ---

type matrixReceiver struct {
	restartable
	srv *http.Server
}

const botToken = "syt_bot_token"

func newMatrixReceiver(t *testing.T) (Sink, receiver) {
	r := &matrixReceiver{restartable: restartable{addr: freeAddr(t)}}
	t.Cleanup(r.stop)
	return &Matrix{Homeserver: "http://" + r.addr, RoomID: "!officers:example.org", Token: botToken}, r
}

func (r *matrixReceiver) start(t *testing.T) {
	l, err := net.Listen("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}", func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != "Bearer "+botToken {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errcode":"M_UNKNOWN_TOKEN"}`)
			return
		}
		var ev struct {
			MsgType string `json:"msgtype"`
			Body    string `json:"body"`
			Report  Report `json:"org.mediarepo.report"`
		}
		if req.PathValue("room") != "!officers:example.org" || json.NewDecoder(req.Body).Decode(&ev) != nil ||
			ev.MsgType != "m.notice" || !strings.Contains(ev.Body, "infiziert") || !strings.Contains(ev.Body, "infected") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		// Every PUT counts, so that a sender's duplicate shows (a real
		// homeserver would also drop it by its transaction ID).
		r.add(ev.Report.ID)
		fmt.Fprint(w, `{"event_id":"$x"}`)
	})
	r.srv = &http.Server{Handler: mux}
	go r.srv.Serve(l)
}

func (r *matrixReceiver) stop() {
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
}

// TestReportHoldsNoContent: the JSON of a report has no field that could
// carry content or a key.
func TestReportHoldsNoContent(t *testing.T) {
	data, err := json.Marshal(eicarReport("x"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for k := range m {
		switch k {
		case "id", "kind", "at", "mxc", "uploader", "sha256", "size", "result", "signature", "findings", "action", "state":
		default:
			t.Errorf("unexpected field %q in a report", k)
		}
	}
}

// TestOfficerActionsAreReported: an entry of the officers' audit log
// becomes an officer_action report in the outbox, once, also when the
// forwarder runs again (a restart).
func TestOfficerActionsAreReported(t *testing.T) {
	js := testenv.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, err := Open(ctx, js, Options{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(ctx, js, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := log.Append(ctx, audit.Entry{Actor: "@officer:example.org", Action: "release", Target: "mxc://example.org/abc",
		Reason: "false positive", From: "quarantined", To: "clean"}); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second run finds the entry acknowledged
		fctx, fcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- o.ForwardAudit(fctx, "") }()
		waitFor(t, func() bool { info, err := st.Info(ctx); return err == nil && info.State.Msgs >= 1 })
		time.Sleep(300 * time.Millisecond)
		fcancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	info, err := st.Info(ctx)
	if err != nil || info.State.Msgs != 1 {
		t.Fatalf("outbox holds %d reports (%v), want 1", info.State.Msgs, err)
	}
	msg, err := st.GetMsg(ctx, info.State.FirstSeq)
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindOfficerAction || r.Actor != "@officer:example.org" || r.Action != "release" || r.MXC != "mxc://example.org/abc" ||
		r.Reason != "false positive" || r.State != "clean" {
		t.Errorf("report %+v", r)
	}
	en, de := r.Text()
	if !strings.Contains(en, "release") || !strings.Contains(de, "Begründung") {
		t.Errorf("texts %q / %q", en, de)
	}
}
