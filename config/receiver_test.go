package config

import (
	"strings"
	"testing"
	"time"
)

func TestReceiverDefaults(t *testing.T) {
	r, err := ParseReceiver("/etc/hotzfs/receiver.yaml", []byte(`root: tank/backup
tls: {ca: tls/ca.crt, cert: tls/b.crt, key: /k/b.key}
clients:
  web01: {}
  db01: {allow_prune: false, allow_rollback: true, allow_clone: true, quota: 1TiB}
`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Listen != ":7390" || r.MaxStreams != 8 || r.IdleTimeout != Duration(time.Minute) ||
		r.StallTimeout != Duration(5*time.Minute) || r.Metrics != "" || !r.Retention.IsEmpty() {
		t.Errorf("defaults: %+v", r)
	}
	if web := r.Clients["web01"]; !web.PruneAllowed() || web.AllowRollback || web.AllowClone || web.Quota != 0 {
		t.Errorf("client defaults: %+v", web)
	}
	if db := r.Clients["db01"]; db.PruneAllowed() || !db.AllowRollback || !db.AllowClone || db.Quota != 1<<40 {
		t.Errorf("client db01: %+v", db)
	}
	if r.TLS.CA != "/etc/hotzfs/tls/ca.crt" || r.TLS.Key != "/k/b.key" {
		t.Errorf("TLS paths not resolved against the config's directory: %+v", r.TLS)
	}
	if r.File() != "/etc/hotzfs/receiver.yaml" {
		t.Errorf("File() = %q", r.File())
	}
}

func TestReceiverExplicitValues(t *testing.T) {
	r, err := ParseReceiver("receiver.yaml", []byte(`listen: 10.0.0.2:7000
root: tank/backup
clients: {web01: {}}
metrics: 127.0.0.1:9391
max_streams: 16
idle_timeout: 5m
stall_timeout: 1h
retention: {daily: 30, grid: "24x1h | 30x1d"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Listen != "10.0.0.2:7000" || r.MaxStreams != 16 || r.IdleTimeout != Duration(5*time.Minute) ||
		r.StallTimeout != Duration(time.Hour) || r.Retention.Daily != 30 || !r.TLS.IsZero() {
		t.Errorf("values: %+v", r)
	}
}

func TestReceiverValidation(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       problem
	}{
		{"no root", "clients: {web01: {}}\n", problem{"1:1", "no root: dataset; set root: to the dataset"}},
		{"bad root", "root: tank/../x\nclients: {web01: {}}\n",
			problem{"1:7", `root: dataset name "tank/../x": component ".." is not allowed`}},
		{"no clients", "root: tank/backup\n",
			problem{"1:1", "no clients: nobody could send backups"}},
		{"empty clients", "root: tank/backup\nclients: {}\n",
			problem{"2:1", "no clients: nobody could send backups"}},
		{"client name with /", "root: tank/backup\nclients:\n  a/b: {}\n",
			problem{"3:3", `client "a/b": a client name must not contain '/'`}},
		{"client name with -", "root: tank/backup\nclients:\n  -x: {}\n",
			problem{"3:3", `client "-x" cannot be a dataset name under root`}},
		{"client name ..", "root: tank/backup\nclients:\n  ..: {}\n",
			problem{"3:3", `client ".." cannot be a dataset name under root`}},
		{"unknown client key", "root: tank/backup\nclients:\n  web01: {qouta: 1G}\n",
			problem{"3:11", `unknown key "qouta" in client "web01" (did you mean "quota"?)`}},
		{"bad quota", "root: tank/backup\nclients:\n  web01: {quota: -1G}\n",
			problem{"3:18", `client "web01": quota "-1G": must not be negative`}},
		{"partial TLS", "root: tank/backup\nclients: {web01: {}}\ntls:\n  ca: ca.crt\n",
			problem{"3:1", "tls has no cert: file; TLS needs ca, cert and key"}},
		{"bad listen", "root: tank/backup\nclients: {web01: {}}\nlisten: 7390\n",
			problem{"3:9", `listen "7390" must be [host]:port, like :7390`}},
		{"metrics on the listen address", "root: tank/backup\nclients: {web01: {}}\nlisten: ':7390'\nmetrics: ':7390'\n",
			problem{"4:10", `metrics ":7390" is the same address as listen`}},
		{"too many streams", "root: tank/backup\nclients: {web01: {}}\nmax_streams: 1000\n",
			problem{"3:14", "max_streams 1000 is out of range; use 1 to 256"}},
		{"negative streams", "root: tank/backup\nclients: {web01: {}}\nmax_streams: -1\n",
			problem{"3:14", "max_streams -1 is out of range"}},
		{"idle timeout too short", "root: tank/backup\nclients: {web01: {}}\nidle_timeout: 10ms\n",
			problem{"3:15", "idle_timeout 10ms is out of range; use 1s to 1d"}},
		{"bad stall timeout", "root: tank/backup\nclients: {web01: {}}\nstall_timeout: soon\n",
			problem{"3:16", `stall_timeout "soon": expected a number at "soon"`}},
		{"retention grid", "root: tank/backup\nclients: {web01: {}}\nretention:\n  grid: 1h\n",
			problem{"4:9", `retention.grid: grid segment 1 "1h" (column 1): want COUNTxLENGTH`}},
		{"sender key in a receiver", "root: tank/backup\nclients: {web01: {}}\njobs: []\n",
			problem{"3:1", `unknown key "jobs" at the top level`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseReceiver("receiver.yaml", []byte(tt.yaml))
			wantProblems(t, err, tt.want)
		})
	}
}

func TestReceiverValidateInCode(t *testing.T) {
	r := &Receiver{Root: "tank/backup", Clients: map[string]Client{"web01": {}}}
	if err := r.Validate(); err != nil {
		t.Fatalf("valid receiver built in code: %v", err)
	}
	if !r.Clients["web01"].PruneAllowed() {
		t.Error("a client without allow_prune may prune")
	}
	r.Root = ""
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "no root:") {
		t.Fatalf("Validate() = %v", err)
	}
}
