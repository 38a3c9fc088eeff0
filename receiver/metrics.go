package receiver

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the receiver's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	bytes        *prometheus.CounterVec
	wireBytes    *prometheus.CounterVec
	active       prometheus.Gauge
	lastReceived *prometheus.GaugeVec
	errors       *prometheus.CounterVec
	refusals     prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotzfs_receiver_stream_bytes_total",
			Help: "Uncompressed zfs stream bytes received or sent back, by client and direction."}, []string{"client", "direction"}),
		wireBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotzfs_receiver_wire_bytes_total",
			Help: "Bytes on the wire, by client and direction."}, []string{"client", "direction"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hotzfs_receiver_active_streams",
			Help: "Streams in progress."}),
		lastReceived: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hotzfs_receiver_last_received_timestamp_seconds",
			Help: "When a snapshot last arrived, by client and dataset (relative to the client's root)."}, []string{"client", "dataset"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotzfs_receiver_request_errors_total",
			Help: "Failed requests, by request kind."}, []string{"request"}),
		refusals: prometheus.NewCounter(prometheus.CounterOpts{Name: "hotzfs_receiver_refused_connections_total",
			Help: "Connections refused before a session started (TLS, identity, unknown client)."}),
	}
	reg.MustRegister(m.bytes, m.wireBytes, m.active, m.lastReceived, m.errors, m.refusals)
	return m
}

func (m *Metrics) streamStarted() {
	if m != nil {
		m.active.Inc()
	}
}

func (m *Metrics) streamDone(client, direction string, raw, wire int64) {
	if m == nil {
		return
	}
	m.active.Dec()
	m.bytes.WithLabelValues(client, direction).Add(float64(raw))
	m.wireBytes.WithLabelValues(client, direction).Add(float64(wire))
}

func (m *Metrics) received(client, dataset string, unix float64) {
	if m != nil {
		m.lastReceived.WithLabelValues(client, dataset).Set(unix)
	}
}

func (m *Metrics) failed(request string) {
	if m != nil {
		m.errors.WithLabelValues(request).Inc()
	}
}

func (m *Metrics) refused() {
	if m != nil {
		m.refusals.Inc()
	}
}
