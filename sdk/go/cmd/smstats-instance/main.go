// Command smstats-instance behaves like a SongMartyn instance: it registers, activates a license key,
// holds a party (guests join and leave, songs are queued, played and skipped, mpv restarts, errors
// happen), heartbeats, and sends its telemetry through the SDK. The SDK's live tests drive it, and it
// is the integration example for SongMartyn's main.go.
//
//	smstats-instance -endpoint http://127.0.0.1:8080 -data ./instance -songs 40 -guests 12
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/songmartyn/smstats/sdk/go/hwid"
	"github.com/songmartyn/smstats/sdk/go/licensing"
	"github.com/songmartyn/smstats/sdk/go/telemetry"
)

// Tally is what the party recorded through the SDK, written at the end (-tally) so tests can compare
// it with what the service stored.
type Tally struct {
	InstanceID   string          `json:"instance_id"`
	Playback     map[string]int  `json:"playback"` // by event type
	Skips        map[string]int  `json:"skips"`    // by reason
	WaitTimes    int             `json:"wait_times"`
	SessionEvts  map[string]int  `json:"session"` // user_joined, user_left
	Errors       map[string]int  `json:"errors"`
	MpvRestarts  int             `json:"mpv_restarts"`
	Latencies    int             `json:"latencies"`
	LibrarySyncs int             `json:"library_syncs"`
	PeakGuests   int             `json:"peak_guests"`
	Tier         string          `json:"tier"`
	Stats        telemetry.Stats `json:"stats"`
}

type options struct {
	endpoint, data, key, tally, encoding, override string
	songs, guests, batches, batchItems             int
	sendInterval                                   time.Duration
	playback, session, library, quality            bool
	seed                                           uint64
	hold                                           time.Duration
	resume                                         bool
}

func parse() options {
	var o options
	flag.StringVar(&o.endpoint, "endpoint", "http://127.0.0.1:8080", "service base URL")
	flag.StringVar(&o.data, "data", "./smstats-instance", "folder for credentials, lease and outbox")
	flag.StringVar(&o.key, "license-key", "", "license key to activate")
	flag.StringVar(&o.tally, "tally", "", "write what was recorded to this JSON file at the end")
	flag.StringVar(&o.encoding, "encoding", "avro", "avro or json")
	flag.StringVar(&o.override, "hwid-override", os.Getenv("SMSTATS_HWID"), "hardware id override (containers, cloned images)")
	flag.IntVar(&o.songs, "songs", 40, "songs played in the party")
	flag.IntVar(&o.guests, "guests", 12, "guests joining")
	flag.IntVar(&o.batches, "batches", 0, "instead of a party: seal this many batches of -batch-items plays each (0 = party)")
	flag.IntVar(&o.batchItems, "batch-items", 50, "plays per batch with -batches")
	flag.DurationVar(&o.sendInterval, "send-interval", 2*time.Second, "telemetry send interval")
	flag.BoolVar(&o.quality, "quality", true, "collect quality metrics")
	flag.BoolVar(&o.playback, "playback", true, "collect playback events")
	flag.BoolVar(&o.session, "session", true, "collect session events")
	flag.BoolVar(&o.library, "library", true, "collect library snapshots")
	flag.Uint64Var(&o.seed, "seed", 1, "party randomness")
	flag.DurationVar(&o.hold, "hold", 0, "keep running (sending) this long after the party")
	flag.BoolVar(&o.resume, "resume", false, "record nothing: send what the outbox holds (after a crash) and exit")
	flag.Parse()
	return o
}

