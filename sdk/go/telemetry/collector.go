package telemetry

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"math/rand/v2"
	"sync"
	"time"
)

// MetricsCollector is the design's collector interface, the method set SongMartyn calls. Every Record
// method is safe for concurrent use, returns at once and never does I/O; Flush seals what was recorded
// and sends it.
type MetricsCollector interface {
	RecordError(errType string, err error)
	RecordLatency(operation string, d time.Duration)
	RecordMpvHealth(status MpvStatus, restarted bool)
	RecordSongPlayed(song SongEvent)
	RecordSongSkipped(song SongEvent, reason SkipReason)
	RecordQueueEvent(kind QueueEventKind, song SongEvent)
	RecordUserJoined(userID, role string)
	RecordUserLeft(userID string)
	SyncLibraryStats(stats LibraryStats)
	Flush(ctx context.Context) error
}

// MpvStatus is the player's health: 0 ok, 1 degraded, 2 dead (the service's mpv_health_status values).
type MpvStatus int

// mpv states.
const (
	MpvOK       MpvStatus = 0
	MpvDegraded MpvStatus = 1
	MpvDead     MpvStatus = 2
)

var mpvStatusTag = [...]string{"ok", "degraded", "dead"}

// SkipReason says who or what skipped a song.
type SkipReason string

// Skip reasons the service knows.
const (
	SkipByUser  SkipReason = "user"
	SkipByAdmin SkipReason = "admin"
	SkipByError SkipReason = "error"
)

// QueueEventKind is what happened in the queue.
type QueueEventKind string

// Queue events.
const (
	QueueAdded   QueueEventKind = "queued"
	QueueRemoved QueueEventKind = "removed"
)

// SongEvent describes a song in a playback call. FilePath is read for the file type at most and never
// leaves the instance; UserID leaves only hashed with the per-install salt.
type SongEvent struct {
	// QueueID identifies one queue entry: the time from RecordQueueEvent(QueueAdded) to RecordSongPlayed
	// with the same QueueID is the wait time.
	QueueID     string
	Artist      string
	Title       string
	DurationSec int
	Source      string
	FileType    string
	FilePath    string
	UserID      string
}

// LibraryStats is a library sync's figures.
type LibraryStats struct {
	TotalSongs         int64
	SongsBySource      map[string]int64
	FileTypes          map[string]int64
	TotalSizeGB        float64
	GrowthRate         float64
	AvgSongDurationSec float64
}

// Drops by reason, counted by the collector.
const (
	DropBufferFull = "buffer_full"
	DropNoConsent  = "no_consent"
)

type reservoir struct {
	seen    int64
	samples []float64
}

// collector holds what was recorded since the last seal. One mutex, held for a few field updates:
// Record calls never wait on I/O, only on each other.
type collector struct {
	mu          sync.Mutex
	privacy     PrivacyConfig
	salt        []byte
	maxBuffered int
	maxSamples  int
	rng         *rand.Rand
	now         func() time.Time
	started     time.Time
	wake        chan struct{}

	errors      map[string]int64
	wsErrors    int64
	wsConnects  int64
	mpvRestarts int64
	mpvStatus   MpvStatus
	mpvKnown    bool
	latencies   map[string]*reservoir

	metrics  []Metric
	playback []PlaybackEvent
	session  []SessionEvent
	library  []LibrarySnapshot
	env      *Environment

	sessionID    string
	sessionStart time.Time
	users        map[string]string
	usersByRole  map[string]int32
	joinedTotal  int32
	peak         int32
	rooms        int32
	playedSess   int32
	playedTotal  int64
	queuedAt     map[string]time.Time
	userHashes   map[string]string
	sessionEnded bool

	dropped map[string]int64
}

func newCollector(p PrivacyConfig, salt []byte, maxBuffered, maxSamples int, now func() time.Time) *collector {
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	start := now()
	var sid [8]byte
	_, _ = crand.Read(sid[:])
	c := &collector{
		privacy: p, salt: salt, maxBuffered: maxBuffered, maxSamples: maxSamples, now: now,
		rng: rand.New(rand.NewChaCha8(seed)), started: start, wake: make(chan struct{}, 1),
		errors: map[string]int64{}, latencies: map[string]*reservoir{},
		sessionID:    "s-" + start.UTC().Format("20060102-1504") + "-" + hex.EncodeToString(sid[:4]),
		sessionStart: start, users: map[string]string{}, usersByRole: map[string]int32{},
		queuedAt: map[string]time.Time{}, userHashes: map[string]string{}, dropped: map[string]int64{}, rooms: 1,
	}
	if p.Collects(FamilySession) {
		st := start.UnixMilli()
		c.session = append(c.session, SessionEvent{TimeMs: st, SessionID: c.sessionID, EventType: "started", StartMs: &st})
	}
	return c
}

