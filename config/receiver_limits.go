package config

import "time"

// Defaults and bounds of the receiver's limits.
const (
	DefaultMaxStreamsPerClient     = 4
	DefaultMaxConnections          = 64
	DefaultMaxConnectionsPerClient = 8
	DefaultRequestTimeout          = Duration(30 * time.Second)
	DefaultHelloTimeout            = Duration(10 * time.Second)
	DefaultMinRate                 = Bandwidth(64 << 10)
	DefaultRateWindow              = Duration(60 * time.Second)

	MaxMaxConnections = 10000
	MinMinRate        = Bandwidth(1 << 10)
	MaxMinRate        = Bandwidth(1 << 30)
	MaxHelloTimeout   = Duration(10 * time.Minute)
)

// applyLimitDefaults fills in the limits left out, after max_streams has its default.
func (r *Receiver) applyLimitDefaults() {
	setDefault(&r.MaxStreamsPerClient, min(DefaultMaxStreamsPerClient, r.MaxStreams))
	setDefault(&r.MaxConnections, DefaultMaxConnections)
	setDefault(&r.MaxConnectionsPerClient, min(DefaultMaxConnectionsPerClient, r.MaxConnections))
	setDefault(&r.RequestTimeout, DefaultRequestTimeout)
	setDefault(&r.HelloTimeout, DefaultHelloTimeout)
	setDefault(&r.MinRate, DefaultMinRate)
	setDefault(&r.RateWindow, DefaultRateWindow)
}

// validateLimits checks the limits; settings left at 0 count as their defaults.
func (r *Receiver) validateLimits(p *problems) {
	maxStreams := r.MaxStreams
	if maxStreams <= 0 {
		maxStreams = DefaultMaxStreams
	}
	maxConns := r.MaxConnections
	if maxConns == 0 {
		maxConns = DefaultMaxConnections
	}
	if r.MaxStreamsPerClient < 0 || r.MaxStreamsPerClient > maxStreams {
		p.add("max_streams_per_client", "max_streams_per_client %d is out of range; use 1 to max_streams (%d)",
			r.MaxStreamsPerClient, maxStreams)
	}
	if r.MaxConnections < 0 || r.MaxConnections > MaxMaxConnections {
		p.add("max_connections", "max_connections %d is out of range; use 1 to %d", r.MaxConnections, MaxMaxConnections)
	}
	if r.MaxConnectionsPerClient < 0 || r.MaxConnectionsPerClient > maxConns {
		p.add("max_connections_per_client", "max_connections_per_client %d is out of range; use 1 to max_connections (%d)",
			r.MaxConnectionsPerClient, maxConns)
	}
	for _, t := range []struct {
		key      string
		d, limit Duration
	}{{"request_timeout", r.RequestTimeout, MaxIdleTimeout}, {"hello_timeout", r.HelloTimeout, MaxHelloTimeout},
		{"rate_window", r.RateWindow, MaxIdleTimeout}} {
		if t.d != 0 && (t.d < MinTimeout || t.d > t.limit) {
			p.add(t.key, "%s %s is out of range; use %s to %s", t.key, t.d, MinTimeout, t.limit)
		}
	}
	if r.MinRate != 0 && (r.MinRate < MinMinRate || r.MinRate > MaxMinRate) {
		p.add("min_rate", "min_rate %s is out of range; use %s to %s (a sender's bandwidth limit must stay above it)",
			r.MinRate, MinMinRate, MaxMinRate)
	}
}
