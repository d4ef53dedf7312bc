package livetest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/songmartyn/smstats/sdk/go/telemetry"
)

// outage is how long ingest is unreachable in TestLiveIngestDownTwoMinutes (the acceptance's two
// minutes; SMSTATS_SDK_OUTAGE shortens it for a quick local run, never under npm test).
func outage() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("SMSTATS_SDK_OUTAGE")); err == nil && d > 0 {
		return d
	}
	return 2 * time.Minute
}

// Ingest unreachable for two minutes while the instance keeps recording and sealing every second:
// after it returns, every recorded item is stored exactly once (each batch_id once, each item once).
func TestLiveIngestDownTwoMinutes(t *testing.T) {
	l := liveEnv(t)
	t.Parallel()
	p := newProxy(t, l.endpoint)
	s := session(t, l.endpoint, "outage")
	c := newClient(t, s, p.URL, func(cfg *telemetry.Config) {
		pc := allFamilies()
		pc.CollectQuality, pc.CollectSession, pc.CollectLibrary = false, false, false
		pc.SendInterval = telemetry.Duration(time.Second)
		cfg.Privacy = pc
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Start(ctx)
	recorded := 0
	record := func(n int) {
		for i := 0; i < n; i++ {
			c.RecordSongPlayed(telemetry.SongEvent{Title: fmt.Sprintf("t%d", recorded), Source: "local"})
			recorded++
		}
	}
	record(20)
	time.Sleep(2 * time.Second)
	p.setDown(true)
	downAt := time.Now()
	for time.Since(downAt) < outage() {
		record(5)
		time.Sleep(200 * time.Millisecond)
	}
	st, _ := c.Stats(ctx)
	heldAtReturn := st.Outbox.Batches
	p.setDown(false)
	record(20)
	eventually(t, 90*time.Second, func() string {
		st, _ := c.Stats(ctx)
		if st.Outbox.Batches > 0 || st.ItemsSealed < int64(recorded) {
			return fmt.Sprintf("%d batches still held", st.Outbox.Batches)
		}
		return ""
	})
	where := fmt.Sprintf("instance_id = '%s'", s.InstanceID())
	eventually(t, 60*time.Second, func() string {
		if got := l.num(t, "SELECT count() FROM events_playback WHERE "+where); got != float64(recorded) {
			return fmt.Sprintf("%v rows stored, %d recorded", got, recorded)
		}
		return ""
	})
	time.Sleep(3 * time.Second) // late duplicates, if any, would land now
	if got := l.num(t, "SELECT count() FROM events_playback WHERE "+where); got != float64(recorded) {
		t.Fatalf("%v rows stored, %d recorded", got, recorded)
	}
	if dup := l.num(t, "SELECT count() FROM (SELECT batch_id, row_index, count() AS c FROM events_playback WHERE "+where+" GROUP BY batch_id, row_index HAVING c > 1)"); dup != 0 {
		t.Fatalf("%v items stored twice", dup)
	}
	st, _ = c.Stats(ctx)
	if got := l.num(t, "SELECT uniqExact(batch_id) FROM events_playback WHERE "+where); got != float64(st.Sealed) {
		t.Fatalf("%v batches stored, %d sealed", got, st.Sealed)
	}
	t.Logf("FIGURE outage %s: %d items in %d batches (%d held when ingest returned, %d attempts) stored exactly once",
		outage(), recorded, st.Sealed, heldAtReturn, st.Attempts)
}

// kill -9 of smstats-instance in the middle of sending, then a restart: every sealed batch (the
// outbox's seq counter says how many) is stored exactly once.
func TestLiveKill9(t *testing.T) {
	l := liveEnv(t)
	t.Parallel()
	dir := t.TempDir()
	hw := uniqueHWID("kill9")
	args := []string{"-endpoint", l.endpoint, "-data", dir, "-hwid-override", hw, "-quality=false", "-session=false",
		"-library=false", "-send-interval", "50ms", "-batch-items", "50"}
	cmd := exec.Command(instanceBinary(t), append(args, "-batches", "60")...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sent := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "sent ") {
			sent++
		}
		if sent >= 5 {
			break
		}
	}
	// In the middle: batches are being sealed and sent right now.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = bufio.NewReader(stdout).WriteTo(devNull{}) }()
	_ = cmd.Wait()
	ob, err := telemetry.OpenOutbox(filepath.Join(dir, "outbox.db"), telemetry.OutboxLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := ob.Stats(context.Background())
	ob.Close()
	if before.NextSeq-1 >= 60 || before.Batches == 0 {
		t.Logf("note: killed with %d sealed, %d held", before.NextSeq-1, before.Batches)
	}
	out, err := exec.Command(instanceBinary(t), append(args, "-resume")...).CombinedOutput()
	if err != nil {
		t.Fatalf("restart: %v\n%s", err, out)
	}
	ob, _ = telemetry.OpenOutbox(filepath.Join(dir, "outbox.db"), telemetry.OutboxLimits{}, nil)
	after, _ := ob.Stats(context.Background())
	ob.Close()
	sealed := after.NextSeq - 1
	if sealed < int64(sent) {
		t.Fatalf("the outbox numbered %d batches, but %d were accepted before the kill", sealed, sent)
	}
	if after.Batches != 0 {
		t.Fatalf("%d batches still held after the restart", after.Batches)
	}
	id := readInstanceID(t, dir)
	where := fmt.Sprintf("instance_id = '%s'", id)
	eventually(t, 60*time.Second, func() string {
		if got := l.num(t, "SELECT uniqExact(batch_id) FROM events_playback WHERE "+where); got != float64(sealed) {
			return fmt.Sprintf("%v batches stored, %d sealed", got, sealed)
		}
		return ""
	})
	time.Sleep(3 * time.Second) // late duplicates, if any, would land now
	if got := l.num(t, "SELECT count() FROM events_playback WHERE "+where); got != float64(sealed*50) {
		t.Fatalf("%v rows stored, %d sealed batches × 50", got, sealed)
	}
	if bad := l.num(t, "SELECT count() FROM (SELECT batch_id, count() AS c FROM events_playback WHERE "+where+" GROUP BY batch_id HAVING c != 50)"); bad != 0 {
		t.Fatalf("%v batches stored with the wrong number of rows", bad)
	}
	t.Logf("FIGURE kill -9: killed after %d accepted sends with %d sealed and %d held; after restart %d batches stored exactly once", sent, before.NextSeq-1, before.Batches, sealed)
}

type devNull struct{}

func (devNull) Write(p []byte) (int, error) { return len(p), nil }

func readInstanceID(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), `"instance_id": "`)
	return string(b[i+16 : i+16+36])
}

