package licensing

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

type signer struct {
	kid  string
	priv ed25519.PrivateKey
}

func newSigner(kid string) signer {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	return signer{kid, priv}
}

func (s signer) jwk() map[string]string {
	return map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": s.kid, "x": base64.RawURLEncoding.EncodeToString(s.priv.Public().(ed25519.PublicKey))}
}

func (s signer) lease(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "lease+jwt", "kid": s.kid})
	p, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(s.priv, []byte(in)))
}

// A fake service that signs like the real one (answers and leases), with a key ring that rotates.
type fakeService struct {
	mu      sync.Mutex
	current signer
	all     []signer
}

func (f *fakeService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	cur, all := f.current, append([]signer(nil), f.all...)
	f.mu.Unlock()
	var body []byte
	switch r.URL.Path {
	case "/v1/keys":
		var keys []map[string]string
		for _, s := range all {
			keys = append(keys, s.jwk())
		}
		body, _ = json.Marshal(map[string]any{"keys": keys})
	case "/v1/auth/validate":
		var req struct{ Nonce string }
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &req)
		now := time.Now().Unix()
		lease := cur.lease(map[string]any{"aud": "songmartyn-instance", "sub": "inst-1", "iat": now, "exp": now + 3600,
			"tier": "venue", "features": []string{"multi_room"}, "limits": map[string]any{"max_guests": nil},
			"enforcement": map[string]any{"mode": "strict", "offline_grace_seconds": 3600, "on_expiry": "starter"}, "nonce": req.Nonce, "reason": "VALID"})
		body, _ = json.Marshal(map[string]any{"valid": true, "reason": "VALID", "tier": "venue", "instance_id": "inst-1", "nonce": req.Nonce, "lease": lease})
	default:
		http.NotFound(w, r)
		return
	}
	date := time.Now().UTC().Format(http.TimeFormat)
	sum := sha256.Sum256(body)
	canon := r.Method + "\n" + r.URL.Path + "\n" + date + "\n" + hex.EncodeToString(sum[:])
	w.Header().Set("Date", date)
	w.Header().Set("Sm-Signature", `kid="`+cur.kid+`", alg="ed25519", sig="`+base64.RawURLEncoding.EncodeToString(ed25519.Sign(cur.priv, []byte(canon)))+`"`)
	_, _ = w.Write(body)
}

func TestKeyRotationRefetchesKeysAndOldLeasesStillVerify(t *testing.T) {
	k1 := newSigner("k1")
	svc := &fakeService{current: k1, all: []signer{k1}}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	dir := t.TempDir()
	creds, _ := json.Marshal(Credentials{InstanceID: "inst-1", Token: "t", TokenExpiresAt: time.Now().Add(time.Hour),
		SigningSecret: base64.RawURLEncoding.EncodeToString(make([]byte, 32))})
	_ = os.WriteFile(filepath.Join(dir, "credentials.json"), creds, 0o600)
	sess, err := OpenSession(context.Background(), SessionConfig{Endpoint: srv.URL, CredentialsPath: filepath.Join(dir, "credentials.json")})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	lic, _ := NewClient(ClientConfig{Session: sess, StatePath: filepath.Join(dir, "license.json"), Logger: quiet})
	if _, err := lic.Validate(context.Background()); err != nil || !lic.Allowed("multi_room") {
		t.Fatalf("validate with k1: %v", err)
	}
	oldLease := lic.st.Lease

	// Rotation: k2 signs from now on, k1 stays published. The client only has k1 cached.
	k2 := newSigner("k2")
	svc.mu.Lock()
	svc.current, svc.all = k2, []signer{k2, k1}
	svc.mu.Unlock()
	if _, err := lic.Validate(context.Background()); err != nil {
		t.Fatalf("validate after rotation (UNKNOWN_KEY must refetch /v1/keys): %v", err)
	}
	if _, err := VerifyLease(lic.keys, oldLease, "inst-1", "", time.Now()); err != nil {
		t.Fatalf("a lease signed before the rotation must still verify: %v", err)
	}
	// An answer signed by a key that is not published is refused, whatever the refetch says.
	rogue := newSigner("k2")
	svc.mu.Lock()
	svc.current = rogue
	svc.mu.Unlock()
	if _, err := lic.Validate(context.Background()); err == nil {
		t.Fatal("an answer signed by an unpublished key was accepted")
	}
}
