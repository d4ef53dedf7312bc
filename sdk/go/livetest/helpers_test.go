package livetest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/songmartyn/smstats/sdk/go/licensing"
	"github.com/songmartyn/smstats/sdk/go/telemetry"
)

// plainClient opens a fresh connection per request. The tests sit idle for minutes between queries
// (an outage of two minutes), long after ClickHouse and ingest close idle keep-alive connections; a
// POST on such a connection fails with EOF and Go does not retry a POST by itself.
var plainClient = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

type live struct {
	endpoint, admin             string
	chURL, chUser, chPass, chDB string
}

func liveEnv(t *testing.T) live {
	t.Helper()
	l := live{endpoint: os.Getenv("SMSTATS_SDK_ENDPOINT"), admin: os.Getenv("SMSTATS_SDK_ADMIN_TOKEN"),
		chURL: os.Getenv("SMSTATS_SDK_CLICKHOUSE_URL"), chUser: os.Getenv("SMSTATS_SDK_CLICKHOUSE_USER"),
		chPass: os.Getenv("SMSTATS_SDK_CLICKHOUSE_PASSWORD"), chDB: os.Getenv("SMSTATS_SDK_CLICKHOUSE_DATABASE")}
	if l.endpoint == "" || l.chURL == "" || l.admin == "" {
		t.Skip("SMSTATS_SDK_ENDPOINT / _ADMIN_TOKEN / _CLICKHOUSE_URL not set: live tests need the service (npm test runs them)")
	}
	return l
}

// query runs SQL on ClickHouse and returns the TabSeparated rows.
func (l live) query(t *testing.T, sql string) [][]string {
	t.Helper()
	u := l.chURL + "/?database=" + url.QueryEscape(l.chDB)
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(sql+" FORMAT TabSeparated"))
	req.SetBasicAuth(l.chUser, l.chPass)
	res, err := plainClient.Do(req)
	if err != nil {
		t.Fatalf("clickhouse: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("clickhouse %d: %s\n%s", res.StatusCode, b, sql)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	return rows
}

// num runs a one-value query.
func (l live) num(t *testing.T, sql string) float64 {
	t.Helper()
	rows := l.query(t, sql)
	if len(rows) == 0 {
		return 0
	}
	v, err := strconv.ParseFloat(rows[0][0], 64)
	if err != nil {
		t.Fatalf("not a number %q from %s", rows[0][0], sql)
	}
	return v
}

// settled returns "" once every batch of the instance that a raw table holds is in inserted_batches,
// else what is still missing. The processor records a batch there only after the insert into every raw
// table returned, and an insert returns only after the table's materialized views (the rollups) are
// written. Until then a reader can see a batch in part: a raw table's rows become visible before its
// rollups' rows, the raw tables are inserted side by side, and behind a backlog the processor holds the
// smaller tables' rows back (processors/README.md).
func (l live) settled(t *testing.T, where string) string {
	t.Helper()
	var union []string
	for _, table := range []string{"metrics_quality", "events_playback", "events_session", "snapshots_library", "environment"} {
		union = append(union, "SELECT batch_id FROM "+table+" WHERE "+where)
	}
	missing := l.num(t, "SELECT count() FROM (SELECT DISTINCT batch_id FROM ("+strings.Join(union, " UNION ALL ")+
		")) WHERE batch_id NOT IN (SELECT batch_id FROM inserted_batches WHERE "+where+")")
	if missing != 0 {
		return fmt.Sprintf("%v batches stored in part (not yet in inserted_batches)", missing)
	}
	return ""
}

// eventually retries check until it returns "" or the time is up (the processor inserts within seconds).
func eventually(t *testing.T, within time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, msg)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// adminDo calls the admin API.
func (l live) adminDo(t *testing.T, method, path string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, l.endpoint+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+l.admin)
	req.Header.Set("Content-Type", "application/json")
	res, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode/100 != 2 {
		t.Fatalf("admin %s %s: %d %v", method, path, res.StatusCode, out)
	}
	return out
}

// issue makes a license and returns its key and id.
func (l live) issue(t *testing.T, tier string) (key, id string) {
	out := l.adminDo(t, http.MethodPost, "/v1/admin/licenses", map[string]any{"tier": tier, "owner_email": "host@example.com", "days": 365})
	return out["key"].(string), out["license"].(map[string]any)["id"].(string)
}

