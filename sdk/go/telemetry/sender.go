package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Authorizer signs requests as the instance: Bearer token, X-SM-Timestamp and X-SM-Signature, made
// afresh for every attempt, refreshing the token before it expires. licensing.Session implements it.
type Authorizer interface {
	// Authorize sets the authentication headers of req, whose body is body (as sent).
	Authorize(ctx context.Context, req *http.Request, body []byte) error
	// TokenRejected is called when the service answered 401 TOKEN_EXPIRED (or another token refusal):
	// the next Authorize must use a new token.
	TokenRejected(ctx context.Context, code string) error
}

// Attempt is one send attempt, reported to Config.OnAttempt (tests measure Retry-After with it).
type Attempt struct {
	Seq        int64
	BatchID    string
	At         time.Time
	Status     int // 0 when the request did not get an answer
	Code       string
	RetryAfter time.Duration
	Err        error
}

// Backoff between failed attempts: Base doubling up to Max, with full jitter.
type Backoff struct {
	Base time.Duration // default 1s
	Max  time.Duration // default 2m
}

func (b Backoff) delay(attempt int, rng func(int64) int64) time.Duration {
	base, max := b.Base, b.Max
	if base <= 0 {
		base = time.Second
	}
	if max <= 0 {
		max = 2 * time.Minute
	}
	d := base << min(attempt, 20)
	if d > max || d <= 0 {
		d = max
	}
	// Half fixed, half random: spreads a fleet's retries after an outage without ever waiting ~0.
	return d/2 + time.Duration(rng(int64(d/2)+1))
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Rejected []struct {
		Family string `json:"family"`
		Reason string `json:"reason"`
	} `json:"rejected"`
}

// outcome of one attempt.
type outcome int

const (
	outAccepted outcome = iota // 202: delete
	outDropped                 // refused for good: delete, count
	outRetry                   // try again after wait
	outStop                    // stop this cycle (banned, context done)
)

type sender struct {
	endpoint string
	http     *http.Client
	auth     Authorizer
	backoff  Backoff
	onAtt    func(Attempt)
	rng      func(int64) int64
	sleep    func(ctx context.Context, d time.Duration) error
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func newSender(endpoint string, hc *http.Client, auth Authorizer, bo Backoff, onAtt func(Attempt)) *sender {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &sender{endpoint: endpoint, http: hc, auth: auth, backoff: bo, onAtt: onAtt,
		rng: func(n int64) int64 { return rand.Int64N(n) }, sleep: sleepCtx}
}

// RetryAfter parses a Retry-After header (seconds or an HTTP date); 0 when absent.
func RetryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// attempt sends a batch once, signed afresh, and classifies the answer; wait is how long to wait
// before the next attempt (never less than Retry-After), dropped the items refused for good.
func (s *sender) attempt(ctx context.Context, b SealedBatch, n int) (out outcome, wait time.Duration, dropped map[string]int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint+"/v1/stats/batch", bytes.NewReader(b.Body))
	if err != nil {
		return outDropped, 0, map[string]int{"unsendable": b.Items}, err
	}
	req.Header.Set("Content-Type", b.ContentType)
	if b.ContentEncoding != "" {
		req.Header.Set("Content-Encoding", b.ContentEncoding)
	}
	if b.ContentType == AvroContentType {
		req.Header.Set(FingerprintHeader, SchemaFingerprint())
	}
	req.Header.Set("User-Agent", "smstats-go-sdk/"+SDKVersion)
	a := Attempt{Seq: b.Seq, BatchID: b.BatchID, At: time.Now()}
	if err := s.auth.Authorize(ctx, req, b.Body); err != nil {
		a.Err = err
		s.report(a)
		return outRetry, s.backoff.delay(n, s.rng), nil, fmt.Errorf("telemetry: authorize: %w", err)
	}
	res, err := s.http.Do(req)
	if err != nil {
		a.Err = err
		s.report(a)
		if ctx.Err() != nil {
			return outStop, 0, nil, ctx.Err()
		}
		return outRetry, s.backoff.delay(n, s.rng), nil, err
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	var eb errorBody
	_ = json.Unmarshal(body, &eb)
	a.Status, a.Code = res.StatusCode, eb.Error.Code
	a.RetryAfter = RetryAfter(res.Header.Get("Retry-After"), time.Now())
	s.report(a)
	switch {
	case res.StatusCode == http.StatusAccepted:
		if len(eb.Rejected) > 0 {
			return outAccepted, 0, map[string]int{"rejected": len(eb.Rejected)}, nil
		}
		return outAccepted, 0, nil, nil
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable:
		wait := s.backoff.delay(n, s.rng)
		if a.RetryAfter > 0 {
			// Never earlier than asked; a little jitter on top spreads a fleet told the same second.
			wait = a.RetryAfter + time.Duration(s.rng(int64(250*time.Millisecond)))
		}
		return outRetry, wait, nil, fmt.Errorf("telemetry: %d %s", res.StatusCode, eb.Error.Code)
	case res.StatusCode == http.StatusUnauthorized:
		if rerr := s.auth.TokenRejected(ctx, eb.Error.Code); rerr != nil {
			return outRetry, s.backoff.delay(n, s.rng), nil, fmt.Errorf("telemetry: %s, refresh failed: %w", eb.Error.Code, rerr)
		}
		return outRetry, 0, nil, fmt.Errorf("telemetry: 401 %s", eb.Error.Code)
	case res.StatusCode == http.StatusBadRequest:
		// A batch with no valid item: telemetry is not fixable by resending. The items are counted.
		return outDropped, 0, map[string]int{"rejected": b.Items}, fmt.Errorf("telemetry: 400 %s", eb.Error.Code)
	case res.StatusCode == http.StatusRequestEntityTooLarge || res.StatusCode == http.StatusUnsupportedMediaType:
		return outDropped, 0, map[string]int{"refused_" + strconv.Itoa(res.StatusCode): b.Items}, fmt.Errorf("telemetry: %d %s", res.StatusCode, eb.Error.Code)
	case res.StatusCode == http.StatusForbidden:
		return outStop, 0, nil, fmt.Errorf("telemetry: 403 %s", eb.Error.Code)
	default:
		return outRetry, s.backoff.delay(n, s.rng), nil, fmt.Errorf("telemetry: %d %s", res.StatusCode, eb.Error.Code)
	}
}

func (s *sender) report(a Attempt) {
	if s.onAtt != nil {
		s.onAtt(a)
	}
}

// errCycleOver means a batch ran out of attempts this cycle; it stays in the outbox.
var errCycleOver = errors.New("telemetry: retries exhausted for this cycle; batches kept")
