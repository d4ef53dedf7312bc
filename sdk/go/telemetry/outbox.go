package telemetry

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // cgo-free SQLite driver "sqlite"
)

// OutboxLimits caps the outbox; when a new batch would pass a cap, the oldest batches are evicted
// (counted, and reported to the service in the next sealed batch).
type OutboxLimits struct {
	// MaxBytes of sealed bodies held. Default 64 MiB (~ a week of a busy venue's 5-minute batches).
	MaxBytes int64
	// MaxBatches held. Default 10,000 (~ 35 days at one batch per 5 minutes).
	MaxBatches int
	// MaxAge of a held batch; older ones are evicted. Default 30 days (the service accepts events up to
	// 365 days old; a month offline is already far beyond a venue's usual outage).
	MaxAge time.Duration
}

// DefaultOutboxLimits are the documented defaults.
func DefaultOutboxLimits() OutboxLimits {
	return OutboxLimits{MaxBytes: 64 << 20, MaxBatches: 10_000, MaxAge: 30 * 24 * time.Hour}
}

func (l OutboxLimits) withDefaults() OutboxLimits {
	d := DefaultOutboxLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxBatches <= 0 {
		l.MaxBatches = d.MaxBatches
	}
	if l.MaxAge <= 0 {
		l.MaxAge = d.MaxAge
	}
	return l
}

// SealedBatch is one batch as the outbox holds it: the exact body every attempt sends.
type SealedBatch struct {
	Seq             int64
	BatchID         string
	CreatedAt       time.Time
	Body            []byte
	ContentType     string
	ContentEncoding string
	Items           int
	Attempts        int
}

// Evictions counts batches and items the outbox evicted.
type Evictions struct {
	Batches int64
	Items   int64
}

// Outbox is the SQLite file (WAL) that holds every sealed batch from before its first send until the
// service answered 202. It survives restarts and kill -9: a batch is committed before it is sent, and
// removed only after it was accepted.
type Outbox struct {
	db     *sql.DB
	limits OutboxLimits
	now    func() time.Time
}

const outboxSchema = `
CREATE TABLE IF NOT EXISTS batches (
  seq INTEGER PRIMARY KEY,
  batch_id TEXT NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL,
  body BLOB NOT NULL,
  content_type TEXT NOT NULL,
  content_encoding TEXT NOT NULL,
  items INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS secrets (key TEXT PRIMARY KEY, value BLOB NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('next_seq', 1), ('evicted_batches', 0), ('evicted_items', 0),
  ('unreported_batches', 0), ('unreported_items', 0);
`

// OpenOutbox opens (or creates) the outbox file. synchronous=FULL: a venue's power cut must not lose a
// batch the collector already forgot.
func OpenOutbox(path string, limits OutboxLimits, now func() time.Time) (*Outbox, error) {
	if now == nil {
		now = time.Now
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(outboxSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox: create tables in %s: %w", path, err)
	}
	return &Outbox{db: db, limits: limits.withDefaults(), now: now}, nil
}

// Close closes the file.
func (o *Outbox) Close() error { return o.db.Close() }

// Salt is the per-install secret used to hash user ids, generated once and kept in the outbox file.
func (o *Outbox) Salt() ([]byte, error) {
	var v []byte
	err := o.db.QueryRow(`SELECT value FROM secrets WHERE key = 'user_salt'`).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("outbox: read salt: %w", err)
	}
	v = make([]byte, 32)
	if _, err := rand.Read(v); err != nil {
		return nil, err
	}
	if _, err := o.db.Exec(`INSERT OR IGNORE INTO secrets (key, value) VALUES ('user_salt', ?)`, v); err != nil {
		return nil, fmt.Errorf("outbox: store salt: %w", err)
	}
	return o.Salt()
}

// SealFunc builds the body of the batch numbered seq; unreported evictions are handed over so the
// batch can report them (they count as reported once the batch is stored).
type SealFunc func(seq int64, unreported Evictions) (SealedBatch, error)

