package livetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

type tally struct {
	InstanceID   string         `json:"instance_id"`
	Playback     map[string]int `json:"playback"`
	Skips        map[string]int `json:"skips"`
	WaitTimes    int            `json:"wait_times"`
	Session      map[string]int `json:"session"`
	Errors       map[string]int `json:"errors"`
	MpvRestarts  int            `json:"mpv_restarts"`
	Latencies    int            `json:"latencies"`
	LibrarySyncs int            `json:"library_syncs"`
	PeakGuests   int            `json:"peak_guests"`
	Tier         string         `json:"tier"`
}

// A party through smstats-instance (a paid key activated, so 12 guests are allowed): ClickHouse holds
// exactly what the instance recorded, per family, and the per-instance playback rollup agrees.
func TestLiveParty(t *testing.T) {
	l := liveEnv(t)
	t.Parallel()
	key, _ := l.issue(t, "party_host")
	dir := t.TempDir()
	out, err := exec.Command(instanceBinary(t), "-endpoint", l.endpoint, "-data", dir, "-license-key", key,
		"-hwid-override", uniqueHWID("party"), "-songs", "45", "-guests", "12", "-tally", filepath.Join(dir, "tally.json")).CombinedOutput()
	if err != nil {
		t.Fatalf("smstats-instance: %v\n%s", err, out)
	}
	var tl tally
	b, _ := os.ReadFile(filepath.Join(dir, "tally.json"))
	if err := json.Unmarshal(b, &tl); err != nil {
		t.Fatal(err)
	}
	if tl.Tier != "party_host" || tl.PeakGuests != 12 {
		t.Fatalf("the activated key did not lift the Starter guest limit: tier %s, guests %d", tl.Tier, tl.PeakGuests)
	}
	id := tl.InstanceID
	where := fmt.Sprintf("instance_id = '%s'", id)
	played := float64(tl.Playback["played"])
	eventually(t, 60*time.Second, func() string {
		for kind, n := range tl.Playback {
			if got := l.num(t, fmt.Sprintf("SELECT count() FROM events_playback WHERE %s AND event_type = '%s'", where, kind)); got != float64(n) {
				return fmt.Sprintf("playback %s: %v stored, %d recorded", kind, got, n)
			}
		}
		if got := l.num(t, "SELECT count() FROM environment WHERE "+where); got != 1 {
			return fmt.Sprintf("environment rows %v", got)
		}
		if got := l.num(t, fmt.Sprintf("SELECT count() FROM events_session WHERE %s AND event_type = 'ended'", where)); got != 1 {
			return fmt.Sprintf("session ended rows %v", got)
		}
		// Every table, rollups included, holds each batch whole before the checks below read them.
		return l.settled(t, where)
	})
	checks := []struct {
		what string
		sql  string
		want float64
	}{
		{"skips by user", "SELECT count() FROM events_playback WHERE " + where + " AND skip_reason = 'user'", float64(tl.Skips["user"])},
		{"skips by admin", "SELECT count() FROM events_playback WHERE " + where + " AND skip_reason = 'admin'", float64(tl.Skips["admin"])},
		{"plays with a wait time", "SELECT sum(has_wait) FROM events_playback WHERE " + where + " AND event_type = 'played'", float64(tl.WaitTimes)},
		{"no file path or plain title kept", "SELECT count() FROM events_playback WHERE " + where + " AND (song_title != '' OR song_hash = '')", 0},
		{"guests joined", "SELECT count() FROM events_session WHERE " + where + " AND event_type = 'user_joined'", float64(tl.Session["user_joined"])},
		{"guests left", "SELECT count() FROM events_session WHERE " + where + " AND event_type = 'user_left'", float64(tl.Session["user_left"])},
		{"session started", "SELECT count() FROM events_session WHERE " + where + " AND event_type = 'started'", 1},
		{"peak concurrent guests", "SELECT max(users_peak_concurrent) FROM events_session WHERE " + where, float64(tl.PeakGuests)},
		{"mpv restarts", "SELECT sum(value) FROM metrics_quality WHERE " + where + " AND metric_name = 'mpv_restart_count'", float64(tl.MpvRestarts)},
		{"mpv crash errors", "SELECT sum(value) FROM metrics_quality WHERE " + where + " AND metric_name = 'error_count_by_type' AND tags.value[indexOf(tags.key, 'type')] = 'mpv_crash'", float64(tl.Errors["mpv_crash"])},
		{"download errors", "SELECT sum(value) FROM metrics_quality WHERE " + where + " AND metric_name = 'error_count_by_type' AND tags.value[indexOf(tags.key, 'type')] = 'youtube_download'", float64(tl.Errors["youtube_download"])},
		{"websocket errors", "SELECT sum(value) FROM metrics_quality WHERE " + where + " AND metric_name = 'websocket_errors'", float64(tl.Errors["websocket"])},
		{"websocket connections", "SELECT sum(value) FROM metrics_quality WHERE " + where + " AND metric_name = 'websocket_connections_total'", float64(tl.Session["user_joined"])},
		{"latency samples", "SELECT count() FROM metrics_quality WHERE " + where + " AND metric_name = 'api_response_times_ms'", float64(tl.Latencies)},
		{"uptime reported", "SELECT count() > 0 FROM metrics_quality WHERE " + where + " AND metric_name = 'uptime_seconds'", 1},
		{"library snapshots", "SELECT count() FROM snapshots_library WHERE " + where, float64(tl.LibrarySyncs)},
		{"library songs", "SELECT sum(total_songs) FROM snapshots_library WHERE " + where, 4821 * float64(tl.LibrarySyncs)},
		{"rollup plays", "SELECT sumMerge(plays) FROM playback_instance_1d WHERE " + where, played},
		{"rollup skips", "SELECT sumMerge(skips) FROM playback_instance_1d WHERE " + where, float64(tl.Playback["skipped"])},
	}
	for _, c := range checks {
		if got := l.num(t, c.sql); got != c.want {
			t.Errorf("%s: ClickHouse has %v, the instance recorded %v", c.what, got, c.want)
		}
	}
	// The per-minute quality rollup counts the same latency samples (fleet-wide rows; this instance's
	// app version and operation are unique enough only in total, so compare ≥).
	if got := l.num(t, "SELECT countMerge(samples) FROM quality_1m WHERE metric_name = 'api_response_times_ms' AND operation = 'queue_add'"); got < float64(tl.Latencies) {
		t.Errorf("quality_1m holds %v latency samples, fewer than this party's %d", got, tl.Latencies)
	}
	t.Logf("FIGURE party: %d playback events, %d session events, %d latency samples stored exactly once", sum(tl.Playback), sum(tl.Session)+2, tl.Latencies)
	_ = context.Background
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
