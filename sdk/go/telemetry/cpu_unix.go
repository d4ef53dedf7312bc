//go:build unix

package telemetry

import (
	"syscall"
	"time"
)

// cpuSampler turns the process's CPU time (getrusage) into a percentage of one core between samples.
type cpuSampler struct {
	last   time.Duration
	lastAt time.Time
}

func newCPUSampler() *cpuSampler {
	s := &cpuSampler{}
	s.last, s.lastAt = cpuTime(), time.Now()
	return s
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (s *cpuSampler) sample() (float64, bool) {
	now, t := time.Now(), cpuTime()
	wall := now.Sub(s.lastAt)
	if wall <= 0 {
		return 0, false
	}
	pct := float64(t-s.last) / float64(wall) * 100
	s.last, s.lastAt = t, now
	return pct, true
}
