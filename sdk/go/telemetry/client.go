// Package telemetry is the instance side of SongMartyn Stats' telemetry: a collector implementing the
// design's MetricsCollector, sealing into Avro (or JSON) batches with a stable batch_id and the next
// per-instance seq, a SQLite outbox that holds every sealed batch until the service accepted it, and a
// sender that signs every attempt afresh and honours Retry-After.
package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// SDKVersion is this SDK's version, sent in every batch.
const SDKVersion = "0.1.0"

// Encoding of sealed batches.
type Encoding string

// Encodings.
const (
	EncodingAvro Encoding = "avro"
	EncodingJSON Encoding = "json"
)

// Config of a Client. Endpoint, InstanceID, Auth and OutboxPath are required.
type Config struct {
	// Endpoint is the service's base URL, e.g. https://stats.songmartyn.app.
	Endpoint string
	// InstanceID from registration.
	InstanceID string
	// Auth signs every request (licensing.Session).
	Auth Authorizer
	// Privacy is what is collected and how batches are sent; default DefaultPrivacyConfig().
	Privacy *PrivacyConfig
	// ConsentSink tells the service about a consent change (licensing.Session.PutConsent); optional.
	ConsentSink func(ctx context.Context, consent map[Family]bool) error
	// OutboxPath is the SQLite file of the outbox.
	OutboxPath string
	// Outbox caps; zero fields take DefaultOutboxLimits.
	Outbox OutboxLimits
	// Encoding of batches; default Avro.
	Encoding Encoding
	// HTTPClient; default one with a 30 s timeout.
	HTTPClient *http.Client
	// AppVersion of SongMartyn.
	AppVersion string
	// Environment sent once at start (travels with quality).
	Environment *Environment
	// GaugeInterval between memory and CPU samples; default 60 s.
	GaugeInterval time.Duration
	// MpvInterval between mpv health samples; default 30 s.
	MpvInterval time.Duration
	// LatencySamples kept per operation and send interval (reservoir); default 64.
	LatencySamples int
	// MaxBufferedItems in memory before Record calls drop (counted buffer_full); default 10 × MaxBatchSize.
	MaxBufferedItems int
	// Backoff between failed attempts; default 1 s doubling to 2 min, jittered.
	Backoff Backoff
	// OnAttempt observes every send attempt (optional).
	OnAttempt func(Attempt)
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Stats are the client's counters since start.
type Stats struct {
	Sealed, Sent, Attempts int64
	ItemsSealed, ItemsSent int64
	// Dropped items by reason: buffer_full, no_consent (buffered when consent was withdrawn), rejected
	// (400 from the service), refused_413, refused_415.
	Dropped map[string]int64
	Outbox  OutboxStats
}

// Client collects, seals, stores and sends telemetry. It implements MetricsCollector.
type Client struct {
	*collector
	cfg    Config
	outbox *Outbox
	send   *sender
	log    *slog.Logger

	sealMu sync.Mutex // one seal at a time (seq order = seal order)
	sendMu sync.Mutex // one send cycle at a time

	statsMu sync.Mutex
	stats   Stats

	stop    context.CancelFunc
	done    chan struct{}
	closeMu sync.Once
}

var _ MetricsCollector = (*Client)(nil)

// New opens the outbox and prepares a client; Start runs its loops.
func New(cfg Config) (*Client, error) {
	if cfg.Endpoint == "" || cfg.InstanceID == "" || cfg.Auth == nil || cfg.OutboxPath == "" {
		return nil, errors.New("telemetry: Endpoint, InstanceID, Auth and OutboxPath are required")
	}
	p := DefaultPrivacyConfig()
	if cfg.Privacy != nil {
		p = *cfg.Privacy
	}
	p = p.withDefaults()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Encoding == "" {
		cfg.Encoding = EncodingAvro
	}
	if cfg.GaugeInterval <= 0 {
		cfg.GaugeInterval = time.Minute
	}
	if cfg.MpvInterval <= 0 {
		cfg.MpvInterval = 30 * time.Second
	}
	if cfg.LatencySamples <= 0 {
		cfg.LatencySamples = 64
	}
	if cfg.MaxBufferedItems <= 0 {
		cfg.MaxBufferedItems = 10 * p.MaxBatchSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ob, err := OpenOutbox(cfg.OutboxPath, cfg.Outbox, cfg.Now)
	if err != nil {
		return nil, err
	}
	salt, err := ob.Salt()
	if err != nil {
		ob.Close()
		return nil, err
	}
	c := &Client{
		collector: newCollector(p, salt, cfg.MaxBufferedItems, cfg.LatencySamples, cfg.Now),
		cfg:       cfg, outbox: ob, log: cfg.Logger,
		send:  newSender(cfg.Endpoint, cfg.HTTPClient, cfg.Auth, cfg.Backoff, cfg.OnAttempt),
		stats: Stats{Dropped: map[string]int64{}},
	}
	c.setEnvironment(cfg.Environment)
	return c, nil
}

// Start runs the loops: seal and send every SendInterval (and as soon as a batch is full), memory and
// CPU every GaugeInterval, mpv health every MpvInterval. Close stops them.
func (c *Client) Start(ctx context.Context) {
	ctx, c.stop = context.WithCancel(ctx)
	c.done = make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.sampleLoop(ctx) }()
	go func() { defer wg.Done(); c.sendLoop(ctx) }()
	go func() { wg.Wait(); close(c.done) }()
}

func (c *Client) sampleLoop(ctx context.Context) {
	gauges := time.NewTicker(c.cfg.GaugeInterval)
	mpv := time.NewTicker(c.cfg.MpvInterval)
	defer gauges.Stop()
	defer mpv.Stop()
	cpu := newCPUSampler()
	for {
		select {
		case <-ctx.Done():
			return
		case <-gauges.C:
			c.gauge("memory_usage_mb", memoryMB(), nil)
			if pct, ok := cpu.sample(); ok {
				c.gauge("cpu_usage_percent", pct, nil)
			}
		case <-mpv.C:
			c.sampleMpv()
		}
	}
}

func (c *Client) sendLoop(ctx context.Context) {
	interval := time.Duration(c.privacy.SendInterval)
	t := time.NewTicker(interval)
	defer t.Stop()
	// Batches left from before a restart go out at once.
	c.cycle(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.wake:
		}
		if err := c.Seal(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("telemetry: sealing failed", "err", err)
		}
		c.cycle(ctx)
	}
}

