package licensing

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/songmartyn/smstats/sdk/go/hwid"
)

// Entitlements are what the instance may do now.
type Entitlements struct {
	Tier     string
	Features []string
	// Limits by name (max_songs, max_guests, max_rooms); nil means unlimited.
	Limits map[string]*int64
	// Mode is strict or graceful (the lease's enforcement).
	Mode string
	// Reason is the last validation's reason, or LEASE_EXPIRED / NO_LEASE when running as Starter offline.
	Reason string
	// NotAfter is the lease's expiry (zero for Starter without a lease).
	NotAfter time.Time
	// FromLease says whether a verified lease grants these (false: built-in Starter).
	FromLease bool
}

func i64(v int64) *int64 { return &v }

// Starter is the free tier the instance runs as without a valid lease (the tier_policies seed).
func Starter(reason string) Entitlements {
	return Entitlements{Tier: "starter", Features: []string{}, Mode: "graceful", Reason: reason,
		Limits: map[string]*int64{"max_songs": i64(25), "max_guests": i64(5), "max_rooms": i64(1)}}
}

// ClientConfig configures a licensing Client.
type ClientConfig struct {
	Session *Session
	// Fingerprint components (hwid.Read).
	Fingerprint hwid.Components
	// StatePath keeps the last good lease, the cached /v1/keys and the clock's high-water mark (0600).
	StatePath string
	// LicenseKey activated or validated; "" validates the instance's own seat (or Starter).
	LicenseKey string
	// HeartbeatInterval when the service does not say; default 1 h, always with ±10 % jitter.
	HeartbeatInterval time.Duration
	// SessionStats is sent with each heartbeat (the design's session_stats); optional.
	SessionStats func() map[string]any
	// OnChange is called (on its own goroutine) whenever the entitlements change.
	OnChange func(Entitlements)
	// Clock is the wall clock; default time.Now. The client never trusts it alone: see trustedNow.
	Clock  func() time.Time
	Logger *slog.Logger
}

