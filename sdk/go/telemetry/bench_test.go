package telemetry

import (
	"context"
	"net/http"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func benchCollector() *collector {
	c := testCollector(everything())
	c.maxBuffered = 1 << 30
	c.maxSamples = 64
	c.privacy.MaxBatchSize = 1 << 30
	return c
}

func BenchmarkRecordError(b *testing.B) {
	c := benchCollector()
	c.RecordError("download", nil)
	b.ReportAllocs()
	for b.Loop() {
		c.RecordError("download", nil)
	}
}

func BenchmarkRecordLatency(b *testing.B) {
	c := benchCollector()
	c.RecordLatency("search", time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		c.RecordLatency("search", 12*time.Millisecond)
	}
}

func BenchmarkRecordMpvHealth(b *testing.B) {
	c := benchCollector()
	b.ReportAllocs()
	for b.Loop() {
		c.RecordMpvHealth(MpvOK, false)
	}
}

func BenchmarkRecordSongPlayed(b *testing.B) {
	c := benchCollector()
	s := SongEvent{Title: "Song", Artist: "Band", Source: "local", FileType: "mp4", UserID: "alice"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.RecordSongPlayed(s)
		if i%10_000 == 0 {
			c.drain()
		}
	}
}

func BenchmarkRecordUserJoinedLeft(b *testing.B) {
	c := benchCollector()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.RecordUserJoined("alice", "guest")
		c.RecordUserLeft("alice")
		if i%5_000 == 0 {
			c.drain()
		}
	}
}

// BenchmarkSealAndStore: items/s from the collector through Avro, gzip and the SQLite outbox (WAL,
// synchronous=FULL), in batches of 1000 playback events.
func BenchmarkSealAndStore(b *testing.B) {
	cl, err := New(Config{Endpoint: "http://127.0.0.1:1", InstanceID: "bench", Auth: nil, OutboxPath: filepath.Join(b.TempDir(), "o.db"), Privacy: func() *PrivacyConfig { p := everything(); return &p }()})
	if err == nil {
		b.Fatal("New must refuse a missing Authorizer")
	}
	cl, err = New(Config{Endpoint: "http://127.0.0.1:1", InstanceID: "bench", Auth: noAuth{}, OutboxPath: filepath.Join(b.TempDir(), "o.db"),
		Privacy: func() *PrivacyConfig { p := everything(); p.CollectSession = false; return &p }()})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close(context.Background())
	s := SongEvent{Title: "Song", Artist: "Band", Source: "local", FileType: "mp4", UserID: "alice"}
	items := 0
	b.ResetTimer()
	for b.Loop() {
		for i := 0; i < 999; i++ {
			cl.RecordSongPlayed(s)
		}
		if err := cl.Seal(context.Background()); err != nil {
			b.Fatal(err)
		}
		items += 1000
	}
	b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkMemoryPer10kBufferedItems: heap held by 10,000 buffered playback events.
func BenchmarkMemoryPer10kBufferedItems(b *testing.B) {
	s := SongEvent{Title: "Song title", Artist: "Band", Source: "local", FileType: "mp4", UserID: "alice"}
	var total float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c := benchCollector()
		for i := 0; i < 10_000; i++ {
			c.RecordSongPlayed(s)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		total += float64(after.HeapAlloc) - float64(before.HeapAlloc)
		runtime.KeepAlive(c)
	}
	b.ReportMetric(total/float64(b.N)/1024, "KiB/10k-items")
}

type noAuth struct{}

func (noAuth) Authorize(context.Context, *http.Request, []byte) error { return nil }
func (noAuth) TokenRejected(context.Context, string) error            { return nil }
