package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// profileEnv names a file to write a CPU profile of the whole process to: a hidden hook for measuring the data
// path where it runs (docs/benchmarks.md), not a user feature. Unset: no profiling.
const profileEnv = "HOTZFS_CPUPROFILE"

// startProfile starts CPU profiling when HOTZFS_CPUPROFILE is set and returns the function that stops it and
// closes the file.
func startProfile() (stop func(), err error) {
	path := os.Getenv(profileEnv)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", profileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", profileEnv, err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}
