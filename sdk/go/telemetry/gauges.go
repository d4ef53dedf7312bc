package telemetry

import "runtime"

// memoryMB is the memory the Go runtime holds from the OS, in MiB (memory_usage_mb).
func memoryMB() float64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.Sys) / (1 << 20)
}