// Seal numbers and stores one batch in a single transaction: the next seq, the body, evictions of the
// oldest batches beyond the caps. The seq is taken inside the transaction, so numbers are gap-free and
// survive restarts.
func (o *Outbox) Seal(ctx context.Context, build SealFunc) (SealedBatch, error) {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return SealedBatch{}, fmt.Errorf("outbox: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	var seq int64
	var un Evictions
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT value FROM meta WHERE key='next_seq'),
	  (SELECT value FROM meta WHERE key='unreported_batches'), (SELECT value FROM meta WHERE key='unreported_items')`).
		Scan(&seq, &un.Batches, &un.Items); err != nil {
		return SealedBatch{}, fmt.Errorf("outbox: read counters: %w", err)
	}
	b, err := build(seq, un)
	if err != nil {
		return SealedBatch{}, err
	}
	b.Seq = seq
	if b.CreatedAt.IsZero() {
		b.CreatedAt = o.now()
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO batches (seq, batch_id, created_ms, body, content_type, content_encoding, items)
	  VALUES (?, ?, ?, ?, ?, ?, ?)`, seq, b.BatchID, b.CreatedAt.UnixMilli(), b.Body, b.ContentType, b.ContentEncoding, b.Items); err != nil {
		return SealedBatch{}, fmt.Errorf("outbox: store batch %d: %w", seq, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = CASE key WHEN 'next_seq' THEN ? ELSE 0 END
	  WHERE key IN ('next_seq', 'unreported_batches', 'unreported_items')`, seq+1); err != nil {
		return SealedBatch{}, fmt.Errorf("outbox: advance seq: %w", err)
	}
	if err := o.evict(ctx, tx, seq); err != nil {
		return SealedBatch{}, err
	}
	if err := tx.Commit(); err != nil {
		return SealedBatch{}, fmt.Errorf("outbox: commit batch %d: %w", seq, err)
	}
	return b, nil
}

// evict removes the oldest batches (never the one just sealed) while a cap is exceeded.
func (o *Outbox) evict(ctx context.Context, tx *sql.Tx, keep int64) error {
	cutoff := o.now().Add(-o.limits.MaxAge).UnixMilli()
	var ev Evictions
	for {
		var count, bytes int64
		var oldest sql.NullInt64
		var oldestMs sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(length(body)),0), min(seq),
		  (SELECT created_ms FROM batches ORDER BY seq LIMIT 1) FROM batches`).Scan(&count, &bytes, &oldest, &oldestMs); err != nil {
			return fmt.Errorf("outbox: size: %w", err)
		}
		over := count > int64(o.limits.MaxBatches) || bytes > o.limits.MaxBytes || (oldestMs.Valid && oldestMs.Int64 < cutoff)
		if !over || !oldest.Valid || oldest.Int64 == keep {
			break
		}
		var items int64
		if err := tx.QueryRowContext(ctx, `DELETE FROM batches WHERE seq = ? RETURNING items`, oldest.Int64).Scan(&items); err != nil {
			return fmt.Errorf("outbox: evict %d: %w", oldest.Int64, err)
		}
		ev.Batches++
		ev.Items += items
	}
	if ev.Batches == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE meta SET value = value + CASE WHEN key LIKE '%batches' THEN ? ELSE ? END
	  WHERE key IN ('evicted_batches', 'evicted_items', 'unreported_batches', 'unreported_items')`, ev.Batches, ev.Items)
	if err != nil {
		return fmt.Errorf("outbox: count evictions: %w", err)
	}
	return nil
}

// Pending lists the held batches' seqs, oldest first.
func (o *Outbox) Pending(ctx context.Context) ([]int64, error) {
	rows, err := o.db.QueryContext(ctx, `SELECT seq FROM batches ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("outbox: list: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Get reads one held batch; ok is false when it is gone (sent or evicted meanwhile).
func (o *Outbox) Get(ctx context.Context, seq int64) (SealedBatch, bool, error) {
	var b SealedBatch
	var ms int64
	err := o.db.QueryRowContext(ctx, `SELECT seq, batch_id, created_ms, body, content_type, content_encoding, items, attempts
	  FROM batches WHERE seq = ?`, seq).Scan(&b.Seq, &b.BatchID, &ms, &b.Body, &b.ContentType, &b.ContentEncoding, &b.Items, &b.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return b, false, nil
	}
	if err != nil {
		return b, false, fmt.Errorf("outbox: read %d: %w", seq, err)
	}
	b.CreatedAt = time.UnixMilli(ms)
	return b, true, nil
}

// Attempted counts one more attempt of a batch.
func (o *Outbox) Attempted(ctx context.Context, seq int64) error {
	_, err := o.db.ExecContext(ctx, `UPDATE batches SET attempts = attempts + 1 WHERE seq = ?`, seq)
	return err
}

// Delete removes a batch the service accepted (or refused for good).
func (o *Outbox) Delete(ctx context.Context, seq int64) error {
	if _, err := o.db.ExecContext(ctx, `DELETE FROM batches WHERE seq = ?`, seq); err != nil {
		return fmt.Errorf("outbox: delete %d: %w", seq, err)
	}
	return nil
}

// OutboxStats is the outbox's state.
type OutboxStats struct {
	Batches, Bytes, Items int64
	NextSeq               int64
	Evicted, Unreported   Evictions
}

// Stats reads the outbox's state.
func (o *Outbox) Stats(ctx context.Context) (OutboxStats, error) {
	var s OutboxStats
	err := o.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(length(body)),0), coalesce(sum(items),0),
	  (SELECT value FROM meta WHERE key='next_seq'), (SELECT value FROM meta WHERE key='evicted_batches'),
	  (SELECT value FROM meta WHERE key='evicted_items'), (SELECT value FROM meta WHERE key='unreported_batches'),
	  (SELECT value FROM meta WHERE key='unreported_items') FROM batches`).
		Scan(&s.Batches, &s.Bytes, &s.Items, &s.NextSeq, &s.Evicted.Batches, &s.Evicted.Items, &s.Unreported.Batches, &s.Unreported.Items)
	return s, err
}
