package licensing

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// VerifyError is a refused answer or lease, with the same stable codes as licensing/client.
type VerifyError struct {
	Code    string // SIGNATURE_MISSING, SIGNATURE_MALFORMED, UNKNOWN_KEY, BAD_SIGNATURE, STALE_ANSWER, NONCE_MISMATCH, INSTANCE_MISMATCH, LEASE_MALFORMED, LEASE_EXPIRED, LEASE_NOT_YET_VALID
	Message string
}

func (e *VerifyError) Error() string { return "licensing: " + e.Code + ": " + e.Message }

// KeySet is the service's published Ed25519 keys by kid (GET /v1/keys), cached on disk.
type KeySet struct {
	keys map[string]ed25519.PublicKey
	raw  []byte
}

// ParseKeySet reads a JWKS; keys that are not Ed25519 are skipped.
func ParseKeySet(raw []byte) (*KeySet, error) {
	var set struct {
		Keys []struct{ Kty, Crv, X, Kid string } `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("licensing: keys: %w", err)
	}
	ks := &KeySet{keys: map[string]ed25519.PublicKey{}, raw: raw}
	for _, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Kid == "" {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			continue
		}
		ks.keys[k.Kid] = ed25519.PublicKey(x)
	}
	return ks, nil
}

func (k *KeySet) get(kid string) (ed25519.PublicKey, error) {
	if k == nil {
		return nil, &VerifyError{"UNKNOWN_KEY", "no keys"}
	}
	pk, ok := k.keys[kid]
	if !ok {
		return nil, &VerifyError{"UNKNOWN_KEY", "no published key " + kid + "; fetch /v1/keys again"}
	}
	return pk, nil
}

var (
	reKid = regexp.MustCompile(`(?:^|[\s,])kid="([A-Za-z0-9_-]{1,128})"`)
	reAlg = regexp.MustCompile(`(?:^|[\s,])alg="([a-z0-9]+)"`)
	reSig = regexp.MustCompile(`(?:^|[\s,])sig="([A-Za-z0-9_-]+)"`)
)

// VerifyAnswerSignature checks Sm-Signature over METHOD\nPATH\nDATE\nhex(sha256(body)) and, with
// maxAge > 0, that the Date is within maxAge of now.
func VerifyAnswerSignature(keys *KeySet, r *Response, now time.Time, maxAge time.Duration) error {
	h, date := r.Header.Get("Sm-Signature"), r.Header.Get("Date")
	if h == "" || date == "" {
		return &VerifyError{"SIGNATURE_MISSING", "the answer is not signed"}
	}
	kid, alg, sig := reKid.FindStringSubmatch(h), reAlg.FindStringSubmatch(h), reSig.FindStringSubmatch(h)
	if kid == nil || sig == nil || alg == nil || alg[1] != "ed25519" {
		return &VerifyError{"SIGNATURE_MALFORMED", "malformed Sm-Signature"}
	}
	sigBytes, err := base64.RawURLEncoding.DecodeString(sig[1])
	if err != nil {
		return &VerifyError{"SIGNATURE_MALFORMED", "signature is not base64url"}
	}
	pk, err := keys.get(kid[1])
	if err != nil {
		return err
	}
	sum := sha256.Sum256(r.Body)
	canon := strings.ToUpper(r.Method) + "\n" + r.Path + "\n" + date + "\n" + hex.EncodeToString(sum[:])
	if !ed25519.Verify(pk, []byte(canon), sigBytes) {
		return &VerifyError{"BAD_SIGNATURE", "the answer's signature does not match"}
	}
	if maxAge > 0 {
		t, err := http.ParseTime(date)
		if err != nil {
			return &VerifyError{"SIGNATURE_MALFORMED", "bad Date"}
		}
		if d := now.Sub(t); d > maxAge || d < -maxAge {
			return &VerifyError{"STALE_ANSWER", fmt.Sprintf("the answer is %s old", d)}
		}
	}
	return nil
}

// Enforcement is how a lease is enforced.
type Enforcement struct {
	Mode                string `json:"mode"` // strict or graceful
	OfflineGraceSeconds int64  `json:"offline_grace_seconds"`
	OnExpiry            string `json:"on_expiry"`
}

// Lease is the verified claims of a lease.
type Lease struct {
	Iss         string            `json:"iss"`
	Aud         string            `json:"aud"`
	Sub         string            `json:"sub"`
	Jti         string            `json:"jti"`
	Iat         int64             `json:"iat"`
	Exp         int64             `json:"exp"`
	Lic         *string           `json:"lic"`
	Tier        string            `json:"tier"`
	Features    []string          `json:"features"`
	Limits      map[string]*int64 `json:"limits"`
	Enforcement Enforcement       `json:"enforcement"`
	FP          *string           `json:"fp"`
	Nonce       string            `json:"nonce"`
	Reason      string            `json:"reason"`
	LicenseExp  *int64            `json:"license_exp"`
}

// NotAfter is the lease's expiry.
func (l *Lease) NotAfter() time.Time { return time.Unix(l.Exp, 0) }

// VerifyLease checks a compact JWS lease offline: Ed25519 signature, type, audience, instance, nonce
// (skipped when nonce is "", for a cached lease at start) and the time window at now.
func VerifyLease(keys *KeySet, lease, instanceID, nonce string, now time.Time) (*Lease, error) {
	parts := strings.Split(lease, ".")
	if len(parts) != 3 {
		return nil, &VerifyError{"LEASE_MALFORMED", "a lease is a compact JWS"}
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sb, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, &VerifyError{"LEASE_MALFORMED", "the lease does not decode"}
	}
	var h struct{ Alg, Kid, Typ string }
	var l Lease
	if json.Unmarshal(hb, &h) != nil || json.Unmarshal(pb, &l) != nil {
		return nil, &VerifyError{"LEASE_MALFORMED", "the lease does not decode"}
	}
	if h.Alg != "EdDSA" || h.Typ != "lease+jwt" || h.Kid == "" {
		return nil, &VerifyError{"LEASE_MALFORMED", "not an EdDSA lease"}
	}
	pk, err := keys.get(h.Kid)
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(pk, []byte(parts[0]+"."+parts[1]), sb) {
		return nil, &VerifyError{"BAD_SIGNATURE", "the lease's signature does not match"}
	}
	if l.Aud != "songmartyn-instance" {
		return nil, &VerifyError{"LEASE_MALFORMED", "the lease is not for instances"}
	}
	if l.Sub != instanceID {
		return nil, &VerifyError{"INSTANCE_MISMATCH", "the lease was issued to another instance"}
	}
	if nonce != "" && l.Nonce != nonce {
		return nil, &VerifyError{"NONCE_MISMATCH", "the lease answers another request (nonce differs)"}
	}
	if l.Exp <= now.Unix() {
		return nil, &VerifyError{"LEASE_EXPIRED", "the lease has expired"}
	}
	if l.Iat > now.Unix()+300 {
		return nil, &VerifyError{"LEASE_NOT_YET_VALID", "the lease is from the future"}
	}
	return &l, nil
}

// Answer is a licensing answer body (validate, activate, heartbeat).
type Answer struct {
	Valid           bool              `json:"valid"`
	Reason          string            `json:"reason"`
	Message         string            `json:"message"`
	Tier            string            `json:"tier"`
	Features        []string          `json:"features"`
	Limits          map[string]*int64 `json:"limits"`
	Enforcement     Enforcement       `json:"enforcement"`
	InstanceID      string            `json:"instance_id"`
	Nonce           string            `json:"nonce"`
	Lease           *string           `json:"lease"`
	Continue        *bool             `json:"continue"`
	NextHeartbeatAt *time.Time        `json:"next_heartbeat_at"`
}

// VerifyAnswer checks everything before an answer is trusted: the signature (5 minutes' age), the
// nonce in the body and the lease, the instance and the lease itself.
func VerifyAnswer(keys *KeySet, r *Response, instanceID, nonce string, now time.Time) (*Answer, *Lease, error) {
	if err := VerifyAnswerSignature(keys, r, now, 5*time.Minute); err != nil {
		return nil, nil, err
	}
	var a Answer
	if err := json.Unmarshal(r.Body, &a); err != nil {
		return nil, nil, &VerifyError{"LEASE_MALFORMED", "the answer does not decode"}
	}
	if a.Nonce != nonce {
		return nil, nil, &VerifyError{"NONCE_MISMATCH", "the answer is for another request"}
	}
	if a.InstanceID != instanceID {
		return nil, nil, &VerifyError{"INSTANCE_MISMATCH", "the answer is for another instance"}
	}
	if a.Lease == nil {
		return &a, nil, nil
	}
	l, err := VerifyLease(keys, *a.Lease, instanceID, nonce, now)
	if err != nil {
		return nil, nil, err
	}
	return &a, l, nil
}
