package config

import (
	"testing"
	"time"
)

func TestReceiverLimitsDefaults(t *testing.T) {
	r, err := ParseReceiver("receiver.yaml", []byte("root: tank/backup\nclients: {web01: {}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := limits{MaxStreamsPerClient: 4, MaxConnections: 64, MaxConnectionsPerClient: 8,
		RequestTimeout: Duration(30 * time.Second), HelloTimeout: Duration(10 * time.Second),
		MinRate: 64 << 10, RateWindow: Duration(time.Minute)}
	if limitsOf(r) != want {
		t.Errorf("defaults %+v, want %+v", limitsOf(r), want)
	}
	r, err = ParseReceiver("receiver.yaml", []byte("root: tank/backup\nclients: {web01: {}}\nmax_streams: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxStreamsPerClient != 1 {
		t.Errorf("max_streams 1: max_streams_per_client %d, want 1", r.MaxStreamsPerClient)
	}
}

func TestReceiverLimitsExplicit(t *testing.T) {
	r, err := ParseReceiver("receiver.yaml", []byte(`root: tank/backup
clients: {web01: {}}
max_streams: 8
max_streams_per_client: 3
max_connections: 100
max_connections_per_client: 4
request_timeout: 1m
hello_timeout: 5s
min_rate: 1MiB/s
rate_window: 2m
`))
	if err != nil {
		t.Fatal(err)
	}
	want := limits{MaxStreamsPerClient: 3, MaxConnections: 100, MaxConnectionsPerClient: 4,
		RequestTimeout: Duration(time.Minute), HelloTimeout: Duration(5 * time.Second), MinRate: 1 << 20,
		RateWindow: Duration(2 * time.Minute)}
	if limitsOf(r) != want {
		t.Errorf("values %+v, want %+v", limitsOf(r), want)
	}
}

func TestReceiverLimitsValidation(t *testing.T) {
	const base = "root: tank/backup\nclients: {web01: {}}\n"
	tests := []struct {
		name, yaml string
		want       problem
	}{
		{"per-client streams over max_streams", "max_streams: 4\nmax_streams_per_client: 5\n",
			problem{"4:25", "max_streams_per_client 5 is out of range; use 1 to max_streams (4)"}},
		{"per-client streams over the default max_streams", "max_streams_per_client: 9\n",
			problem{"3:25", "use 1 to max_streams (8)"}},
		{"too many connections", "max_connections: 100000\n",
			problem{"3:18", "max_connections 100000 is out of range; use 1 to 10000"}},
		{"per-client connections over max_connections", "max_connections: 4\nmax_connections_per_client: 5\n",
			problem{"4:29", "max_connections_per_client 5 is out of range; use 1 to max_connections (4)"}},
		{"request timeout too short", "request_timeout: 10ms\n",
			problem{"3:18", "request_timeout 10ms is out of range; use 1s to 1d"}},
		{"hello timeout too long", "hello_timeout: 1h\n",
			problem{"3:16", "hello_timeout 1h is out of range; use 1s to 10m"}},
		{"min rate too low", "min_rate: 10/s\n",
			problem{"3:11", "min_rate 10B/s is out of range"}},
		{"unknown limit", "max_conections: 5\n",
			problem{"3:1", `unknown key "max_conections"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseReceiver("receiver.yaml", []byte(base+tt.yaml))
			wantProblems(t, err, tt.want)
		})
	}
}

type limits struct {
	MaxStreamsPerClient, MaxConnections, MaxConnectionsPerClient int
	RequestTimeout, HelloTimeout                                 Duration
	MinRate                                                      Bandwidth
	RateWindow                                                   Duration
}

func limitsOf(r *Receiver) limits {
	return limits{r.MaxStreamsPerClient, r.MaxConnections, r.MaxConnectionsPerClient, r.RequestTimeout,
		r.HelloTimeout, r.MinRate, r.RateWindow}
}
