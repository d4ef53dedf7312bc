package licensing

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// A heartbeat loop against a service that fails every request keeps running (no panic, no exit of the
// host), keeps the entitlements it had, and stops when its context ends.
func TestFailingHeartbeatsNeverStopTheHost(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":{"code":"INTERNAL","message":"down"}}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	creds, _ := json.Marshal(Credentials{InstanceID: "inst-1", Token: "t", TokenExpiresAt: time.Now().Add(time.Hour),
		SigningSecret: base64.RawURLEncoding.EncodeToString(make([]byte, 32))})
	_ = os.WriteFile(filepath.Join(dir, "credentials.json"), creds, 0o600)
	sess, err := OpenSession(context.Background(), SessionConfig{Endpoint: srv.URL, CredentialsPath: filepath.Join(dir, "credentials.json")})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	stats := func() map[string]any {
		if calls.Add(1) == 1 {
			panic("host bug") // a bug in the host's callback must not take the host down either
		}
		return map[string]any{"users_current": 1}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	lic, _ := NewClient(ClientConfig{Session: sess, StatePath: filepath.Join(dir, "license.json"), Logger: quiet,
		HeartbeatInterval: 20 * time.Millisecond, SessionStats: stats})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() { lic.Run(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if e := lic.Entitlements(); e.Tier != "starter" {
		t.Fatalf("entitlements changed: %+v", e)
	}
	if hits.Load() < 2 || calls.Load() < 2 {
		t.Fatalf("the loop stopped: %d requests, %d beats", hits.Load(), calls.Load())
	}
}
