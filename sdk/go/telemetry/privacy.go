package telemetry

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Family is a consent family: what the service (and the owner) grants separately.
type Family string

// The four consent families; the environment travels with quality.
const (
	FamilyQuality  Family = "quality"
	FamilyPlayback Family = "playback"
	FamilySession  Family = "session"
	FamilyLibrary  Family = "library"
)

// Families lists every consent family.
var Families = []Family{FamilyQuality, FamilyPlayback, FamilySession, FamilyLibrary}

// Duration is a time.Duration that reads and writes JSON as a Go duration string ("5m").
type Duration time.Duration

// MarshalJSON writes "5m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "5m" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("privacy: duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("privacy: duration must be a string like \"5m\": %w", err)
	}
	*d = Duration(n)
	return nil
}

// PrivacyConfig is the design's privacy configuration: what is collected (opt-in per family), how
// songs and users are treated, and how batches are sent. A family whose Collect flag is off never
// leaves the process: its Record calls return at once.
type PrivacyConfig struct {
	// Enabled turns telemetry on at all; default true (each family still needs its Collect flag).
	Enabled bool `json:"enabled"`
	// CollectQuality: errors, latencies, mpv health, memory/CPU, uptime and the environment. Default true.
	CollectQuality bool `json:"collect_quality"`
	// CollectPlayback: songs played, skipped, queued, removed. Default false (opt-in).
	CollectPlayback bool `json:"collect_playback"`
	// CollectSession: sessions, guests joining and leaving. Default false (opt-in).
	CollectSession bool `json:"collect_session"`
	// CollectLibrary: library snapshots. Default false (opt-in).
	CollectLibrary bool `json:"collect_library"`
	// AnonymizeSongTitles: the service keeps only a keyed hash of title and artist. Default true.
	AnonymizeSongTitles bool `json:"anonymize_song_titles"`
	// AnonymizeUserIDs: always applied on the instance — user ids leave only as an HMAC with the
	// per-install salt; the flag is sent so the service also never keeps them plain. Default true.
	AnonymizeUserIDs bool `json:"anonymize_user_ids"`
	// ExcludeLocalFiles: file paths never leave the instance whatever this says; the flag is sent.
	// Default true.
	ExcludeLocalFiles bool `json:"exclude_local_files"`
	// SendInterval between sends. Default 5m.
	SendInterval Duration `json:"send_interval"`
	// MaxBatchSize is the most items in one batch; a fuller buffer is sealed early. Default 1000.
	MaxBatchSize int `json:"max_batch_size"`
	// RetryCount is how many attempts one send cycle makes per batch before waiting for the next
	// cycle (the batch stays in the outbox). Default 3.
	RetryCount int `json:"retry_count"`
}

// DefaultPrivacyConfig is the design's defaults: quality only, everything anonymized, 5 min, 1000, 3.
func DefaultPrivacyConfig() PrivacyConfig {
	return PrivacyConfig{
		Enabled:             true,
		CollectQuality:      true,
		AnonymizeSongTitles: true,
		AnonymizeUserIDs:    true,
		ExcludeLocalFiles:   true,
		SendInterval:        Duration(5 * time.Minute),
		MaxBatchSize:        1000,
		RetryCount:          3,
	}
}

// UnmarshalJSON starts from the defaults, so a partial JSON document keeps them.
func (p *PrivacyConfig) UnmarshalJSON(b []byte) error {
	type plain PrivacyConfig
	v := plain(DefaultPrivacyConfig())
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*p = PrivacyConfig(v)
	return nil
}

// Collects says whether a family is collected.
func (p PrivacyConfig) Collects(f Family) bool {
	if !p.Enabled {
		return false
	}
	switch f {
	case FamilyQuality:
		return p.CollectQuality
	case FamilyPlayback:
		return p.CollectPlayback
	case FamilySession:
		return p.CollectSession
	case FamilyLibrary:
		return p.CollectLibrary
	}
	return false
}

// Consent is the per-family map the service's consent route takes.
func (p PrivacyConfig) Consent() map[Family]bool {
	out := make(map[Family]bool, len(Families))
	for _, f := range Families {
		out[f] = p.Collects(f)
	}
	return out
}

func (p PrivacyConfig) withDefaults() PrivacyConfig {
	d := DefaultPrivacyConfig()
	if p.SendInterval <= 0 {
		p.SendInterval = d.SendInterval
	}
	if p.MaxBatchSize <= 0 {
		p.MaxBatchSize = d.MaxBatchSize
	}
	if p.RetryCount <= 0 {
		p.RetryCount = d.RetryCount
	}
	return p
}

func (p PrivacyConfig) flags() PrivacyFlags {
	// User ids and file paths are handled on the instance whatever the flags say; the flags tell the
	// service the same, so it never keeps them either.
	return PrivacyFlags{AnonymizeSongs: p.AnonymizeSongTitles, AnonymizeUsers: true, ExcludeLocal: true}
}

// hashUser is the per-install keyed hash of a user id: stable within the install (so joins and
// leaves of one guest match), meaningless elsewhere.
func hashUser(salt []byte, id string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(id))
	return "u_" + hex.EncodeToString(m.Sum(nil))[:32]
}
