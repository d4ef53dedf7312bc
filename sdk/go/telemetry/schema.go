package telemetry

import (
	_ "embed"
	"encoding/hex"
	"fmt"

	"github.com/hamba/avro/v2"
)

// The service's schema, copied byte for byte from schemas/telemetry/metrics-batch.v2.avsc (the
// repository's test fails when the copies drift, and the live test checks the fingerprint against the
// service's registry).
//
//go:embed schema/metrics-batch.v2.avsc
var schemaText string

// AvroContentType is the content type of Avro batch bodies.
const AvroContentType = "application/vnd.songmartyn.telemetry+avro"

// FingerprintHeader carries the writer schema's fingerprint with an Avro body.
const FingerprintHeader = "Sm-Schema-Fingerprint"

var batchSchema avro.Schema
var schemaFingerprint string

func init() {
	s, err := avro.Parse(schemaText)
	if err != nil {
		panic(fmt.Sprintf("telemetry: embedded schema does not parse: %v", err))
	}
	fp, err := s.FingerprintUsing(avro.SHA256)
	if err != nil {
		panic(fmt.Sprintf("telemetry: schema fingerprint: %v", err))
	}
	batchSchema, schemaFingerprint = s, hex.EncodeToString(fp)
}

// SchemaFingerprint is the hex sha256 of the schema's Parsing Canonical Form, as the service's
// schemas/registry.ts computes it; it travels in Sm-Schema-Fingerprint.
func SchemaFingerprint() string { return schemaFingerprint }

// EncodeAvro encodes a batch with the embedded schema.
func EncodeAvro(b *Batch) ([]byte, error) { return avro.Marshal(batchSchema, b) }

// DecodeAvro decodes bytes written with the embedded schema (tests and tools).
func DecodeAvro(data []byte) (*Batch, error) {
	var b Batch
	if err := avro.Unmarshal(batchSchema, data, &b); err != nil {
		return nil, err
	}
	return &b, nil
}
