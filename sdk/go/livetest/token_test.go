package livetest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/songmartyn/smstats/sdk/go/licensing"
	"github.com/songmartyn/smstats/sdk/go/telemetry"
)

func reopen(t *testing.T, l live, path string, edit func(*licensing.Credentials)) *licensing.Session {
	t.Helper()
	var c licensing.Credentials
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	edit(&c)
	b, _ = json.Marshal(c)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := licensing.OpenSession(context.Background(), licensing.SessionConfig{Endpoint: l.endpoint, CredentialsPath: path})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The token is refreshed before it expires (no refused attempt), and a refused token (401) is
// refreshed and the batch sent on the next attempt; credentials stay owner-only.
func TestLiveTokenRefresh(t *testing.T) {
	l := liveEnv(t)
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "credentials.json")
	first, err := licensing.OpenSession(context.Background(), licensing.SessionConfig{Endpoint: l.endpoint, CredentialsPath: path,
		HWID: uniqueHWID("token"), Platform: "linux", Version: "1.4.2"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials are %v, want 0600", fi.Mode().Perm())
	}
	send := func(s *licensing.Session) []int {
		var mu sync.Mutex
		var statuses []int
		c := newClient(t, s, l.endpoint, func(cfg *telemetry.Config) {
			cfg.OnAttempt = func(a telemetry.Attempt) { mu.Lock(); statuses = append(statuses, a.Status); mu.Unlock() }
		})
		c.RecordError("token_test", nil)
		if err := c.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return statuses
	}
	oldRefresh := first.Credentials().RefreshToken
	// About to expire: refreshed before the first attempt.
	s := reopen(t, l, path, func(c *licensing.Credentials) { c.TokenExpiresAt = time.Now().Add(time.Minute) })
	if st := send(s); len(st) != 1 || st[0] != 202 {
		t.Fatalf("attempts %v, want one 202", st)
	}
	if s.Credentials().RefreshToken == oldRefresh || time.Until(s.Credentials().TokenExpiresAt) < 30*time.Minute {
		t.Fatal("the token was not refreshed before expiry")
	}
	// Refused by the service: refreshed, then accepted.
	s = reopen(t, l, path, func(c *licensing.Credentials) { c.Token = c.Token[:len(c.Token)-4] + "AAAA" })
	if st := send(s); len(st) != 2 || st[0] != 401 || st[1] != 202 {
		t.Fatalf("attempts %v, want 401 then 202", st)
	}
	t.Logf("FIGURE token: refreshed before expiry (1 attempt) and after a 401 (401 → 202)")
}
