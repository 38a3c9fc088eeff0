package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSenderCheckFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"ca.crt", "web01.crt"} {
		writeFile(t, dir, f, "x")
	}
	if err := os.Mkdir(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, dir, "hotzfs.yaml", `targets:
  offsite:
    address: backup.example.net:7390
    ca: ca.crt
    cert: web01.crt
    key: keys
  standby:
    ssh: b
    identity: id_missing
jobs:
  - {name: g, guests: [a], target: offsite}
`)
	s, err := LoadSender(path) // the files are not opened while loading
	if err != nil {
		t.Fatal(err)
	}
	err = s.CheckFiles()
	wantProblems(t, err,
		problem{"6:10", `target "offsite": key: ` + filepath.Join(dir, "keys") + " is not a regular file"},
		problem{"9:15", `target "standby": identity: open ` + filepath.Join(dir, "id_missing") + ": no such file or directory — fix the path"},
	)
	if n := len(Problems(err)); n != 2 {
		t.Errorf("want 2 problems (ca and cert exist), got %d:\n%v", n, err)
	}
}

func TestReceiverCheckFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "ca.crt", "x")
	writeFile(t, dir, "b.crt", "x")
	writeFile(t, dir, "b.key", "x")
	path := writeFile(t, dir, "receiver.yaml", "root: tank/backup\nclients: {web01: {}}\ntls: {ca: ca.crt, cert: b.crt, key: b.key}\n")
	r, err := LoadReceiver(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CheckFiles(); err != nil {
		t.Fatalf("all files exist: %v", err)
	}
	os.Remove(filepath.Join(dir, "b.key"))
	wantProblems(t, r.CheckFiles(), problem{"3:37", "tls.key: open " + filepath.Join(dir, "b.key")})
}

func TestKindAndCheck(t *testing.T) {
	dir := t.TempDir()
	sender := writeFile(t, dir, "s.yaml", offsite+"jobs:\n  - {name: g, guests: [a], target: offsite}\n")
	receiver := writeFile(t, dir, "r.yaml", "root: tank/backup\nclients: {web01: {}}\n")
	mixed := writeFile(t, dir, "m.yaml", "root: tank/backup\njobs: []\n")
	neither := writeFile(t, dir, "n.yaml", "metrics: ':9390'\n")
	if k, err := Kind(sender); k != KindSender || err != nil {
		t.Errorf("Kind(sender) = %q, %v", k, err)
	}
	if k, err := Kind(receiver); k != KindReceiver || err != nil {
		t.Errorf("Kind(receiver) = %q, %v", k, err)
	}
	if _, err := Kind(mixed); err == nil || !strings.Contains(err.Error(), "m.yaml:1:1: the file mixes sender keys") {
		t.Errorf("Kind(mixed) error = %v", err)
	}
	if _, err := Kind(neither); err == nil || !strings.Contains(err.Error(), "cannot tell whether this is a sender") {
		t.Errorf("Kind(neither) error = %v", err)
	}

	// Check = Kind + Load + CheckFiles: the sender's TLS files do not exist.
	k, err := Check(sender)
	if k != KindSender || err == nil || !strings.Contains(err.Error(), "s.yaml:2:53: target \"offsite\": ca: open ") {
		t.Errorf("Check(sender) = %q, %v", k, err)
	}
	if k, err := Check(receiver); k != KindReceiver || err != nil {
		t.Errorf("Check(receiver) = %q, %v", k, err)
	}
}

// A config that does not exist yet (a fresh install) is met with the packaged example to start from.
func TestMissingConfigPointsAtTheExample(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		load    func(string) error
		file    string
		example string
	}{
		{func(p string) error { _, err := LoadSender(p); return err }, "hotzfs.yaml", "hotzfs.yaml"},
		{func(p string) error { _, err := LoadReceiver(p); return err }, "receiver.yaml", "receiver.yaml"},
	} {
		path := filepath.Join(dir, c.file)
		want := "start from the example: cp " + ExamplesDir + "/" + c.example + " " + path
		if err := c.load(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("load missing %s: %v; want it to say %q", c.file, err, want)
		}
	}
	if _, err := LoadSender(dir); err == nil || strings.Contains(err.Error(), "example") {
		t.Errorf("a directory as the config: %v; want an error without the example (the path exists)", err)
	}
}

// The examples the missing-config message names are where the packages install them.
func TestPackagesInstallTheExamplesTheMessageNames(t *testing.T) {
	data, err := os.ReadFile("../goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var release struct {
		NFPMs []struct {
			Contents []struct{ Src, Dst string } `yaml:"contents"`
		} `yaml:"nfpms"`
	}
	if err := yaml.Unmarshal(data, &release); err != nil {
		t.Fatal(err)
	}
	installed := map[string]string{}
	for _, p := range release.NFPMs {
		for _, c := range p.Contents {
			installed[c.Dst] = c.Src
		}
	}
	for _, name := range []string{"hotzfs.yaml", "receiver.yaml"} {
		if src := installed[ExamplesDir+"/"+name]; src != "examples/"+name {
			t.Errorf("goreleaser.yaml installs %q as %s/%s, want examples/%s", src, ExamplesDir, name, name)
		}
	}
}