func (c *collector) buffered() int {
	return len(c.metrics) + len(c.playback) + len(c.session) + len(c.library)
}

// admit reports whether one more event fits; called with mu held. When the buffer reaches a batch, the
// sealer is woken; beyond maxBuffered (the sealer cannot keep up) the event is dropped and counted.
func (c *collector) admit(f Family) bool {
	if !c.privacy.Collects(f) {
		return false
	}
	n := c.buffered()
	if n >= c.maxBuffered {
		c.dropped[DropBufferFull]++
		return false
	}
	if n+1 >= c.privacy.MaxBatchSize {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return true
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// RecordError counts an error by type (error_count_by_type); type "websocket" also counts websocket_errors.
func (c *collector) RecordError(errType string, _ error) {
	c.mu.Lock()
	if c.privacy.Collects(FamilyQuality) {
		c.errors[errType]++
		if errType == "websocket" {
			c.wsErrors++
		}
	}
	c.mu.Unlock()
}

// RecordLatency samples an API latency per operation: a reservoir of at most maxSamples per operation
// and send interval (uniform over the interval), so memory and batch size stay bounded at any rate.
func (c *collector) RecordLatency(operation string, d time.Duration) {
	ms := float64(d) / float64(time.Millisecond)
	c.mu.Lock()
	if c.privacy.Collects(FamilyQuality) {
		r := c.latencies[operation]
		if r == nil {
			r = &reservoir{samples: make([]float64, 0, c.maxSamples)}
			c.latencies[operation] = r
		}
		r.seen++
		if len(r.samples) < c.maxSamples {
			r.samples = append(r.samples, ms)
		} else if j := c.rng.Int64N(r.seen); j < int64(c.maxSamples) {
			r.samples[j] = ms
		}
	}
	c.mu.Unlock()
}

// RecordMpvHealth keeps the player's latest state (sampled every 30 s into mpv_health_status) and counts
// restarts (mpv_restart_count).
func (c *collector) RecordMpvHealth(status MpvStatus, restarted bool) {
	c.mu.Lock()
	c.mpvStatus, c.mpvKnown = status, true
	if restarted && c.privacy.Collects(FamilyQuality) {
		c.mpvRestarts++
	}
	c.mu.Unlock()
}

func (c *collector) song(s SongEvent) Song {
	out := Song{Source: s.Source, FileType: strp(s.FileType), Artist: strp(s.Artist), Title: strp(s.Title)}
	if out.Source == "" {
		out.Source = "unknown"
	}
	if s.DurationSec > 0 {
		d := int32(s.DurationSec)
		out.DurationSec = &d
	}
	// FilePath is never copied: local paths do not leave the instance.
	return out
}

// maxUserHashes bounds the cache of hashed user ids (a party has tens of guests, a venue hundreds).
const maxUserHashes = 4096

// userHash is the salted hash of a user id, cached: the HMAC is most of a Record call's cost.
func (c *collector) userHash(id string) string {
	if h, ok := c.userHashes[id]; ok {
		return h
	}
	h := hashUser(c.salt, id)
	if len(c.userHashes) >= maxUserHashes {
		clear(c.userHashes)
	}
	c.userHashes[id] = h
	return h
}

func (c *collector) user(id string) *string {
	if id == "" {
		return nil
	}
	h := c.userHash(id)
	return &h
}

func (c *collector) playbackEvent(kind string, s SongEvent) PlaybackEvent {
	sid := c.sessionID
	return PlaybackEvent{TimeMs: c.now().UnixMilli(), EventType: kind, SessionID: &sid, Song: c.song(s), UserID: c.user(s.UserID)}
}

// RecordSongPlayed records a play; the wait time is measured from the matching QueueAdded.
func (c *collector) RecordSongPlayed(s SongEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.playedSess++
	c.playedTotal++
	var wait *float64
	if t, ok := c.queuedAt[s.QueueID]; ok && s.QueueID != "" {
		w := c.now().Sub(t).Seconds()
		wait = &w
		delete(c.queuedAt, s.QueueID)
	}
	if !c.admit(FamilyPlayback) {
		return
	}
	e := c.playbackEvent("played", s)
	e.WaitTimeSec = wait
	ps, pt := c.playedSess, c.playedTotal
	e.SongsPlayedSession, e.SongsPlayedTotal = &ps, &pt
	c.playback = append(c.playback, e)
}

// RecordSongSkipped records a skip with its reason.
func (c *collector) RecordSongSkipped(s SongEvent, reason SkipReason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.queuedAt, s.QueueID)
	if !c.admit(FamilyPlayback) {
		return
	}
	e := c.playbackEvent("skipped", s)
	r := string(reason)
	e.SkipReason = &r
	c.playback = append(c.playback, e)
}

// maxQueued bounds the queue-time map (entries never played nor removed).
const maxQueued = 10_000

// RecordQueueEvent records a song queued or removed; queued times feed the wait time of the play.
func (c *collector) RecordQueueEvent(kind QueueEventKind, s SongEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.QueueID != "" {
		if kind == QueueAdded && len(c.queuedAt) < maxQueued {
			c.queuedAt[s.QueueID] = c.now()
		} else if kind == QueueRemoved {
			delete(c.queuedAt, s.QueueID)
		}
	}
	if !c.admit(FamilyPlayback) {
		return
	}
	c.playback = append(c.playback, c.playbackEvent(string(kind), s))
}

// RecordUserJoined records a guest joining (peak concurrency and users by role follow).
func (c *collector) RecordUserJoined(userID, role string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.userHash(userID)
	if _, already := c.users[h]; !already {
		c.users[h] = role
		c.usersByRole[role]++
		c.joinedTotal++
		if n := int32(len(c.users)); n > c.peak {
			c.peak = n
		}
	}
	if c.privacy.Collects(FamilyQuality) {
		c.wsConnects++
	}
	if !c.admit(FamilySession) {
		return
	}
	c.session = append(c.session, SessionEvent{TimeMs: c.now().UnixMilli(), SessionID: c.sessionID,
		EventType: "user_joined", UserID: &h, UserRole: strp(role)})
}

// RecordUserLeft records a guest leaving.
func (c *collector) RecordUserLeft(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.userHash(userID)
	role, ok := c.users[h]
	if ok {
		delete(c.users, h)
		c.usersByRole[role]--
	}
	if !c.admit(FamilySession) {
		return
	}
	c.session = append(c.session, SessionEvent{TimeMs: c.now().UnixMilli(), SessionID: c.sessionID,
		EventType: "user_left", UserID: &h, UserRole: strp(role)})
}

// SyncLibraryStats records a library snapshot.
func (c *collector) SyncLibraryStats(s LibraryStats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.admit(FamilyLibrary) {
		return
	}
	c.library = append(c.library, LibrarySnapshot{TimeMs: c.now().UnixMilli(), TotalSongs: s.TotalSongs,
		SongsBySource: copyMap(s.SongsBySource), FileTypes: copyMap(s.FileTypes), TotalSizeGB: s.TotalSizeGB,
		GrowthRate: s.GrowthRate, AvgSongDurationSec: s.AvgSongDurationSec})
}

func copyMap(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// gauge adds a sampled metric (memory, CPU, mpv health) now.
func (c *collector) gauge(name string, value float64, tags map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.admit(FamilyQuality) {
		return
	}
	t := c.now().UnixMilli()
	c.metrics = append(c.metrics, Metric{Name: name, Value: value, Tags: tags, TimeMs: &t})
}

func (c *collector) sampleMpv() {
	c.mu.Lock()
	known, st := c.mpvKnown, c.mpvStatus
	c.mu.Unlock()
	if known && st >= 0 && int(st) < len(mpvStatusTag) {
		c.gauge("mpv_health_status", float64(st), map[string]string{"status": mpvStatusTag[st]})
	}
}

func (c *collector) setEnvironment(e *Environment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e != nil && c.privacy.Collects(FamilyQuality) {
		cp := *e
		cp.TimeMs = c.now().UnixMilli()
		c.env = &cp
	}
}

// setPrivacy applies a new privacy config at once: buffered items of a withdrawn family are discarded
// (counted as no_consent), so nothing recorded under the old consent is sealed after the change.
func (c *collector) setPrivacy(p PrivacyConfig) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.privacy = p
	if !p.Collects(FamilyPlayback) {
		c.dropped[DropNoConsent] += int64(len(c.playback))
		c.playback = nil
	}
	if !p.Collects(FamilySession) {
		c.dropped[DropNoConsent] += int64(len(c.session))
		c.session = nil
	}
	if !p.Collects(FamilyLibrary) {
		c.dropped[DropNoConsent] += int64(len(c.library))
		c.library = nil
	}
	if !p.Collects(FamilyQuality) {
		c.dropped[DropNoConsent] += int64(len(c.metrics))
		c.metrics, c.env = nil, nil
		clear(c.errors)
		clear(c.latencies)
		c.wsErrors, c.wsConnects, c.mpvRestarts = 0, 0, 0
	}
}

// endSession records the session's end (on Close).
func (c *collector) endSession() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessionEnded {
		return
	}
	c.sessionEnded = true
	if !c.admit(FamilySession) {
		return
	}
	c.session = append(c.session, c.snapshotLocked("ended"))
}

