// Package livetest holds the SDK's tests against a running SongMartyn Stats service. They read
// SMSTATS_SDK_ENDPOINT, SMSTATS_SDK_ADMIN_TOKEN and SMSTATS_SDK_CLICKHOUSE_{URL,USER,PASSWORD,DATABASE}
// and skip, saying so, when those are absent; `npm test` (test/sdk/go-sdk.test.ts) starts the service
// on the tests' namespace, sets them, and fails if any of these tests skips.
package livetest