// 429 and 503 with Retry-After: the next attempt comes no earlier than asked (measured between the
// attempts the client made), and the batch is then accepted.
func TestLiveRetryAfter(t *testing.T) {
	l := liveEnv(t)
	t.Parallel()
	p := newProxy(t, l.endpoint)
	p.inject = []injected{{429, "2"}, {503, "3"}}
	s := session(t, l.endpoint, "retry")
	var mu sync.Mutex
	var attempts []telemetry.Attempt
	c := newClient(t, s, p.URL, func(cfg *telemetry.Config) {
		cfg.OnAttempt = func(a telemetry.Attempt) { mu.Lock(); attempts = append(attempts, a); mu.Unlock() }
	})
	c.RecordError("test", nil)
	ctx := context.Background()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 3 || attempts[0].Status != 429 || attempts[1].Status != 503 || attempts[2].Status != 202 {
		t.Fatalf("attempts: %+v", attempts)
	}
	g1, g2 := attempts[1].At.Sub(attempts[0].At), attempts[2].At.Sub(attempts[1].At)
	if g1 < 2*time.Second || g2 < 3*time.Second {
		t.Fatalf("retried too early: %s after 429 Retry-After 2, %s after 503 Retry-After 3", g1, g2)
	}
	t.Logf("FIGURE Retry-After: 429 asked 2 s → next attempt after %s; 503 asked 3 s → after %s", g1, g2)
}

// A full outbox (3 batches, service away) evicts the oldest; once the service is reachable it
// receives the eviction count, which equals what the outbox evicted.
func TestLiveOutboxEviction(t *testing.T) {
	l := liveEnv(t)
	t.Parallel()
	p := newProxy(t, l.endpoint)
	p.setDown(true)
	s := session(t, l.endpoint, "evict")
	c := newClient(t, s, p.URL, func(cfg *telemetry.Config) {
		cfg.Outbox = telemetry.OutboxLimits{MaxBatches: 3}
		pc := allFamilies()
		pc.RetryCount = 1
		cfg.Privacy = pc
	})
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		for j := 0; j < 10; j++ {
			c.RecordSongPlayed(telemetry.SongEvent{Title: "x", Source: "local"})
		}
		if err := c.Seal(ctx); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := c.Stats(ctx)
	if st.Outbox.Batches != 3 || st.Outbox.Evicted.Batches != 3 {
		t.Fatalf("outbox %+v: want 3 held, 3 evicted", st.Outbox)
	}
	p.setDown(false)
	// The first flush sends the held batches (and seals one more, which evicts one more while 3 are held);
	// the second reports that last eviction too.
	for i := 0; i < 2; i++ {
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	st, _ = c.Stats(ctx)
	if st.Outbox.Unreported.Batches != 0 || st.Outbox.Batches != 0 {
		t.Fatalf("outbox %+v: everything should be sent and reported", st.Outbox)
	}
	where := fmt.Sprintf("instance_id = '%s'", s.InstanceID())
	eventually(t, 60*time.Second, func() string {
		got := l.num(t, "SELECT sum(value) FROM metrics_quality WHERE "+where+" AND metric_name = 'sdk_outbox_evicted_batches'")
		items := l.num(t, "SELECT sum(value) FROM metrics_quality WHERE "+where+" AND metric_name = 'sdk_outbox_evicted_items'")
		if got != float64(st.Outbox.Evicted.Batches) || items != float64(st.Outbox.Evicted.Items) {
			return fmt.Sprintf("service has %v evicted batches / %v items, the outbox evicted %+v", got, items, st.Outbox.Evicted)
		}
		return ""
	})
	t.Logf("FIGURE eviction: %d batches (%d items) evicted, all reported", st.Outbox.Evicted.Batches, st.Outbox.Evicted.Items)
}