func (c *collector) snapshotLocked(kind string) SessionEvent {
	now := c.now()
	st := c.sessionStart.UnixMilli()
	d := now.Sub(c.sessionStart).Seconds()
	jt, pk, rm := c.joinedTotal, c.peak, c.rooms
	roles := make(map[string]int32, len(c.usersByRole))
	for k, v := range c.usersByRole {
		if v > 0 {
			roles[k] = v
		}
	}
	return SessionEvent{TimeMs: now.UnixMilli(), SessionID: c.sessionID, EventType: kind, StartMs: &st,
		DurationSec: &d, UsersJoinedTotal: &jt, UsersPeakConcurrent: &pk, UsersByRole: roles, RoomCount: &rm}
}

// drain takes everything recorded since the last drain: counters become metrics (then restart from
// zero), latency samples become api_response_times_ms items, uptime and a session snapshot are added.
func (c *collector) drain() *Batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	t := now.UnixMilli()
	b := &Batch{Metrics: c.metrics, Playback: c.playback, Session: c.session, Library: c.library, Environment: c.env}
	c.metrics, c.playback, c.session, c.library, c.env = nil, nil, nil, nil, nil
	if c.privacy.Collects(FamilyQuality) {
		add := func(name string, v float64, tags map[string]string) {
			b.Metrics = append(b.Metrics, Metric{Name: name, Value: v, Tags: tags, TimeMs: &t})
		}
		add("uptime_seconds", now.Sub(c.started).Seconds(), nil)
		for typ, n := range c.errors {
			if n > 0 {
				add("error_count_by_type", float64(n), map[string]string{"type": typ})
			}
		}
		clear(c.errors)
		if c.wsErrors > 0 {
			add("websocket_errors", float64(c.wsErrors), nil)
		}
		if c.wsConnects > 0 {
			add("websocket_connections_total", float64(c.wsConnects), nil)
		}
		if c.mpvRestarts > 0 {
			add("mpv_restart_count", float64(c.mpvRestarts), nil)
		}
		c.wsErrors, c.wsConnects, c.mpvRestarts = 0, 0, 0
		for op, r := range c.latencies {
			for _, v := range r.samples {
				add("api_response_times_ms", v, map[string]string{"operation": op})
			}
			r.samples, r.seen = r.samples[:0], 0
		}
	}
	if c.privacy.Collects(FamilySession) && !c.sessionEnded {
		b.Session = append(b.Session, c.snapshotLocked("snapshot"))
	}
	return b
}

// SessionFigures is what a heartbeat's session_stats carries.
type SessionFigures struct {
	SessionID           string
	DurationSec         float64
	UsersCurrent        int
	UsersJoinedTotal    int
	UsersPeakConcurrent int
	SongsPlayed         int
	Uptime              time.Duration
}

func (c *collector) figures() SessionFigures {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	return SessionFigures{SessionID: c.sessionID, DurationSec: now.Sub(c.sessionStart).Seconds(),
		UsersCurrent: len(c.users), UsersJoinedTotal: int(c.joinedTotal), UsersPeakConcurrent: int(c.peak),
		SongsPlayed: int(c.playedSess), Uptime: now.Sub(c.started)}
}

func (c *collector) droppedCounts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.dropped))
	for k, v := range c.dropped {
		out[k] = v
	}
	return out
}