func main() {
	o := parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, log); err != nil {
		fmt.Fprintln(os.Stderr, "smstats-instance:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return err
	}
	// 1. Identity: hardware id and fingerprint, then registration (credentials kept 0600).
	hopts := hwid.Options{Override: o.override}
	id, err := hwid.GenerateHWID(hopts)
	if err != nil {
		return err
	}
	fp, err := hwid.Read(hopts)
	if err != nil {
		return err
	}
	privacy := telemetry.DefaultPrivacyConfig()
	privacy.CollectQuality, privacy.CollectPlayback, privacy.CollectSession, privacy.CollectLibrary = o.quality, o.playback, o.session, o.library
	privacy.SendInterval = telemetry.Duration(o.sendInterval)
	consent := map[string]bool{}
	for f, v := range privacy.Consent() {
		consent[string(f)] = v
	}
	sess, err := licensing.OpenSession(ctx, licensing.SessionConfig{Endpoint: o.endpoint,
		CredentialsPath: filepath.Join(o.data, "credentials.json"), HWID: id, Platform: runtime.GOOS,
		Version: "1.4.2", Consent: consent})
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}

	// 2. Telemetry: collector → outbox → signed sender.
	tel, err := telemetry.New(telemetry.Config{Endpoint: o.endpoint, InstanceID: sess.InstanceID(), Auth: sess,
		Privacy: &privacy, OutboxPath: filepath.Join(o.data, "outbox.db"), Encoding: telemetry.Encoding(o.encoding),
		AppVersion: "1.4.2", Logger: log,
		ConsentSink: func(ctx context.Context, c map[telemetry.Family]bool) error {
			m := map[string]bool{}
			for f, v := range c {
				m[string(f)] = v
			}
			return sess.PutConsent(ctx, m)
		},
		Environment: &telemetry.Environment{Version: "1.4.2", OSPlatform: runtime.GOOS, OSVersion: "test",
			GoVersion: runtime.Version(), MpvVersion: "0.37.0", CPUCores: int32(runtime.NumCPU()), RAMTotalGB: 8},
		OnAttempt: func(a telemetry.Attempt) {
			if a.Status == 202 {
				fmt.Printf("sent seq=%d batch=%s\n", a.Seq, a.BatchID)
			}
		}})
	if err != nil {
		return err
	}
	tel.Start(ctx)

	// 3. Licensing: activate the key (or validate the own seat), heartbeat with session_stats.
	lic, err := licensing.NewClient(licensing.ClientConfig{Session: sess, Fingerprint: fp,
		StatePath: filepath.Join(o.data, "license.json"), Logger: log,
		SessionStats: func() map[string]any {
			f := tel.Figures()
			return map[string]any{"session_id": f.SessionID, "users_current": f.UsersCurrent,
				"users_peak_concurrent": f.UsersPeakConcurrent, "songs_played": f.SongsPlayed,
				"uptime_seconds": int(f.Uptime.Seconds())}
		}})
	if err != nil {
		return err
	}
	if o.key != "" {
		if _, err := lic.Activate(ctx, o.key); err != nil {
			log.Warn("activation failed; running as Starter", "err", err)
		}
	} else if _, err := lic.Validate(ctx); err != nil {
		log.Warn("validation failed; running on the cached lease", "err", err)
	}
	go lic.Run(ctx)

	tally := &Tally{InstanceID: sess.InstanceID(), Playback: map[string]int{}, Skips: map[string]int{},
		SessionEvts: map[string]int{}, Errors: map[string]int{}, Tier: lic.Entitlements().Tier}
	if o.resume {
		// Nothing new: Close below sends what a previous run sealed.
	} else if o.batches > 0 {
		err = sealBatches(ctx, tel, o, tally)
	} else {
		party(tel, lic, o, tally)
		if _, herr := lic.Heartbeat(ctx); herr != nil {
			log.Warn("heartbeat failed", "err", herr)
		}
	}
	if err == nil && o.hold > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(o.hold):
		}
	}
	tally.Stats, _ = tel.Stats(context.Background())
	closeCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if cerr := tel.Close(closeCtx); cerr != nil && err == nil {
		err = cerr
	}
	if o.tally != "" {
		reopened, oerr := telemetry.OpenOutbox(filepath.Join(o.data, "outbox.db"), telemetry.OutboxLimits{}, nil)
		if oerr == nil {
			tally.Stats.Outbox, _ = reopened.Stats(context.Background())
			reopened.Close()
		}
		b, _ := json.MarshalIndent(tally, "", "  ")
		if werr := os.WriteFile(o.tally, b, 0o600); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// sealBatches records -batch-items plays and seals, -batches times, while the sender runs: the
// kill -9 test interrupts it.
func sealBatches(ctx context.Context, tel *telemetry.Client, o options, t *Tally) error {
	for b := 0; b < o.batches; b++ {
		for i := 0; i < o.batchItems; i++ {
			tel.RecordSongPlayed(telemetry.SongEvent{Title: fmt.Sprintf("Song %d", i), Artist: "Band", Source: "local"})
			t.Playback["played"]++
		}
		if err := tel.Seal(ctx); err != nil {
			return err
		}
		fmt.Printf("sealed %d\n", b+1)
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

var sources = []string{"local", "youtube"}

// party simulates one evening: guests join, queue songs, sing (some skipped), mpv restarts once,
// errors and API latencies happen, the library syncs, some guests leave.
func party(tel *telemetry.Client, lic *licensing.Client, o options, t *Tally) {
	rng := rand.New(rand.NewPCG(o.seed, 7))
	tel.SyncLibraryStats(telemetry.LibraryStats{TotalSongs: 4821, SongsBySource: map[string]int64{"local": 3907, "youtube": 914},
		FileTypes: map[string]int64{"mp4": 2310, "webm": 914}, TotalSizeGB: 187.3, GrowthRate: 6.5, AvgSongDurationSec: 229})
	t.LibrarySyncs++
	maxGuests := o.guests
	if lim, ok := lic.Limit("guests"); ok && int(lim) < maxGuests {
		maxGuests = int(lim) // feature gating: Starter allows 5 guests
	}
	for g := 0; g < maxGuests; g++ {
		role := "guest"
		if g == 0 {
			role = "host"
		}
		tel.RecordUserJoined(fmt.Sprintf("guest-%d@party.example", g), role)
		t.SessionEvts["user_joined"]++
	}
	t.PeakGuests = maxGuests
	tel.RecordMpvHealth(telemetry.MpvOK, false)
	for s := 0; s < o.songs; s++ {
		q := fmt.Sprintf("q%d", s)
		song := telemetry.SongEvent{QueueID: q, Artist: "Artist " + fmt.Sprint(s%7), Title: fmt.Sprintf("Song %d", s),
			DurationSec: 180 + s, Source: sources[s%2], FileType: "mp4",
			FilePath: fmt.Sprintf("/home/karaoke/Music/Artist %d - Song %d.mp4", s%7, s),
			UserID:   fmt.Sprintf("guest-%d@party.example", s%maxGuests)}
		tel.RecordQueueEvent(telemetry.QueueAdded, song)
		t.Playback["queued"]++
		tel.RecordLatency("queue_add", time.Duration(5+rng.IntN(40))*time.Millisecond)
		t.Latencies++
		time.Sleep(time.Duration(rng.IntN(15)) * time.Millisecond)
		switch {
		case s%9 == 4:
			tel.RecordQueueEvent(telemetry.QueueRemoved, song)
			t.Playback["removed"]++
		case s%5 == 3:
			reason := telemetry.SkipByUser
			if s%2 == 0 {
				reason = telemetry.SkipByAdmin
			}
			tel.RecordSongSkipped(song, reason)
			t.Playback["skipped"]++
			t.Skips[string(reason)]++
		default:
			tel.RecordSongPlayed(song)
			t.Playback["played"]++
			t.WaitTimes++
		}
		if s == o.songs/2 {
			tel.RecordMpvHealth(telemetry.MpvDead, false)
			tel.RecordError("mpv_crash", nil)
			t.Errors["mpv_crash"]++
			tel.RecordMpvHealth(telemetry.MpvOK, true)
			t.MpvRestarts++
		}
		if s%6 == 0 {
			tel.RecordError("youtube_download", nil)
			t.Errors["youtube_download"]++
		}
	}
	for g := maxGuests / 2; g < maxGuests; g++ {
		tel.RecordUserLeft(fmt.Sprintf("guest-%d@party.example", g))
		t.SessionEvts["user_left"]++
	}
	tel.RecordError("websocket", nil)
	t.Errors["websocket"]++
}
