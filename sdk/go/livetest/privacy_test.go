package livetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/songmartyn/smstats/sdk/go/telemetry"
)

func decodeAll(t *testing.T, bodies [][]byte) []*telemetry.Batch {
	t.Helper()
	var out []*telemetry.Batch
	for _, b := range bodies {
		d, err := telemetry.DecodeAvro(b)
		if err != nil {
			t.Fatalf("captured body does not decode: %v", err)
		}
		out = append(out, d)
	}
	return out
}

// Consent withdrawn through the SDK: batches sealed afterwards carry no playback at all, and the
// service (told through PUT /v1/instances/{id}/consent) drops the playback of a batch sealed before.
func TestLiveConsentWithdrawn(t *testing.T) {
	l := liveEnv(t)
	t.Parallel()
	p := newProxy(t, l.endpoint)
	s := session(t, l.endpoint, "consent")
	c := newClient(t, s, p.URL, func(cfg *telemetry.Config) {
		cfg.ConsentSink = func(ctx context.Context, m map[telemetry.Family]bool) error {
			out := map[string]bool{}
			for f, v := range m {
				out[string(f)] = v
			}
			return s.PutConsent(ctx, out)
		}
	})
	ctx := context.Background()
	for i := 0; i < 7; i++ {
		c.RecordSongPlayed(telemetry.SongEvent{Title: "before", Source: "local"})
	}
	if err := c.Seal(ctx); err != nil { // sealed under the old consent, not sent yet
		t.Fatal(err)
	}
	c.RecordSongPlayed(telemetry.SongEvent{Title: "buffered", Source: "local"}) // buffered, discarded on withdrawal
	pc := c.Privacy()
	pc.CollectPlayback = false
	if err := c.SetPrivacy(ctx, pc); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		c.RecordSongPlayed(telemetry.SongEvent{Title: "after", Source: "local"})
		c.RecordError("after_withdrawal", nil)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	batches := decodeAll(t, p.bodies())
	if len(batches) != 2 || len(batches[0].Playback) != 7 || len(batches[1].Playback) != 0 {
		t.Fatalf("wire: %d batches, playback %v", len(batches), func() []int {
			var n []int
			for _, b := range batches {
				n = append(n, len(b.Playback))
			}
			return n
		}())
	}
	var first map[string]any
	_ = json.Unmarshal([]byte(p.answers[0]), &first)
	if f, _ := first["filtered"].(map[string]any); f["playback"] != float64(7) {
		t.Fatalf("the service did not drop the old batch's playback: %s", p.answers[0])
	}
	where := fmt.Sprintf("instance_id = '%s'", s.InstanceID())
	eventually(t, 60*time.Second, func() string {
		if got := l.num(t, "SELECT sum(value) FROM metrics_quality WHERE "+where+" AND metric_name = 'error_count_by_type'"); got != 5 {
			return fmt.Sprintf("quality after the withdrawal: %v", got)
		}
		// The batch is stored whole: had the service kept its playback, the rows would be in by now.
		return l.settled(t, where)
	})
	if got := l.num(t, "SELECT count() FROM events_playback WHERE "+where); got != 0 {
		t.Fatalf("%v playback rows stored after the withdrawal", got)
	}
	st, _ := c.Stats(ctx)
	if st.Dropped[telemetry.DropNoConsent] != 1 {
		t.Fatalf("the buffered play is not counted as dropped: %v", st.Dropped)
	}
}

// A wire capture of everything the SDK sends: no local file path, no plain user id, and no family
// without consent (session and library are off) leaves the process.
func TestLiveWireCapture(t *testing.T) {
	l := liveEnv(t)
	t.Parallel()
	p := newProxy(t, l.endpoint)
	s := session(t, l.endpoint, "wire")
	for _, enc := range []telemetry.Encoding{telemetry.EncodingAvro, telemetry.EncodingJSON} {
		c := newClient(t, s, p.URL, func(cfg *telemetry.Config) {
			pc := telemetry.DefaultPrivacyConfig()
			pc.CollectPlayback = true // session and library stay off
			cfg.Privacy, cfg.Encoding = &pc, enc
		})
		c.RecordUserJoined("alice@example.com", "host")
		c.SyncLibraryStats(telemetry.LibraryStats{TotalSongs: 10})
		song := telemetry.SongEvent{QueueID: "q1", Title: "Bohemian Rhapsody", Artist: "Queen", Source: "local", FileType: "mp4",
			FilePath: "/home/karaoke/Music/Queen - Bohemian Rhapsody.mp4", UserID: "alice@example.com"}
		c.RecordQueueEvent(telemetry.QueueAdded, song)
		c.RecordSongPlayed(song)
		c.RecordSongSkipped(song, telemetry.SkipByUser)
		c.RecordError("file_missing", fmt.Errorf("open /home/karaoke/Music/x.mp4: no such file"))
		c.RecordUserLeft("alice@example.com")
		if err := c.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	bodies := p.bodies()
	if len(bodies) < 2 {
		t.Fatalf("captured %d bodies", len(bodies))
	}
	for i, b := range bodies {
		for _, leak := range []string{"/home/", "Music/", "alice", "example.com", ".mp4"} {
			if bytes.Contains(b, []byte(leak)) {
				t.Fatalf("body %d leaks %q", i, leak)
			}
		}
	}
	avro := decodeAll(t, bodies[:1])[0]
	var jsonBody struct {
		Session  []any `json:"session"`
		Library  []any `json:"library"`
		Playback []struct {
			UserID *string        `json:"user_id"`
			Song   map[string]any `json:"song"`
		} `json:"playback"`
	}
	if err := json.Unmarshal(bodies[len(bodies)-1], &jsonBody); err != nil {
		t.Fatal(err)
	}
	if len(avro.Session) != 0 || len(avro.Library) != 0 || len(jsonBody.Session) != 0 || len(jsonBody.Library) != 0 {
		t.Fatal("a family without consent left the process")
	}
	if len(avro.Playback) != 3 || len(jsonBody.Playback) != 3 {
		t.Fatalf("playback items: %d avro, %d json", len(avro.Playback), len(jsonBody.Playback))
	}
	for _, e := range avro.Playback {
		if e.Song.FilePath != nil || e.UserID == nil || !strings.HasPrefix(*e.UserID, "u_") {
			t.Fatalf("avro playback item leaks: %+v", e)
		}
	}
	for _, e := range jsonBody.Playback {
		if _, has := e.Song["file_path"]; has || e.UserID == nil || !strings.HasPrefix(*e.UserID, "u_") {
			t.Fatalf("json playback item leaks: %+v", e)
		}
	}
	if !avro.Privacy.AnonymizeSongs || !avro.Privacy.AnonymizeUsers || !avro.Privacy.ExcludeLocal {
		t.Fatalf("privacy flags not sent: %+v", avro.Privacy)
	}
	// The JSON body was accepted as such (both encodings reach the service).
	for _, a := range p.answers {
		if !strings.Contains(a, `"accepted"`) {
			t.Fatalf("a captured batch was not accepted: %s", a)
		}
	}
	t.Logf("FIGURE wire capture: %d bodies (Avro and JSON), no path, no plain user id, no session/library", len(bodies))
}
