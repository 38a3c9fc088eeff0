package job

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the sender daemon's Prometheus metrics, updated from run reports.
type Metrics struct {
	lastSuccess  *prometheus.GaugeVec
	lastRun      *prometheus.GaugeVec
	runSeconds   *prometheus.HistogramVec
	failures     *prometheus.CounterVec
	bytesSent    *prometheus.CounterVec
	wireBytes    *prometheus.CounterVec
	freezeWindow prometheus.Histogram
	replicated   *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hotzfs_job_last_success_timestamp_seconds",
			Help: "When the job last completed without error."}, []string{"job"}),
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hotzfs_job_last_run_timestamp_seconds",
			Help: "When the job last ran."}, []string{"job"}),
		runSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hotzfs_job_duration_seconds",
			Help: "Run durations.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}, []string{"job"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotzfs_job_failures_total",
			Help: "Runs that ended with an error."}, []string{"job"}),
		bytesSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotzfs_replication_bytes_total",
			Help: "Uncompressed zfs send bytes replicated."}, []string{"job", "dataset"}),
		wireBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotzfs_replication_wire_bytes_total",
			Help: "Bytes sent on the wire (after compression)."}, []string{"job", "dataset"}),
		freezeWindow: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hotzfs_freeze_window_seconds",
			Help:    "Time guests spent frozen per snapshot (first freeze to last thaw).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		replicated: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hotzfs_dataset_last_replicated_timestamp_seconds",
			Help: "When a dataset's target last became up to date."}, []string{"job", "dataset"}),
	}
	reg.MustRegister(m.lastSuccess, m.lastRun, m.runSeconds, m.failures, m.bytesSent, m.wireBytes, m.freezeWindow, m.replicated)
	return m
}

// Observe records one run.
func (m *Metrics) Observe(r *Report) {
	if m == nil {
		return
	}
	m.lastRun.WithLabelValues(r.Job).Set(float64(r.Started.Unix()))
	m.runSeconds.WithLabelValues(r.Job).Observe(r.Duration.Seconds())
	if r.Err != nil {
		m.failures.WithLabelValues(r.Job).Inc()
	} else {
		m.lastSuccess.WithLabelValues(r.Job).Set(float64(r.Started.Unix()))
	}
	if r.Snapshot != nil && r.Snapshot.Window > 0 {
		m.freezeWindow.Observe(r.Snapshot.Window.Seconds())
	}
	for _, rep := range r.Replicated {
		for _, s := range rep.Steps {
			m.bytesSent.WithLabelValues(r.Job, rep.Source).Add(float64(s.Bytes))
			m.wireBytes.WithLabelValues(r.Job, rep.Source).Add(float64(s.WireBytes))
		}
		if rep.Base != "" {
			m.replicated.WithLabelValues(r.Job, rep.Source).Set(float64(r.Started.Add(r.Duration).Unix()))
		}
	}
}
