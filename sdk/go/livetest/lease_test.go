package livetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/songmartyn/smstats/sdk/go/hwid"
	"github.com/songmartyn/smstats/sdk/go/licensing"
)

type fakeClock struct {
	mu sync.Mutex
	at time.Time
}

func (f *fakeClock) now() time.Time  { f.mu.Lock(); defer f.mu.Unlock(); return f.at }
func (f *fakeClock) set(t time.Time) { f.mu.Lock(); f.at = t; f.mu.Unlock() }

func verifyCode(err error) string {
	var ve *licensing.VerifyError
	if errors.As(err, &ve) {
		return ve.Code
	}
	return ""
}

// Leases end to end: valid → features; one byte changed → rejected; an answer replayed against another
// nonce → rejected; key revoked → next validate REVOKED and Starter limits; offline past the grace →
// Starter; the clock set back → the lease is not extended (also after a restart).
func TestLiveLease(t *testing.T) {
	l := liveEnv(t)
	t.Parallel()
	ctx := context.Background()
	key, licID := l.issue(t, "party_host")
	sess := session(t, l.endpoint, "lease")
	fp, err := hwid.Read(hwid.Options{Override: uniqueHWID("lease-fp")})
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "license.json")
	changes := make(chan licensing.Entitlements, 16)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	lic, err := licensing.NewClient(licensing.ClientConfig{Session: sess, Fingerprint: fp, StatePath: state,
		Logger: quiet, OnChange: func(e licensing.Entitlements) { changes <- e }})
	if err != nil {
		t.Fatal(err)
	}
	if lic.Allowed("youtube_import") {
		t.Fatal("a fresh instance without a lease must run as Starter")
	}

	// Valid → features and limits of the tier.
	a, err := lic.Activate(ctx, key)
	if err != nil || a.Reason != "VALID" {
		t.Fatalf("activate: %v %+v", err, a)
	}
	if !lic.Allowed("youtube_import") || lic.Allowed("multi_room") {
		t.Fatalf("party_host features wrong: %+v", lic.Entitlements())
	}
	if g, ok := lic.Limit("guests"); !ok || g != 50 {
		t.Fatalf("guests limit %d %v, want 50", g, ok)
	}
	if e := waitChange(t, changes); e.Tier != "party_host" {
		t.Fatalf("no change notification to party_host: %+v", e)
	}
	if fi, _ := os.Stat(state); fi.Mode().Perm() != 0o600 {
		t.Fatalf("license state is %v, want 0600", fi.Mode().Perm())
	}

	// A raw validate answer, to tamper with and replay.
	nonce := "nonce-for-this-request-0001"
	r, err := sess.Do(ctx, http.MethodPost, "/v1/auth/validate", map[string]any{"license_key": key, "nonce": nonce, "fingerprint": fp})
	if err != nil || r.Status != 200 {
		t.Fatalf("validate: %v %v", err, r)
	}
	if _, err := lic.Accept(ctx, r, nonce); err != nil {
		t.Fatalf("the untouched answer must verify: %v", err)
	}
	for i := range []int{0, 1, 2} {
		tampered := *r
		tampered.Body = bytes.Clone(r.Body)
		pos := []int{len(r.Body) / 3, len(r.Body) / 2, len(r.Body) - 5}[i]
		tampered.Body[pos] ^= 0x01
		if _, err := lic.Accept(ctx, &tampered, nonce); verifyCode(err) != "BAD_SIGNATURE" {
			t.Fatalf("one byte changed at %d: %v, want BAD_SIGNATURE", pos, err)
		}
	}
	if _, err := lic.Accept(ctx, r, "another-nonce-of-a-new-request"); verifyCode(err) != "NONCE_MISMATCH" {
		t.Fatalf("replayed against another nonce: %v, want NONCE_MISMATCH", err)
	}
	if !lic.Allowed("youtube_import") {
		t.Fatal("a rejected answer must not change the entitlements")
	}

	// Offline: the cached lease is honoured until its not-after, then Starter; the clock set back
	// afterwards does not bring the lease back, not even after a restart.
	notAfter := lic.Entitlements().NotAfter
	if d := time.Until(notAfter); d < 6*24*time.Hour || d > 8*24*time.Hour {
		t.Fatalf("party_host lease should run ~7 days offline, runs %s", d)
	}
	offlineState := filepath.Join(t.TempDir(), "license.json")
	b, _ := os.ReadFile(state)
	_ = os.WriteFile(offlineState, b, 0o600)
	clock := &fakeClock{at: time.Now().Add(24 * time.Hour)}
	offline, err := licensing.NewClient(licensing.ClientConfig{Session: sess, StatePath: offlineState, Clock: clock.now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if !offline.Allowed("youtube_import") {
		t.Fatal("one day offline: the cached lease must be honoured")
	}
	clock.set(notAfter.Add(time.Minute))
	if e := offline.Entitlements(); e.Tier != "starter" || e.Reason != "LEASE_EXPIRED" {
		t.Fatalf("past the grace: %+v, want Starter (LEASE_EXPIRED)", e)
	}
	if g, _ := offline.Limit("guests"); g != 5 {
		t.Fatalf("Starter guests %d, want 5", g)
	}
	clock.set(time.Now())
	if offline.Allowed("youtube_import") {
		t.Fatal("clock set back: the lease came back")
	}
	restarted, _ := licensing.NewClient(licensing.ClientConfig{Session: sess, StatePath: offlineState, Clock: time.Now, Logger: quiet})
	if restarted.Allowed("youtube_import") {
		t.Fatal("clock set back and restarted: the lease came back")
	}

	// Revoked: the next validate says REVOKED, without a lease, and the limits drop to Starter.
	l.adminDo(t, http.MethodPost, "/v1/admin/licenses/"+licID+"/revoke", map[string]any{"reason": "chargeback (sdk test)"})
	a, err = lic.Validate(ctx)
	if err != nil || a.Reason != "REVOKED" || a.Lease != nil {
		t.Fatalf("after revoke: %v %+v", err, a)
	}
	if e := lic.Entitlements(); e.Tier != "starter" || lic.Allowed("youtube_import") {
		t.Fatalf("after revoke: %+v", e)
	}
	if g, _ := lic.Limit("guests"); g != 5 {
		t.Fatalf("after revoke guests limit %d, want Starter's 5", g)
	}
	if e := waitChange(t, changes); e.Tier != "starter" {
		t.Fatalf("no change notification to starter: %+v", e)
	}
	t.Logf("FIGURE lease: VALID → party_host (guests 50); tampered ×3 BAD_SIGNATURE; replay NONCE_MISMATCH; offline +1 d honoured, past %s Starter; clock back not extended; revoke → REVOKED/Starter", notAfter.Format(time.RFC3339))
}

func waitChange(t *testing.T, ch chan licensing.Entitlements) licensing.Entitlements {
	t.Helper()
	var last licensing.Entitlements
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e := <-ch:
			last = e
			if len(ch) == 0 {
				return last
			}
		case <-timeout:
			t.Fatal("no entitlement change notified")
			return last
		}
	}
}
