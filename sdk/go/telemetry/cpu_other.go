//go:build !unix

package telemetry

// cpuSampler is not implemented outside Unix: cpu_usage_percent is not sent there.
type cpuSampler struct{}

func newCPUSampler() *cpuSampler { return &cpuSampler{} }

func (s *cpuSampler) sample() (float64, bool) { return 0, false }
