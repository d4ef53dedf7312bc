// Package licensing is the instance side of SongMartyn Stats' licensing: registration and tokens
// (Session, which also signs every request), activation, validation and heartbeats with signed answers
// and Ed25519 leases verified offline (Client), enforcement and feature gating.
package licensing

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Credentials are what registration returns and the instance keeps (owner-only file permissions).
type Credentials struct {
	InstanceID     string    `json:"instance_id"`
	Token          string    `json:"instance_token"`
	TokenExpiresAt time.Time `json:"token_expires_at"`
	RefreshToken   string    `json:"refresh_token"`
	SigningSecret  string    `json:"signing_secret"`
	HWID           string    `json:"hwid"`
	Tier           string    `json:"tier"`
}

// APIError is a refusal from the service, with its stable code.
type APIError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("smstats: %d %s: %s", e.Status, e.Code, e.Message)
}

// SessionConfig configures a Session.
type SessionConfig struct {
	// Endpoint is the service's base URL.
	Endpoint string
	// CredentialsPath is where credentials are kept (written 0600, atomically).
	CredentialsPath string
	// HWID, Platform and Version are sent at registration.
	HWID, Platform, Version string
	// Consent at registration (quality, playback, session, library).
	Consent map[string]bool
	// HTTPClient; default 30 s timeout.
	HTTPClient *http.Client
	// RefreshBefore is how long before expiry the token is refreshed; default 5 min.
	RefreshBefore time.Duration
}

// Session holds the instance's credentials: it registers when there are none, refreshes the token
// before it expires (and when the service says TOKEN_EXPIRED), and signs requests. Safe for concurrent use.
type Session struct {
	cfg    SessionConfig
	http   *http.Client
	mu     sync.Mutex
	creds  Credentials
	secret []byte
	lastTS int64
}

// OpenSession loads the stored credentials or registers the instance and stores them.
func OpenSession(ctx context.Context, cfg SessionConfig) (*Session, error) {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.RefreshBefore <= 0 {
		cfg.RefreshBefore = 5 * time.Minute
	}
	s := &Session{cfg: cfg, http: cfg.HTTPClient}
	b, err := os.ReadFile(cfg.CredentialsPath)
	if err == nil {
		var c Credentials
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("licensing: credentials %s: %w", cfg.CredentialsPath, err)
		}
		if err := s.set(c); err != nil {
			return nil, err
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("licensing: read credentials: %w", err)
	}
	return s, s.Register(ctx)
}

func (s *Session) set(c Credentials) error {
	secret, err := base64.RawURLEncoding.DecodeString(c.SigningSecret)
	if err != nil {
		return fmt.Errorf("licensing: signing secret: %w", err)
	}
	s.creds, s.secret = c, secret
	return nil
}

// Credentials returns a copy of the current credentials.
func (s *Session) Credentials() Credentials {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creds
}

// InstanceID is the registered instance's id.
func (s *Session) InstanceID() string { return s.Credentials().InstanceID }

// save writes credentials atomically with owner-only permissions.
func (s *Session) save() error {
	b, err := json.MarshalIndent(s.creds, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.cfg.CredentialsPath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.cfg.CredentialsPath)
}

type tokenAnswer struct {
	InstanceID     string          `json:"instance_id"`
	Token          string          `json:"instance_token"`
	TokenExpiresAt time.Time       `json:"token_expires_at"`
	RefreshToken   string          `json:"refresh_token"`
	SigningSecret  string          `json:"signing_secret"`
	Tier           string          `json:"tier"`
	Consent        map[string]bool `json:"consent"`
}

// Register registers (or re-registers: the same hwid gets its instance back) and stores credentials.
func (s *Session) Register(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	body := map[string]any{"hwid": s.cfg.HWID, "platform": s.cfg.Platform, "version": s.cfg.Version}
	if s.cfg.Consent != nil {
		body["consent"] = s.cfg.Consent
	}
	var a tokenAnswer
	// A known hwid is given back only with proof of possession: the request signed with the current
	// secret, when there is one (re-registration after a refused refresh or an unknown instance).
	if _, err := s.postJSON(ctx, "/v1/instances/register", body, &a, s.secret != nil); err != nil {
		return err
	}
	c := Credentials{InstanceID: a.InstanceID, Token: a.Token, TokenExpiresAt: a.TokenExpiresAt,
		RefreshToken: a.RefreshToken, SigningSecret: a.SigningSecret, HWID: s.cfg.HWID, Tier: a.Tier}
	if err := s.set(c); err != nil {
		return err
	}
	return s.save()
}

