package telemetry

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func testCollector(p PrivacyConfig) *collector {
	return newCollector(p.withDefaults(), []byte("salt"), 100, 4, time.Now)
}

func everything() PrivacyConfig {
	p := DefaultPrivacyConfig()
	p.CollectPlayback, p.CollectSession, p.CollectLibrary = true, true, true
	return p
}

func metricSum(b *Batch, name string) (n int, sum float64) {
	for _, m := range b.Metrics {
		if m.Name == name {
			n++
			sum += m.Value
		}
	}
	return
}

func TestPrivacyConfigDefaultsAndJSONNames(t *testing.T) {
	var p PrivacyConfig
	if err := json.Unmarshal([]byte(`{"collect_playback": true, "send_interval": "1m"}`), &p); err != nil {
		t.Fatal(err)
	}
	if !p.Enabled || !p.CollectQuality || !p.CollectPlayback || p.CollectSession || p.MaxBatchSize != 1000 || p.RetryCount != 3 ||
		time.Duration(p.SendInterval) != time.Minute || !p.AnonymizeSongTitles || !p.AnonymizeUserIDs || !p.ExcludeLocalFiles {
		t.Fatalf("partial JSON lost defaults: %+v", p)
	}
	d := DefaultPrivacyConfig()
	if time.Duration(d.SendInterval) != 5*time.Minute || d.MaxBatchSize != 1000 || d.RetryCount != 3 {
		t.Fatalf("defaults: %+v", d)
	}
	b, _ := json.Marshal(d)
	for _, name := range []string{"collect_quality", "anonymize_song_titles", "anonymize_user_ids", "exclude_local_files", "send_interval", "max_batch_size", "retry_count"} {
		if !json.Valid(b) || !contains(string(b), `"`+name+`"`) {
			t.Fatalf("JSON lacks %s: %s", name, b)
		}
	}
}

func contains(s, sub string) bool {
	return len(s) >= len(sub) && (s == sub || len(sub) == 0 || indexOf(s, sub) >= 0)
}
func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestCountersAggregateBetweenDrainsAndRestartFromZero(t *testing.T) {
	c := testCollector(everything())
	for i := 0; i < 5; i++ {
		c.RecordError("download", nil)
	}
	c.RecordError("websocket", nil)
	c.RecordMpvHealth(MpvDead, false)
	c.RecordMpvHealth(MpvOK, true)
	b := c.drain()
	if n, s := metricSum(b, "error_count_by_type"); n != 2 || s != 6 {
		t.Fatalf("errors: %d items, sum %v", n, s)
	}
	if _, s := metricSum(b, "mpv_restart_count"); s != 1 {
		t.Fatalf("restarts %v", s)
	}
	if n, _ := metricSum(b, "uptime_seconds"); n != 1 {
		t.Fatal("uptime missing")
	}
	b = c.drain()
	if n, _ := metricSum(b, "error_count_by_type"); n != 0 {
		t.Fatal("counters did not restart from zero")
	}
}

func TestLatencySamplesAreBoundedPerOperation(t *testing.T) {
	c := testCollector(everything())
	for i := 0; i < 1000; i++ {
		c.RecordLatency("search", time.Duration(i)*time.Millisecond)
	}
	c.RecordLatency("queue_add", time.Millisecond)
	b := c.drain()
	if n, _ := metricSum(b, "api_response_times_ms"); n != 5 {
		t.Fatalf("%d samples, want 4 (bound) + 1", n)
	}
}

func TestWaitTimeIsMeasuredFromQueueToPlayAndPeakUsersKept(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := newCollector(everything().withDefaults(), []byte("s"), 100, 4, clock)
	c.RecordUserJoined("a", "host")
	c.RecordUserJoined("b", "guest")
	c.RecordUserJoined("c", "guest")
	c.RecordUserLeft("b")
	c.RecordUserJoined("d", "guest")
	c.RecordQueueEvent(QueueAdded, SongEvent{QueueID: "q", Source: "local"})
	mu.Lock()
	now = now.Add(90 * time.Second)
	mu.Unlock()
	c.RecordSongPlayed(SongEvent{QueueID: "q", Source: "local", FilePath: "/home/x.mp4", UserID: "alice"})
	b := c.drain()
	var played *PlaybackEvent
	for i := range b.Playback {
		if b.Playback[i].EventType == "played" {
			played = &b.Playback[i]
		}
	}
	if played == nil || played.WaitTimeSec == nil || *played.WaitTimeSec != 90 {
		t.Fatalf("wait time: %+v", played)
	}
	if played.Song.FilePath != nil || *played.UserID == "alice" {
		t.Fatalf("path or plain user left: %+v", played)
	}
	snap := b.Session[len(b.Session)-1]
	if snap.EventType != "snapshot" || *snap.UsersPeakConcurrent != 3 || *snap.UsersJoinedTotal != 4 || snap.UsersByRole["guest"] != 2 {
		t.Fatalf("snapshot: %+v", snap)
	}
}

