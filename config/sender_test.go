package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSenderDefaults(t *testing.T) {
	s, err := ParseSender("/etc/hotzfs/hotzfs.yaml", []byte(`targets:
  offsite: {address: "backup.example.net:7390", ca: ca.crt, cert: tls/web01.crt, key: /keys/web01.key}
  standby: {ssh: standby.example.net}
jobs:
  - name: guests
    guests: [web1]
    target: offsite
    hooks:
      - pre: [/bin/true]
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Libvirt.URI != "qemu:///system" || s.StateDir != "/var/lib/hotzfs" || s.Metrics != "" {
		t.Errorf("top-level defaults: %+v", s)
	}
	j := s.Jobs[0]
	if j.Quiesce != QuiescePreferred || j.FreezeTimeout != Duration(10*time.Second) ||
		j.Compression != CompressionDefault || j.SnapshotPrefix != "hotzfs" || !j.Bandwidth.Unlimited() ||
		j.AllowRollback || j.Send != (SendFlags{}) || !j.Schedule.IsZero() || j.TargetRoot != "" {
		t.Errorf("job defaults: %+v", j)
	}
	if j.Hooks[0].Timeout != DefaultHookTimeout {
		t.Errorf("hook timeout default = %v", j.Hooks[0].Timeout)
	}
	if !j.Retention.Source.IsEmpty() || !j.Retention.Target.IsEmpty() {
		t.Errorf("retention default is not empty (keep everything): %+v", j.Retention)
	}
	ssh := s.Targets["standby"]
	if ssh.Kind() != TargetSSH || ssh.Port != 22 || ssh.Command != "hotzfs serve --stdio" {
		t.Errorf("ssh target defaults: %+v", ssh)
	}
	tls := s.Targets["offsite"]
	if tls.Kind() != TargetTLS || tls.Port != 0 || tls.Command != "" {
		t.Errorf("TLS target got ssh defaults: %+v", tls)
	}
	// Relative paths are relative to the config file's directory.
	if tls.CA != "/etc/hotzfs/ca.crt" || tls.Cert != "/etc/hotzfs/tls/web01.crt" || tls.Key != "/keys/web01.key" {
		t.Errorf("paths not resolved against the config's directory: %+v", tls)
	}
	if s.File() != "/etc/hotzfs/hotzfs.yaml" {
		t.Errorf("File() = %q", s.File())
	}
}

func TestSenderExplicitValues(t *testing.T) {
	s, err := ParseSender("sender.yaml", []byte(offsite+`jobs:
  - name: all-set
    schedule: "*/5 * * * * *"
    datasets: [tank/a]
    quiesce: required
    freeze_timeout: 1m30s
    hooks:
      - {pre: [/usr/local/sbin/app-lock], post: [/usr/bin/logger, done], timeout: 5s}
    target: offsite
    target_root: hv1/guests
    compression: none
    bandwidth: 50MiB/s
    send: {raw: true, compressed: true, large_blocks: true, embedded: true}
    allow_rollback: true
    snapshot_prefix: hz
    retention:
      source: {keep_last: 3, keep_within: 2d, hourly: 24, daily: 7, weekly: 4, monthly: 12, yearly: 2}
      target: {grid: "1x1h(keep=all) | 24x1h | 14x1d", timezone: Europe/Berlin}
`))
	if err != nil {
		t.Fatal(err)
	}
	j := s.Jobs[0]
	if j.Schedule.String() != "*/5 * * * * *" || j.Quiesce != QuiesceRequired ||
		time.Duration(j.FreezeTimeout) != 90*time.Second || j.Compression != CompressionNone ||
		j.Bandwidth != 50<<20 || !j.AllowRollback || j.SnapshotPrefix != "hz" || j.TargetRoot != "hv1/guests" {
		t.Errorf("job: %+v", j)
	}
	if j.Send != (SendFlags{Raw: true, Compressed: true, LargeBlocks: true, Embedded: true}) {
		t.Errorf("send flags: %+v", j.Send)
	}
	if h := j.Hooks[0]; strings.Join(h.Pre, " ") != "/usr/local/sbin/app-lock" ||
		strings.Join(h.Post, " ") != "/usr/bin/logger done" || h.Timeout != Duration(5*time.Second) {
		t.Errorf("hook: %+v", h)
	}
	src := j.Retention.Source
	if src.KeepLast != 3 || time.Duration(src.KeepWithin) != 48*time.Hour || src.Hourly != 24 || src.Daily != 7 ||
		src.Weekly != 4 || src.Monthly != 12 || src.Yearly != 2 {
		t.Errorf("source retention: %+v", src)
	}
	loc, err := j.Retention.Target.Location()
	if err != nil || loc.String() != "Europe/Berlin" || j.Retention.Target.Grid == "" {
		t.Errorf("target retention: %+v, %v, %v", j.Retention.Target, loc, err)
	}
}

// Each rule of the sender config: the message says what is wrong and the position is where it is.
func TestSenderValidation(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want problem
	}{
		{"unknown top-level key", offsite + "jobz: []\n",
			problem{"3:1", `unknown key "jobz" at the top level (did you mean "jobs"?)`}},
		{"unknown key without a close match lists the keys", offsite + "color: blue\n",
			problem{"3:1", `unknown key "color" at the top level (allowed: libvirt, state_dir, metrics, targets, jobs)`}},
		{"unknown key in retention", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: offsite\n" +
			"    retention:\n      source: {keep_lst: 3}\n",
			problem{"8:16", `unknown key "keep_lst" in job "g" under retention.source (did you mean "keep_last"?)`}},
		{"unknown key in target", "targets:\n  offsite:\n    adress: x:1\njobs: []\n",
			problem{"3:5", `unknown key "adress" in target "offsite" (did you mean "address"?)`}},
		{"duplicate key", offsite + "jobs:\n  - name: g\n    guests: [a]\n    guests: [b]\n",
			problem{"6:5", `duplicate key "guests" (first set at line 5, column 5)`}},
		{"list where a mapping belongs", "libvirt: [qemu:///system]\n",
			problem{"1:10", "libvirt: expected a mapping (key: value), found a list"}},
		{"not a boolean", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: offsite\n    allow_rollback: yes please\n",
			problem{"7:21", `job "g": allow_rollback: expected true or false, found "yes please"`}},
		{"not a number", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: offsite\n    retention: {source: {daily: seven}}\n",
			problem{"7:33", `job "g": retention.source.daily: expected a whole number, found "seven"`}},
		{"bad cron", offsite + "jobs:\n  - name: g\n    schedule: '*/15 * * *'\n    guests: [a]\n    target: offsite\n",
			problem{"5:15", `job "g": schedule "*/15 * * *": expected 5 to 6 fields, found 4`}},
		{"bad duration", offsite + "jobs:\n  - name: g\n    freeze_timeout: 10\n    guests: [a]\n    target: offsite\n",
			problem{"5:21", `job "g": freeze_timeout "10": 10 needs a unit (write e.g. 10s or 10m)`}},
		{"duration given as a list", offsite + "jobs:\n  - name: g\n    freeze_timeout: [10s]\n    guests: [a]\n    target: offsite\n",
			problem{"5:21", `job "g": freeze_timeout: expected a duration like 30s, 5m or 14d, found a list`}},
		{"freeze timeout too long", offsite + "jobs:\n  - name: g\n    freeze_timeout: 11m\n    guests: [a]\n    target: offsite\n",
			problem{"5:21", `job "g": freeze_timeout 11m is out of range; use 1s to 10m`}},
		{"freeze timeout too short", offsite + "jobs:\n  - name: g\n    freeze_timeout: 500ms\n    guests: [a]\n    target: offsite\n",
			problem{"5:21", `freeze_timeout 500ms is out of range`}},
		{"bad quiesce", offsite + "jobs:\n  - name: g\n    quiesce: requierd\n    guests: [a]\n    target: offsite\n",
			problem{"5:14", `job "g": quiesce "requierd": not a quiesce policy; use required, preferred or off (did you mean "required"?)`}},
		{"bad compression", offsite + "jobs:\n  - name: g\n    compression: lz4\n    guests: [a]\n    target: offsite\n",
			problem{"5:18", `job "g": compression "lz4": not a compression level; use none, fastest, default or better`}},
		{"bad bandwidth", offsite + "jobs:\n  - name: g\n    bandwidth: fast\n    guests: [a]\n    target: offsite\n",
			problem{"5:16", `job "g": bandwidth "fast": expected a number with an optional unit, like 500MiB or 2G`}},
		{"unknown target", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: ofsite\n",
			problem{"6:13", `job "g": target "ofsite" is not defined under targets: (did you mean "offsite"?)`}},
		{"no target", offsite + "jobs:\n  - name: g\n    guests: [a]\n",
			problem{"4:5", `job "g" has no target; add target: with one of the targets: "offsite"`}},
		{"duplicate job", offsite + "jobs:\n  - {name: g, guests: [a], target: offsite}\n  - {name: g, guests: [b], target: offsite}\n",
			problem{"5:12", `job name "g" is used twice (first by job #1)`}},
		{"job without name", offsite + "jobs:\n  - guests: [a]\n    target: offsite\n",
			problem{"4:5", "job #1 has no name"}},
		{"unsafe job name", offsite + "jobs:\n  - name: my job!\n    guests: [a]\n    target: offsite\n",
			problem{"4:11", `job name "my job!" may only have letters, digits, _ and -`}},
		{"nothing to back up", offsite + "jobs:\n  - name: g\n    target: offsite\n",
			problem{"4:5", `job "g" has nothing to back up; list guests: (libvirt names or globs) or datasets:`}},
		{"no jobs", offsite, problem{"1:1", "no jobs: add a job under jobs:"}},
		{"dataset with ..", offsite + "jobs:\n  - name: g\n    datasets: [tank/ok, tank/../etc]\n    target: offsite\n",
			problem{"5:25", `job "g": dataset name "tank/../etc": component ".." is not allowed`}},
		{"dataset starting with -", offsite + "jobs:\n  - name: g\n    datasets:\n      - tank/-F\n    target: offsite\n",
			problem{"6:9", `component "-F" must not start with '-'`}},
		{"dataset listed twice", offsite + "jobs:\n  - name: g\n    datasets: [tank/a, tank/a]\n    target: offsite\n",
			problem{"5:24", `job "g": dataset "tank/a" is listed twice`}},
		{"dataset in two jobs with one prefix", offsite + "jobs:\n  - {name: a, datasets: [tank/x], target: offsite}\n" +
			"  - {name: b, datasets: [tank/x], target: offsite}\n",
			problem{"5:26", `job "b": dataset "tank/x" is also in job "a" with the same snapshot_prefix "hotzfs"`}},
		{"bad guest glob", offsite + "jobs:\n  - name: g\n    guests: ['web-[']\n    target: offsite\n",
			problem{"5:14", `job "g": guest "web-[" is not a name or a glob like "web-*"`}},
		{"bad target_root", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: offsite\n    target_root: hv1//x\n",
			problem{"7:18", `job "g": target_root: dataset name "hv1//x": empty name component`}},
		{"bad snapshot prefix", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: offsite\n    snapshot_prefix: hot@zfs\n",
			problem{"7:22", `job "g": snapshot_prefix "hot@zfs" may only have letters, digits, _ and -`}},
		{"negative retention", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: offsite\n" +
			"    retention:\n      target:\n        daily: -3\n",
			problem{"9:16", `job "g": retention.target.daily is -3; a count must be 0 or more`}},
		{"bad grid", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: offsite\n" +
			"    retention: {source: {grid: '24x1h | 14x'}}\n",
			problem{"7:32", `job "g": retention.source.grid: grid segment 2 "14x" (column 9): missing the bucket length after "x"`}},
		{"bad keep in grid", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: offsite\n" +
			"    retention: {source: {grid: '1x1h(keep=none)'}}\n",
			problem{"7:32", `keep=none: want a positive whole number or all`}},
		{"bad keep_within", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: offsite\n" +
			"    retention: {target: {keep_within: 2 days}}\n",
			problem{"7:39", `job "g": retention.target.keep_within "2 days": no spaces (write e.g. 30s, 5m, 2h or 14d)`}},
		{"unknown time zone", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: offsite\n" +
			"    retention: {source: {daily: 7, timezone: Mars/Olympus}}\n",
			problem{"7:46", `retention.source.timezone "Mars/Olympus" is not a known time zone`}},
		{"hook without command", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: offsite\n" +
			"    hooks:\n      - timeout: 5s\n",
			problem{"8:9", `job "g": hooks[0] has no command; write pre: [/path/to/program, arg, …] and/or post: […]`}},
		{"hook with an empty program", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: offsite\n" +
			"    hooks: [{pre: [x], post: ['', y]}]\n",
			problem{"7:24", `job "g": hooks[0].post has an empty program name`}},
		{"hook timeout out of range", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: offsite\n" +
			"    hooks: [{post: [x], timeout: 2h}]\n",
			problem{"7:34", `job "g": hooks[0].timeout 2h is out of range; use 1s to 1h`}},
		{"hook command as a string", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: offsite\n" +
			"    hooks: [{post: logger done}]\n",
			problem{"7:20", `job "g": hooks[0].post: expected a list, found "logger done"`}},
		{"hooks in the unpaired form", offsite + "jobs:\n  - name: g\n    guests: [a]\n    target: offsite\n" +
			"    hooks:\n      pre: [{run: [lock]}]\n      post: [{run: [unlock]}]\n",
			problem{"8:7", `job "g": hooks: expected a list, found a mapping (key: value); the separate pre: and post: lists are gone`}},
		{"disk_map for a guest the job lacks", offsite + "jobs:\n  - name: g\n    guests: [web-*]\n    target: offsite\n" +
			"    disk_map:\n      db1: {vda: tank/db1}\n",
			problem{"8:7", `job "g": disk_map names guest "db1", which is not among the job's guests: "web-*"`}},
		{"disk_map with a bad target", offsite + "jobs:\n  - name: g\n    guests: [web-*]\n    target: offsite\n" +
			"    disk_map:\n      web-1:\n        /dev/vda: tank/web1\n",
			problem{"9:19", `disk_map.web-1: "/dev/vda" is not a disk target like vda or sdb`}},
		{"disk_map with a bad dataset", offsite + "jobs:\n  - name: g\n    guests: [web-*]\n    target: offsite\n" +
			"    disk_map:\n      web-1:\n        vda: tank/../x\n",
			problem{"9:14", `job "g": disk_map.web-1.vda: dataset name "tank/../x": component ".." is not allowed`}},
		{"relative state_dir", offsite + "state_dir: var/hotzfs\n",
			problem{"3:12", `state_dir "var/hotzfs" must be an absolute path`}},
		{"bad libvirt uri", offsite + "libvirt: {uri: system}\n",
			problem{"3:16", `libvirt.uri "system" is not a libvirt URI; use e.g. qemu:///system`}},
		{"bad metrics address", offsite + "metrics: 9390\n",
			problem{"3:10", `metrics "9390" must be [host]:port`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSender("sender.yaml", []byte(tt.yaml))
			wantProblems(t, err, tt.want)
		})
	}
}

func TestSenderTargets(t *testing.T) {
	job := "jobs:\n  - {name: g, guests: [a], target: t}\n"
	tests := []struct {
		name string
		yaml string
		want problem
	}{
		{"TLS and ssh at once", "targets:\n  t: {address: 'b:7390', ssh: b}\n",
			problem{"2:3", `target "t" has both address (TLS) and ssh; a target is one or the other`}},
		{"neither", "targets:\n  t: {}\n",
			problem{"2:3", `target "t" has neither address: (TLS, host:port) nor ssh: (user@host)`}},
		{"null target", "targets:\n  t:\n",
			problem{"2:3", `target "t" has neither`}},
		{"TLS without key", "targets:\n  t: {address: 'b:7390', ca: a, cert: c}\n",
			problem{"2:3", `target "t" has no key: file; a TLS target needs ca, cert and key`}},
		{"address without port", "targets:\n  t: {address: backup.example.net, ca: a, cert: c, key: k}\n",
			problem{"2:16", `target "t": address "backup.example.net" must be host:port`}},
		{"port on a TLS target", "targets:\n  t:\n    address: 'b:7390'\n    ca: a\n    cert: c\n    key: k\n    port: 7390\n",
			problem{"7:11", `target "t" is a TLS target; port is only for ssh targets`}},
		{"TLS files on an ssh target", "targets:\n  t:\n    ssh: b\n    cert: c\n",
			problem{"4:11", `target "t" is an ssh target; cert is only for TLS targets`}},
		{"ssh option injection", "targets:\n  t: {ssh: -oProxyCommand=sh}\n",
			problem{"2:12", `target "t": ssh "-oProxyCommand=sh" must be user@host or host`}},
		{"ssh empty user", "targets:\n  t: {ssh: '@host'}\n",
			problem{"2:12", `must be user@host or host`}},
		{"ssh port out of range", "targets:\n  t: {ssh: b, port: 70000}\n",
			problem{"2:21", `target "t": port 70000 is not a TCP port`}},
		{"ssh identity with ~", "targets:\n  t: {ssh: b, identity: ~/.ssh/id}\n",
			problem{"2:25", `identity "~/.ssh/id": write the full path`}},
		{"unsafe target name", "targets:\n  'off site': {ssh: b}\n",
			problem{"2:3", `target name "off site" may only have letters, digits, _ and -`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSender("sender.yaml", []byte(tt.yaml+job))
			wantProblems(t, err, tt.want)
		})
	}
}

// A config built in code validates too; its problems have no position but still say what and which.
func TestSenderValidateInCode(t *testing.T) {
	s := &Sender{
		Targets: map[string]Target{"t": {SSH: "b"}},
		Jobs:    []Job{{Name: "g", Guests: []string{"a"}, Target: "x"}},
	}
	err := s.Validate()
	if err == nil || !strings.Contains(err.Error(), `job "g": target "x" is not defined`) {
		t.Fatalf("Validate() = %v", err)
	}
	s.Jobs[0].Target = "t"
	if err := s.Validate(); err != nil {
		t.Fatalf("valid config built in code: %v", err)
	}
}

func TestLoadSenderMissingFile(t *testing.T) {
	_, err := LoadSender(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "read sender config") || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("LoadSender(missing) = %v", err)
	}
}

func TestParseStructure(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty file", "", "sender.yaml: the file is empty"},
		{"only comments", "# nothing\n", "sender.yaml: the file is empty"},
		{"top level is a list", "- jobs\n", `sender.yaml:1:1: the top level is a list`},
		{"two documents", offsite + "---\njobs: []\n", "sender.yaml:4:1: a second YAML document"},
		{"syntax error", "targets: {a: 1\n", "sender.yaml:1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSender("sender.yaml", []byte(tt.yaml))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %v, want prefix %q", err, tt.want)
			}
		})
	}
}

// Anchors, aliases and merge keys work (a later key overrides a merged one); a repeated key still fails.
func TestSenderAnchors(t *testing.T) {
	s, err := ParseSender("sender.yaml", []byte(offsite+`jobs:
  - &base
    name: a
    guests: [web1]
    target: offsite
    retention:
      source: &keep {daily: 7}
  - <<: *base
    name: b
    freeze_timeout: 20s
    retention: {source: *keep, target: *keep}
`))
	if err != nil {
		t.Fatal(err)
	}
	b := s.Jobs[1]
	if b.Name != "b" || b.Target != "offsite" || b.FreezeTimeout != Duration(20*time.Second) ||
		b.Retention.Target.Daily != 7 || s.Jobs[0].FreezeTimeout != DefaultFreezeTimeout {
		t.Errorf("merged job: %+v", b)
	}
}