// refreshLocked exchanges the one-use refresh token; when the service refuses it (used, expired,
// revoked), the instance registers again with its hwid.
func (s *Session) refreshLocked(ctx context.Context) error {
	var a tokenAnswer
	_, err := s.plainJSON(ctx, "/v1/auth/refresh", map[string]string{"refresh_token": s.creds.RefreshToken}, &a)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
		s.mu.Unlock()
		rerr := s.Register(ctx)
		s.mu.Lock()
		return rerr
	}
	if err != nil {
		return err
	}
	s.creds.Token, s.creds.TokenExpiresAt, s.creds.RefreshToken = a.Token, a.TokenExpiresAt, a.RefreshToken
	if a.Tier != "" {
		s.creds.Tier = a.Tier
	}
	// Saved before use: a one-use refresh token lost in a crash would force a re-registration.
	return s.save()
}

// Refresh renews the token now.
func (s *Session) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshLocked(ctx)
}

// TokenRejected renews the token after a 401 (telemetry.Authorizer).
func (s *Session) TokenRejected(ctx context.Context, code string) error {
	if code == "INSTANCE_UNKNOWN" {
		return s.Register(ctx)
	}
	return s.Refresh(ctx)
}

// Authorize sets Bearer, X-SM-Timestamp and X-SM-Signature for req with body (telemetry.Authorizer).
// Timestamps strictly increase, so two attempts in one millisecond still differ (each signature is
// accepted once).
func (s *Session) Authorize(ctx context.Context, req *http.Request, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Until(s.creds.TokenExpiresAt) < s.cfg.RefreshBefore {
		if err := s.refreshLocked(ctx); err != nil {
			return err
		}
	}
	ts := max(time.Now().UnixMilli(), s.lastTS+1)
	s.lastTS = ts
	sum := sha256.Sum256(body)
	path := req.URL.EscapedPath()
	if req.URL.RawQuery != "" {
		path += "?" + req.URL.RawQuery
	}
	canon := req.Method + "\n" + path + "\n" + strconv.FormatInt(ts, 10) + "\n" + hex.EncodeToString(sum[:])
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(canon))
	req.Header.Set("Authorization", "Bearer "+s.creds.Token)
	req.Header.Set("X-SM-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-SM-Signature", base64.RawURLEncoding.EncodeToString(m.Sum(nil)))
	return nil
}

// Response is a signed answer as received.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	Method string
	Path   string
}

// Do sends a signed request as the instance (JSON body or none) and returns the raw answer; a token
// refusal is retried once after a refresh.
func (s *Session) Do(ctx context.Context, method, path string, body any) (*Response, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	for try := 0; ; try++ {
		req, err := http.NewRequestWithContext(ctx, method, s.cfg.Endpoint+path, bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("User-Agent", "smstats-go-sdk")
		if err := s.Authorize(ctx, req, raw); err != nil {
			return nil, err
		}
		res, err := s.http.Do(req)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		r := &Response{Status: res.StatusCode, Header: res.Header, Body: b, Method: method, Path: path}
		if res.StatusCode == http.StatusUnauthorized && try == 0 {
			if err := s.TokenRejected(ctx, apiError(r).Code); err == nil {
				continue
			}
		}
		return r, nil
	}
}

func apiError(r *Response) *APIError {
	var eb struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &eb)
	e := &APIError{Status: r.Status, Code: eb.Error.Code, Message: eb.Error.Message}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err == nil {
		e.RetryAfter = time.Duration(ra) * time.Second
	}
	return e
}

// plainJSON posts an unauthenticated JSON request (register, refresh); called with mu held.
func (s *Session) plainJSON(ctx context.Context, path string, body any, out any) (*Response, error) {
	return s.postJSON(ctx, path, body, out, false)
}

// postJSON posts a JSON request without a token, signed with the current secret when sign is set (the
// register request's proof of possession); called with mu held.
func (s *Session) postJSON(ctx context.Context, path string, body any, out any, sign bool) (*Response, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.Endpoint+path, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if sign {
		ts := max(time.Now().UnixMilli(), s.lastTS+1)
		s.lastTS = ts
		sum := sha256.Sum256(raw)
		canon := http.MethodPost + "\n" + path + "\n" + strconv.FormatInt(ts, 10) + "\n" + hex.EncodeToString(sum[:])
		m := hmac.New(sha256.New, s.secret)
		m.Write([]byte(canon))
		req.Header.Set("X-SM-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("X-SM-Signature", base64.RawURLEncoding.EncodeToString(m.Sum(nil)))
	}
	res, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("licensing: %s: %w", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	r := &Response{Status: res.StatusCode, Header: res.Header, Body: b, Method: http.MethodPost, Path: path}
	if res.StatusCode/100 != 2 {
		return r, apiError(r)
	}
	return r, json.Unmarshal(b, out)
}

// PutConsent tells the service the instance's consent (PUT /v1/instances/{id}/consent).
func (s *Session) PutConsent(ctx context.Context, consent map[string]bool) error {
	r, err := s.Do(ctx, http.MethodPut, "/v1/instances/"+s.InstanceID()+"/consent", consent)
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		return apiError(r)
	}
	return nil
}
