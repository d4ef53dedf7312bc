package telemetry

import (
	"encoding/json"
	"time"
)

// Batch is one telemetry batch as the service's Avro schema (schemas/telemetry/metrics-batch.v2.avsc)
// defines it; field names are the schema's.
type Batch struct {
	InstanceID   string            `avro:"instance_id"`
	BatchID      string            `avro:"batch_id"`
	Seq          int64             `avro:"seq"`
	SentAtMs     int64             `avro:"sent_at_ms"`
	TimestampMs  int64             `avro:"timestamp_ms"`
	ReceivedAtMs int64             `avro:"received_at_ms"`
	AppVersion   string            `avro:"app_version"`
	SDKVersion   string            `avro:"sdk_version"`
	Privacy      PrivacyFlags      `avro:"privacy"`
	Metrics      []Metric          `avro:"metrics"`
	Library      []LibrarySnapshot `avro:"library"`
	Playback     []PlaybackEvent   `avro:"playback"`
	Session      []SessionEvent    `avro:"session"`
	Environment  *Environment      `avro:"environment"`
}

// PrivacyFlags travel with every batch and tell the service how to treat titles, users and files.
type PrivacyFlags struct {
	AnonymizeSongs bool `avro:"anonymize_songs" json:"anonymize_songs"`
	AnonymizeUsers bool `avro:"anonymize_users" json:"anonymize_users"`
	ExcludeLocal   bool `avro:"exclude_local" json:"exclude_local"`
}

// Metric is one quality metric sample.
type Metric struct {
	Name   string            `avro:"name"`
	Value  float64           `avro:"value"`
	Tags   map[string]string `avro:"tags"`
	TimeMs *int64            `avro:"time_ms"`
}

// LibrarySnapshot is the state of the library at one moment.
type LibrarySnapshot struct {
	TimeMs             int64            `avro:"time_ms"`
	TotalSongs         int64            `avro:"total_songs"`
	SongsBySource      map[string]int64 `avro:"songs_by_source"`
	FileTypes          map[string]int64 `avro:"file_types"`
	TotalSizeGB        float64          `avro:"total_size_gb"`
	GrowthRate         float64          `avro:"growth_rate"`
	AvgSongDurationSec float64          `avro:"avg_song_duration_sec"`
}

// Song as it travels: never with a file path (FilePath stays nil; the field exists for the schema).
type Song struct {
	Artist      *string `avro:"artist"`
	Title       *string `avro:"title"`
	DurationSec *int32  `avro:"duration_sec"`
	Source      string  `avro:"source"`
	FileType    *string `avro:"file_type"`
	FilePath    *string `avro:"file_path"`
}

// PlaybackEvent is a song played, skipped, queued or removed.
type PlaybackEvent struct {
	TimeMs             int64    `avro:"time_ms"`
	EventType          string   `avro:"event_type"`
	SessionID          *string  `avro:"session_id"`
	Song               Song     `avro:"song"`
	SkipReason         *string  `avro:"skip_reason"`
	WaitTimeSec        *float64 `avro:"wait_time_sec"`
	SongsPlayedSession *int32   `avro:"songs_played_session"`
	SongsPlayedTotal   *int64   `avro:"songs_played_total"`
	UserID             *string  `avro:"user_id"`
}

// SessionEvent is a session starting, ending, a guest joining or leaving, or a snapshot.
type SessionEvent struct {
	TimeMs              int64            `avro:"time_ms"`
	SessionID           string           `avro:"session_id"`
	EventType           string           `avro:"event_type"`
	StartMs             *int64           `avro:"start_ms"`
	DurationSec         *float64         `avro:"duration_sec"`
	UsersJoinedTotal    *int32           `avro:"users_joined_total"`
	UsersPeakConcurrent *int32           `avro:"users_peak_concurrent"`
	UsersByRole         map[string]int32 `avro:"users_by_role"`
	RoomCount           *int32           `avro:"room_count"`
	UserID              *string          `avro:"user_id"`
	UserRole            *string          `avro:"user_role"`
}

// Environment is what the instance runs on, sent at start.
type Environment struct {
	TimeMs     int64   `avro:"time_ms"`
	Version    string  `avro:"version"`
	OSPlatform string  `avro:"os_platform"`
	OSVersion  string  `avro:"os_version"`
	GoVersion  string  `avro:"go_version"`
	MpvVersion string  `avro:"mpv_version"`
	CPUCores   int32   `avro:"cpu_cores"`
	RAMTotalGB float64 `avro:"ram_total_gb"`
}

// Items is the number of items the batch carries.
func (b *Batch) Items() int {
	n := len(b.Metrics) + len(b.Library) + len(b.Playback) + len(b.Session)
	if b.Environment != nil {
		n++
	}
	return n
}