func (c *Client) cycle(ctx context.Context) {
	if err := c.SendPending(ctx); err != nil && ctx.Err() == nil {
		c.log.Info("telemetry: batches kept for the next cycle", "err", err)
	}
}

// Seal takes what was recorded since the last seal and stores it in the outbox as one or more
// batches of at most MaxBatchSize items, each with a new batch_id and the next seq.
func (c *Client) Seal(ctx context.Context) error {
	c.sealMu.Lock()
	defer c.sealMu.Unlock()
	all := c.drain()
	c.collector.mu.Lock()
	max := c.privacy.MaxBatchSize
	flags := c.privacy.flags()
	c.collector.mu.Unlock()
	for _, part := range split(all, max) {
		_, err := c.outbox.Seal(ctx, func(seq int64, un Evictions) (SealedBatch, error) {
			b := *part
			if un.Batches > 0 {
				// Evictions reach the service as quality metrics in the next stored batch.
				t := c.cfg.Now().UnixMilli()
				b.Metrics = append(append([]Metric(nil), b.Metrics...),
					Metric{Name: "sdk_outbox_evicted_batches", Value: float64(un.Batches), Tags: map[string]string{"reason": "outbox_full"}, TimeMs: &t},
					Metric{Name: "sdk_outbox_evicted_items", Value: float64(un.Items), Tags: map[string]string{"reason": "outbox_full"}, TimeMs: &t})
			}
			if b.Items() == 0 {
				return SealedBatch{}, errNothing
			}
			return c.encode(&b, seq, flags)
		})
		if errors.Is(err, errNothing) {
			continue
		}
		if err != nil {
			return err
		}
		c.statsMu.Lock()
		c.stats.Sealed++
		c.stats.ItemsSealed += int64(part.Items())
		c.statsMu.Unlock()
	}
	return nil
}

var errNothing = errors.New("telemetry: nothing to seal")