var hwidSeq struct {
	sync.Mutex
	n int
}

func uniqueHWID(label string) string {
	hwidSeq.Lock()
	defer hwidSeq.Unlock()
	hwidSeq.n++
	return fmt.Sprintf("sdktest-%s-%d-%d-%d", label, os.Getpid(), time.Now().UnixNano()%1e9, hwidSeq.n)
}

// session registers a fresh instance with every family consented.
func session(t *testing.T, endpoint, label string) *licensing.Session {
	t.Helper()
	s, err := licensing.OpenSession(context.Background(), licensing.SessionConfig{Endpoint: endpoint,
		CredentialsPath: filepath.Join(t.TempDir(), "credentials.json"), HWID: uniqueHWID(label), Platform: "linux",
		Version: "1.4.2", Consent: map[string]bool{"quality": true, "playback": true, "session": true, "library": true}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// allFamilies collects everything; sends are driven by the test (long interval).
func allFamilies() *telemetry.PrivacyConfig {
	p := telemetry.DefaultPrivacyConfig()
	p.CollectPlayback, p.CollectSession, p.CollectLibrary = true, true, true
	p.SendInterval = telemetry.Duration(time.Hour)
	return &p
}

// proxy stands between the SDK and ingest: it can be "down" (connections dropped without an answer, as
// when ingest is stopped), answer injected statuses, and capture every request body as sent.
type proxy struct {
	*httptest.Server
	mu       sync.Mutex
	down     bool
	inject   []injected
	captured [][]byte // request bodies, decompressed
	answers  []string // response bodies of forwarded batch requests
}

type injected struct {
	status     int
	retryAfter string
}

func newProxy(t *testing.T, target string) *proxy {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &proxy{}
	rp.ModifyResponse = func(res *http.Response) error {
		if res.Request.URL.Path != "/v1/stats/batch" {
			return nil
		}
		b, _ := io.ReadAll(res.Body)
		res.Body = io.NopCloser(bytes.NewReader(b))
		p.mu.Lock()
		p.answers = append(p.answers, string(b))
		p.mu.Unlock()
		return nil
	}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.mu.Lock()
		down := p.down
		var inj *injected
		if !down && len(p.inject) > 0 && r.URL.Path == "/v1/stats/batch" {
			inj = &p.inject[0]
			p.inject = p.inject[1:]
		}
		if r.URL.Path == "/v1/stats/batch" {
			plain := body
			if r.Header.Get("Content-Encoding") == "gzip" {
				if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
					plain, _ = io.ReadAll(zr)
				}
			}
			p.captured = append(p.captured, plain)
		}
		p.mu.Unlock()
		if down {
			panic(http.ErrAbortHandler) // the connection is dropped: no answer at all
		}
		if inj != nil {
			w.Header().Set("Retry-After", inj.retryAfter)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(inj.status)
			fmt.Fprintf(w, `{"error":{"code":"INJECTED_%d","message":"injected by the test proxy"}}`, inj.status)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *proxy) setDown(v bool) {
	p.mu.Lock()
	p.down = v
	p.mu.Unlock()
}

func (p *proxy) bodies() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.captured...)
}

var build struct {
	once sync.Once
	path string
	err  error
}

// instanceBinary builds cmd/smstats-instance once per test run.
func instanceBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "smstats-instance-bin")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "smstats-instance")
		out, err := exec.Command("go", "build", "-o", build.path, "../cmd/smstats-instance").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// newClient makes a telemetry client for a session, sending through endpoint.
func newClient(t *testing.T, s *licensing.Session, endpoint string, mod func(*telemetry.Config)) *telemetry.Client {
	t.Helper()
	cfg := telemetry.Config{Endpoint: endpoint, InstanceID: s.InstanceID(), Auth: s, Privacy: allFamilies(),
		OutboxPath: filepath.Join(t.TempDir(), "outbox.db"), AppVersion: "1.4.2",
		Backoff: telemetry.Backoff{Base: 100 * time.Millisecond, Max: time.Second},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	c, err := telemetry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}