type state struct {
	Keys     json.RawMessage `json:"keys,omitempty"`
	Lease    string          `json:"lease,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	HighMark int64           `json:"high_water_unix_ms"`
}

// Client validates, activates and heartbeats, keeps the last good lease and answers Allowed / Limit.
type Client struct {
	cfg  ClientConfig
	sess *Session
	log  *slog.Logger

	mu        sync.Mutex
	keys      *KeySet
	st        state
	lease     *Lease
	current   Entitlements
	markMono  time.Time // monotonic reading taken when st.HighMark was set in this process
	savedMark int64     // the high-water mark last written to StatePath
}

// NewClient loads the cached state (lease, keys, high-water mark); it makes no request.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Session == nil || cfg.StatePath == "" {
		return nil, errors.New("licensing: Session and StatePath are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = time.Hour
	}
	c := &Client{cfg: cfg, sess: cfg.Session, log: cfg.Logger, current: Starter("NO_LEASE"), markMono: time.Now()}
	if b, err := os.ReadFile(cfg.StatePath); err == nil {
		if err := json.Unmarshal(b, &c.st); err != nil {
			return nil, fmt.Errorf("licensing: state %s: %w", cfg.StatePath, err)
		}
		if len(c.st.Keys) > 0 {
			c.keys, _ = ParseKeySet(c.st.Keys)
		}
		c.savedMark = c.st.HighMark
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	c.mu.Lock()
	c.reevaluateLocked()
	c.mu.Unlock()
	return c, nil
}

// trustedNow is the later of the wall clock and the high-water mark advanced by the monotonic clock
// since it was set: setting the computer's clock back cannot make an expired lease valid again, nor
// extend a valid one. Called with mu held; it raises the mark.
func (c *Client) trustedNow() time.Time {
	wall := c.cfg.Clock()
	fromMark := time.UnixMilli(c.st.HighMark).Add(time.Since(c.markMono))
	now := wall
	if fromMark.After(now) {
		now = fromMark
	}
	c.raiseMark(now)
	return now
}

func (c *Client) raiseMark(t time.Time) {
	if ms := t.UnixMilli(); ms > c.st.HighMark {
		c.st.HighMark, c.markMono = ms, time.Now()
	}
}

func (c *Client) saveLocked() error {
	b, err := json.Marshal(c.st)
	if err != nil {
		return err
	}
	dir := filepath.Dir(c.cfg.StatePath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp := c.cfg.StatePath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, c.cfg.StatePath)
}

// reevaluateLocked derives the entitlements from the cached lease at the trusted time and notifies on
// change. Offline, a lease is honoured until its not-after; then, and without one, Starter.
func (c *Client) reevaluateLocked() {
	now := c.trustedNow()
	next := Starter("NO_LEASE")
	if c.st.Lease != "" && c.keys != nil {
		l, err := VerifyLease(c.keys, c.st.Lease, c.sess.InstanceID(), "", now)
		if err == nil {
			c.lease = l
			next = Entitlements{Tier: l.Tier, Features: l.Features, Limits: l.Limits, Mode: l.Enforcement.Mode,
				Reason: l.Reason, NotAfter: l.NotAfter(), FromLease: true}
		} else {
			c.lease = nil
			var ve *VerifyError
			if errors.As(err, &ve) {
				next = Starter(ve.Code)
			}
		}
	} else if c.st.Reason != "" {
		next = Starter(c.st.Reason)
	}
	// The mark is written at least once a minute of trusted time, so a restart with the clock set back
	// starts from it too.
	if c.st.HighMark-c.savedMark >= 60_000 {
		if err := c.saveLocked(); err == nil {
			c.savedMark = c.st.HighMark
		}
	}
	changed := !sameEntitlements(next, c.current)
	c.current = next
	if changed && c.cfg.OnChange != nil {
		go c.cfg.OnChange(next)
	}
}

func sameEntitlements(a, b Entitlements) bool {
	if a.Tier != b.Tier || a.Mode != b.Mode || a.FromLease != b.FromLease || !slices.Equal(a.Features, b.Features) || len(a.Limits) != len(b.Limits) {
		return false
	}
	for k, v := range a.Limits {
		w, ok := b.Limits[k]
		if !ok || (v == nil) != (w == nil) || (v != nil && *v != *w) {
			return false
		}
	}
	return true
}

// Entitlements are the current ones (re-checked against the lease's not-after at the trusted time).
func (c *Client) Entitlements() Entitlements {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reevaluateLocked()
	return c.current
}

// Allowed says whether a feature (unlimited_songs, youtube_import, multi_room, …) is allowed now.
func (c *Client) Allowed(feature string) bool {
	return slices.Contains(c.Entitlements().Features, feature)
}

// Limit is a limit by short name (songs, guests, rooms) or full name (max_songs); ok is false when
// unlimited.
func (c *Client) Limit(name string) (limit int64, ok bool) {
	e := c.Entitlements()
	v, found := e.Limits[name]
	if !found {
		v, found = e.Limits["max_"+name]
	}
	if !found || v == nil {
		return 0, false
	}
	return *v, true
}

// FetchKeys refreshes the cached /v1/keys (after a rotation: UNKNOWN_KEY).
func (c *Client) FetchKeys(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.sess.cfg.Endpoint+"/v1/keys", nil)
	if err != nil {
		return err
	}
	res, err := c.sess.http.Do(req)
	if err != nil {
		return fmt.Errorf("licensing: keys: %w", err)
	}
	defer res.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(res.Body).Decode(&raw); err != nil {
		return fmt.Errorf("licensing: keys: %w", err)
	}
	ks, err := ParseKeySet(raw)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys, c.st.Keys = ks, raw
	return c.saveLocked()
}

func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Activate takes a seat of the key for this machine.
func (c *Client) Activate(ctx context.Context, key string) (*Answer, error) {
	c.cfg.LicenseKey = key
	return c.ask(ctx, "/v1/auth/activate", map[string]any{"license_key": key})
}

// Validate asks whether the instance may use its license now, with a fresh nonce.
func (c *Client) Validate(ctx context.Context) (*Answer, error) {
	body := map[string]any{}
	if c.cfg.LicenseKey != "" {
		body["license_key"] = c.cfg.LicenseKey
	}
	return c.ask(ctx, "/v1/auth/validate", body)
}

// Heartbeat keeps the seat and refreshes the lease; it carries session_stats when configured.
func (c *Client) Heartbeat(ctx context.Context) (*Answer, error) {
	body := map[string]any{}
	if c.cfg.SessionStats != nil {
		if s := c.cfg.SessionStats(); len(s) > 0 {
			body["session_stats"] = s
		}
	}
	return c.ask(ctx, "/v1/auth/heartbeat", body)
}

// ask sends one licensing request with a fresh nonce and the fingerprint, verifies the signed answer
// (fetching the keys again once on UNKNOWN_KEY) and stores its lease.
func (c *Client) ask(ctx context.Context, path string, body map[string]any) (*Answer, error) {
	nonce := newNonce()
	body["nonce"] = nonce
	if len(c.cfg.Fingerprint) > 0 {
		body["fingerprint"] = c.cfg.Fingerprint
	}
	c.mu.Lock()
	haveKeys := c.keys != nil
	c.mu.Unlock()
	if !haveKeys {
		if err := c.FetchKeys(ctx); err != nil {
			return nil, err
		}
	}
	r, err := c.sess.Do(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusOK {
		return nil, apiError(r)
	}
	return c.Accept(ctx, r, nonce)
}

// Accept verifies a received answer for the request with nonce and, when it verifies, stores its
// lease (or drops the cached one when the answer carries none: revoked, banned).
func (c *Client) Accept(ctx context.Context, r *Response, nonce string) (*Answer, error) {
	c.mu.Lock()
	now := c.trustedNow()
	keys := c.keys
	c.mu.Unlock()
	a, _, err := VerifyAnswer(keys, r, c.sess.InstanceID(), nonce, now)
	var ve *VerifyError
	if errors.As(err, &ve) && ve.Code == "UNKNOWN_KEY" {
		if ferr := c.FetchKeys(ctx); ferr != nil {
			return nil, ferr
		}
		c.mu.Lock()
		keys = c.keys
		c.mu.Unlock()
		a, _, err = VerifyAnswer(keys, r, c.sess.InstanceID(), nonce, now)
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, perr := http.ParseTime(r.Header.Get("Date")); perr == nil {
		// The server's signed Date is trusted time: it moves the high-water mark forward.
		c.raiseMark(t)
	}
	c.st.Reason = a.Reason
	if a.Lease != nil {
		c.st.Lease = *a.Lease
	} else {
		c.st.Lease = ""
	}
	c.reevaluateLocked()
	if err := c.saveLocked(); err != nil {
		return a, fmt.Errorf("licensing: store lease: %w", err)
	}
	return a, nil
}

// Run heartbeats until ctx ends: hourly (or when the service says) with ±10 % jitter. A failing
// heartbeat is logged and retried at the next beat; it never crashes the host program, and offline the
// cached lease keeps counting down to its not-after.
func (c *Client) Run(ctx context.Context) {
	next := c.cfg.HeartbeatInterval
	for {
		jitter := time.Duration(mrand.Int64N(int64(next)/5+1)) - next/10
		t := time.NewTimer(next + jitter)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		a, err := c.safeHeartbeat(ctx)
		next = c.cfg.HeartbeatInterval
		if err != nil {
			c.log.Warn("licensing: heartbeat failed; running on the cached lease", "err", err)
			c.Entitlements()
			continue
		}
		if a.NextHeartbeatAt != nil {
			if d := time.Until(*a.NextHeartbeatAt); d > time.Second && d < 24*time.Hour {
				next = d
			}
		}
	}
}

func (c *Client) safeHeartbeat(ctx context.Context) (a *Answer, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("licensing: heartbeat panicked: %v", r)
		}
	}()
	return c.Heartbeat(ctx)
}