func isoMs(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func isoPtr(ms *int64) *string {
	if ms == nil {
		return nil
	}
	s := isoMs(*ms)
	return &s
}

// MarshalJSON writes the batch in the service's JSON body form (times as RFC 3339 strings).
func (b *Batch) MarshalJSON() ([]byte, error) {
	type jm struct {
		Name  string            `json:"name"`
		Value float64           `json:"value"`
		Tags  map[string]string `json:"tags,omitempty"`
		Time  *string           `json:"time,omitempty"`
	}
	type jl struct {
		Time               string           `json:"time"`
		TotalSongs         int64            `json:"total_songs"`
		SongsBySource      map[string]int64 `json:"songs_by_source"`
		FileTypes          map[string]int64 `json:"file_types"`
		TotalSizeGB        float64          `json:"total_size_gb"`
		GrowthRate         float64          `json:"growth_rate"`
		AvgSongDurationSec float64          `json:"avg_song_duration_sec"`
	}
	type js struct {
		Artist      *string `json:"artist"`
		Title       *string `json:"title"`
		DurationSec *int32  `json:"duration_sec"`
		Source      string  `json:"source"`
		FileType    *string `json:"file_type"`
	}
	type jp struct {
		Time               string   `json:"time"`
		EventType          string   `json:"event_type"`
		SessionID          *string  `json:"session_id"`
		Song               js       `json:"song"`
		SkipReason         *string  `json:"skip_reason"`
		WaitTimeSec        *float64 `json:"wait_time_sec"`
		SongsPlayedSession *int32   `json:"songs_played_session"`
		SongsPlayedTotal   *int64   `json:"songs_played_total"`
		UserID             *string  `json:"user_id"`
	}
	type jss struct {
		Time                string           `json:"time"`
		SessionID           string           `json:"session_id"`
		EventType           string           `json:"event_type"`
		Start               *string          `json:"start"`
		DurationSec         *float64         `json:"duration_sec"`
		UsersJoinedTotal    *int32           `json:"users_joined_total"`
		UsersPeakConcurrent *int32           `json:"users_peak_concurrent"`
		UsersByRole         map[string]int32 `json:"users_by_role,omitempty"`
		RoomCount           *int32           `json:"room_count"`
		UserID              *string          `json:"user_id"`
		UserRole            *string          `json:"user_role"`
	}
	type je struct {
		Time       string  `json:"time"`
		Version    string  `json:"version"`
		OSPlatform string  `json:"os_platform"`
		OSVersion  string  `json:"os_version"`
		GoVersion  string  `json:"go_version"`
		MpvVersion string  `json:"mpv_version"`
		CPUCores   int32   `json:"cpu_cores"`
		RAMTotalGB float64 `json:"ram_total_gb"`
	}
	out := struct {
		InstanceID  string       `json:"instance_id"`
		BatchID     string       `json:"batch_id"`
		Seq         int64        `json:"seq"`
		SentAt      *string      `json:"sent_at,omitempty"`
		Timestamp   string       `json:"timestamp"`
		AppVersion  string       `json:"app_version"`
		SDKVersion  string       `json:"sdk_version"`
		Privacy     PrivacyFlags `json:"privacy"`
		Metrics     []jm         `json:"metrics"`
		Library     []jl         `json:"library"`
		Playback    []jp         `json:"playback"`
		Session     []jss        `json:"session"`
		Environment *je          `json:"environment"`
	}{
		InstanceID: b.InstanceID, BatchID: b.BatchID, Seq: b.Seq, Timestamp: isoMs(b.TimestampMs),
		AppVersion: b.AppVersion, SDKVersion: b.SDKVersion, Privacy: b.Privacy,
		Metrics: []jm{}, Library: []jl{}, Playback: []jp{}, Session: []jss{},
	}
	if b.SentAtMs > 0 {
		out.SentAt = isoPtr(&b.SentAtMs)
	}
	for _, m := range b.Metrics {
		out.Metrics = append(out.Metrics, jm{m.Name, m.Value, m.Tags, isoPtr(m.TimeMs)})
	}
	for _, l := range b.Library {
		out.Library = append(out.Library, jl{isoMs(l.TimeMs), l.TotalSongs, l.SongsBySource, l.FileTypes, l.TotalSizeGB, l.GrowthRate, l.AvgSongDurationSec})
	}
	for _, p := range b.Playback {
		s := js{p.Song.Artist, p.Song.Title, p.Song.DurationSec, p.Song.Source, p.Song.FileType}
		out.Playback = append(out.Playback, jp{isoMs(p.TimeMs), p.EventType, p.SessionID, s, p.SkipReason, p.WaitTimeSec, p.SongsPlayedSession, p.SongsPlayedTotal, p.UserID})
	}
	for _, s := range b.Session {
		out.Session = append(out.Session, jss{isoMs(s.TimeMs), s.SessionID, s.EventType, isoPtr(s.StartMs), s.DurationSec, s.UsersJoinedTotal, s.UsersPeakConcurrent, s.UsersByRole, s.RoomCount, s.UserID, s.UserRole})
	}
	if e := b.Environment; e != nil {
		out.Environment = &je{isoMs(e.TimeMs), e.Version, e.OSPlatform, e.OSVersion, e.GoVersion, e.MpvVersion, e.CPUCores, e.RAMTotalGB}
	}
	return json.Marshal(out)
}