func newBatchID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (c *Client) encode(b *Batch, seq int64, flags PrivacyFlags) (SealedBatch, error) {
	now := c.cfg.Now().UnixMilli()
	b.InstanceID, b.BatchID, b.Seq = c.cfg.InstanceID, newBatchID(), seq
	b.TimestampMs, b.SentAtMs = now, now
	b.AppVersion, b.SDKVersion, b.Privacy = c.cfg.AppVersion, SDKVersion, flags
	var raw []byte
	var err error
	ct := AvroContentType
	if c.cfg.Encoding == EncodingJSON {
		ct = "application/json"
		raw, err = json.Marshal(b)
	} else {
		raw, err = EncodeAvro(b)
	}
	if err != nil {
		return SealedBatch{}, fmt.Errorf("telemetry: encode batch %d: %w", seq, err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return SealedBatch{}, err
	}
	if err := zw.Close(); err != nil {
		return SealedBatch{}, err
	}
	return SealedBatch{BatchID: b.BatchID, Body: buf.Bytes(), ContentType: ct, ContentEncoding: "gzip", Items: b.Items()}, nil
}

// split cuts a drained batch into parts of at most max items (environment first, then each family).
func split(b *Batch, max int) []*Batch {
	if b.Items() <= max {
		return []*Batch{b}
	}
	var out []*Batch
	cur := &Batch{Environment: b.Environment}
	room := func() int { return max - cur.Items() }
	flush := func() {
		if cur.Items() > 0 {
			out = append(out, cur)
		}
		cur = &Batch{}
	}
	for ms := b.Metrics; len(ms) > 0; {
		if room() == 0 {
			flush()
		}
		n := min(room(), len(ms))
		cur.Metrics, ms = append(cur.Metrics, ms[:n]...), ms[n:]
	}
	for ps := b.Playback; len(ps) > 0; {
		if room() == 0 {
			flush()
		}
		n := min(room(), len(ps))
		cur.Playback, ps = append(cur.Playback, ps[:n]...), ps[n:]
	}
	for ss := b.Session; len(ss) > 0; {
		if room() == 0 {
			flush()
		}
		n := min(room(), len(ss))
		cur.Session, ss = append(cur.Session, ss[:n]...), ss[n:]
	}
	for ls := b.Library; len(ls) > 0; {
		if room() == 0 {
			flush()
		}
		n := min(room(), len(ls))
		cur.Library, ls = append(cur.Library, ls[:n]...), ls[n:]
	}
	flush()
	return out
}

// SendPending sends every held batch, oldest first, each with up to RetryCount attempts. A batch that
// runs out of attempts stays in the outbox and ends the cycle (the service is away or overloaded);
// errCycleOver is returned then.
func (c *Client) SendPending(ctx context.Context) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	seqs, err := c.outbox.Pending(ctx)
	if err != nil {
		return err
	}
	c.collector.mu.Lock()
	retries := c.privacy.RetryCount
	c.collector.mu.Unlock()
	for _, seq := range seqs {
		b, ok, err := c.outbox.Get(ctx, seq)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := c.sendOne(ctx, b, retries); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) sendOne(ctx context.Context, b SealedBatch, retries int) error {
	var last error
	for n := 0; n < retries; n++ {
		_ = c.outbox.Attempted(ctx, b.Seq)
		c.statsMu.Lock()
		c.stats.Attempts++
		c.statsMu.Unlock()
		out, wait, dropped, err := c.send.attempt(ctx, b, n)
		c.countDropped(dropped)
		switch out {
		case outAccepted, outDropped:
			if derr := c.outbox.Delete(ctx, b.Seq); derr != nil {
				return derr
			}
			if out == outAccepted {
				c.statsMu.Lock()
				c.stats.Sent++
				c.stats.ItemsSent += int64(b.Items)
				c.statsMu.Unlock()
			}
			return nil
		case outStop:
			return err
		}
		last = err
		if n+1 < retries {
			if serr := c.send.sleep(ctx, wait); serr != nil {
				return serr
			}
		} else if wait > 0 {
			// The service asked for a pause beyond this cycle: respect it before the next cycle.
			if serr := c.send.sleep(ctx, wait); serr != nil {
				return serr
			}
		}
	}
	return fmt.Errorf("%w: batch %d: %v", errCycleOver, b.Seq, last)
}

func (c *Client) countDropped(d map[string]int) {
	if len(d) == 0 {
		return
	}
	c.statsMu.Lock()
	for k, v := range d {
		c.stats.Dropped[k] += int64(v)
	}
	c.statsMu.Unlock()
}

// Flush seals what was recorded and sends everything held now; an error means some batches stay held
// for later (nothing is lost).
func (c *Client) Flush(ctx context.Context) error {
	if err := c.Seal(ctx); err != nil {
		return err
	}
	return c.SendPending(ctx)
}

// SetPrivacy changes the privacy config at run time: a withdrawn family stops being collected at once
// (its buffered items are discarded), and the service is told through ConsentSink, so it drops the
// family from batches sealed before the change too.
func (c *Client) SetPrivacy(ctx context.Context, p PrivacyConfig) error {
	p = p.withDefaults()
	c.setPrivacy(p)
	if c.cfg.ConsentSink == nil {
		return nil
	}
	if err := c.cfg.ConsentSink(ctx, p.Consent()); err != nil {
		return fmt.Errorf("telemetry: tell the service about the consent change: %w", err)
	}
	return nil
}

// Privacy is the current privacy config.
func (c *Client) Privacy() PrivacyConfig {
	c.collector.mu.Lock()
	defer c.collector.mu.Unlock()
	return c.privacy
}

// Figures are the session's figures now (for the heartbeat's session_stats).
func (c *Client) Figures() SessionFigures { return c.figures() }

// Stats returns the counters and the outbox's state.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	c.statsMu.Lock()
	s := c.stats
	s.Dropped = map[string]int64{}
	for k, v := range c.stats.Dropped {
		s.Dropped[k] = v
	}
	c.statsMu.Unlock()
	for k, v := range c.droppedCounts() {
		s.Dropped[k] += v
	}
	ob, err := c.outbox.Stats(ctx)
	s.Outbox = ob
	return s, err
}

// Close stops the loops, records the session's end, seals it and makes one last send cycle bounded
// by ctx; whatever is not sent stays in the outbox for the next start.
func (c *Client) Close(ctx context.Context) error {
	var err error
	c.closeMu.Do(func() {
		if c.stop != nil {
			c.stop()
			<-c.done
		}
		c.endSession()
		if err = c.Seal(ctx); err == nil {
			_ = c.SendPending(ctx)
		}
		if cerr := c.outbox.Close(); err == nil {
			err = cerr
		}
	})
	return err
}