func TestAFamilyWithoutConsentIsNeverBuffered(t *testing.T) {
	c := testCollector(DefaultPrivacyConfig()) // quality only
	c.RecordSongPlayed(SongEvent{Source: "local"})
	c.RecordUserJoined("u", "guest")
	c.SyncLibraryStats(LibraryStats{TotalSongs: 1})
	b := c.drain()
	if len(b.Playback)+len(b.Session)+len(b.Library) != 0 {
		t.Fatalf("opt-in families were buffered: %+v", b)
	}
}

func TestBufferFullDropsAreCounted(t *testing.T) {
	p := everything()
	p.CollectSession = false // its "started" event would take a place in the buffer
	c := testCollector(p)
	for i := 0; i < 150; i++ {
		c.RecordQueueEvent(QueueAdded, SongEvent{Source: "local"})
	}
	if got := c.droppedCounts()[DropBufferFull]; got != 50 {
		t.Fatalf("dropped %d, want 50 (buffer of 100)", got)
	}
}

func TestSplitKeepsEveryItemWithinMaxBatchSize(t *testing.T) {
	b := &Batch{Environment: &Environment{}}
	for i := 0; i < 25; i++ {
		b.Metrics = append(b.Metrics, Metric{Name: "m"})
		b.Playback = append(b.Playback, PlaybackEvent{})
	}
	parts := split(b, 10)
	total := 0
	for _, p := range parts {
		if p.Items() > 10 {
			t.Fatalf("part of %d items", p.Items())
		}
		total += p.Items()
	}
	if total != 51 || len(parts) != 6 {
		t.Fatalf("%d items in %d parts", total, len(parts))
	}
}

func TestAvroRoundTripAndFingerprint(t *testing.T) {
	ms := int64(1_800_000_000_000)
	b := &Batch{InstanceID: "i", BatchID: "b", Seq: 3, TimestampMs: ms, Metrics: []Metric{{Name: "x", Value: 1, Tags: map[string]string{"a": "b"}, TimeMs: &ms}}}
	raw, err := EncodeAvro(b)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeAvro(raw)
	if err != nil || back.Seq != 3 || back.Metrics[0].Tags["a"] != "b" || *back.Metrics[0].TimeMs != ms {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	// The service's schemas/registry.ts computes this for metrics-batch.v2.avsc (checked live too).
	if SchemaFingerprint() != "01e174df3f7c32fca4b5782a829105ee7356af55bccbee29f24c9ecb960eaed8" {
		t.Fatalf("fingerprint %s", SchemaFingerprint())
	}
}

func TestRetryAfterParsesSecondsAndDates(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if RetryAfter("7", now) != 7*time.Second || RetryAfter("", now) != 0 {
		t.Fatal("seconds")
	}
	if got := RetryAfter(now.Add(30*time.Second).Format(http.TimeFormat), now); got != 30*time.Second {
		t.Fatalf("date: %s", got)
	}
}

func sealN(t *testing.T, o *Outbox, n int) {
	for i := 0; i < n; i++ {
		_, err := o.Seal(context.Background(), func(seq int64, _ Evictions) (SealedBatch, error) {
			return SealedBatch{BatchID: newBatchID(), Body: make([]byte, 100), ContentType: "x", Items: 2}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestOutboxEvictsOldestByCountBytesAndAgeAndKeepsSeqAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	o, err := OpenOutbox(path, OutboxLimits{MaxBatches: 3, MaxBytes: 1 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealN(t, o, 5)
	seqs, _ := o.Pending(context.Background())
	st, _ := o.Stats(context.Background())
	if len(seqs) != 3 || seqs[0] != 3 || st.Evicted.Batches != 2 || st.Evicted.Items != 4 || st.Unreported.Batches != 1 {
		// Batch 5 was handed the first eviction to report; the second waits for the next seal.
		t.Fatalf("held %v, stats %+v", seqs, st)
	}
	o.Close()
	o, _ = OpenOutbox(path, OutboxLimits{MaxBatches: 100, MaxBytes: 250}, nil)
	var reported Evictions
	_, _ = o.Seal(context.Background(), func(seq int64, un Evictions) (SealedBatch, error) {
		reported = un
		if seq != 6 {
			t.Fatalf("seq after restart %d, want 6", seq)
		}
		return SealedBatch{BatchID: newBatchID(), Body: make([]byte, 100), ContentType: "x", Items: 2}, nil
	})
	st, _ = o.Stats(context.Background())
	if reported.Batches != 1 || st.Batches != 2 || st.Unreported.Batches != 2 {
		t.Fatalf("byte cap: reported %+v, stats %+v", reported, st)
	}
	o.Close()
	future := func() time.Time { return time.Now().Add(40 * 24 * time.Hour) }
	o, _ = OpenOutbox(path, OutboxLimits{}, future)
	defer o.Close()
	sealN(t, o, 1)
	st, _ = o.Stats(context.Background())
	if st.Batches != 1 {
		t.Fatalf("age cap: %d held", st.Batches)
	}
}

func TestRecordCallsAreSafeForConcurrentUse(t *testing.T) {
	c := testCollector(everything())
	c.maxBuffered = 1 << 20
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				c.RecordError("e", nil)
				c.RecordLatency("op", time.Millisecond)
				c.RecordSongPlayed(SongEvent{Source: "local"})
				if i%100 == 0 {
					c.drain()
				}
			}
		}()
	}
	wg.Wait()
}
