package config

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
	writePKI(t, dir)
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

// A missing file's message says how to make it: hotzfs certs for TLS files, ssh-keygen and ssh-keyscan for ssh.
func TestMissingFilesSayHowToMakeThem(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "hotzfs.yaml", `targets:
  offsite: {address: "b:7390", ca: /etc/hotzfs/tls/ca.crt, cert: /etc/hotzfs/tls/web01.crt, key: k/web01.key}
  standby: {ssh: hotzfs@standby.example.net, port: 2222, identity: ssh/id, known_hosts: ssh/known}
jobs:
  - {name: g, guests: [a], target: offsite}
`)
	s, err := LoadSender(path)
	if err != nil {
		t.Fatal(err)
	}
	err = s.CheckFiles()
	wantProblems(t, err,
		problem{"2:36", "ca: open /etc/hotzfs/tls/ca.crt: no such file or directory — fix the path, or create it: " +
			"copy ca.crt from the host that made the CA, or make the CA once with hotzfs certs ca"},
		problem{"2:66", "cert: open /etc/hotzfs/tls/web01.crt: no such file or directory — fix the path, or create it: " +
			"hotzfs certs client web01 makes web01.crt and web01.key"},
		problem{"2:98", "hotzfs certs client web01 --dir " + filepath.Join(dir, "k") + " makes"},
		problem{"3:68", "create it: ssh-keygen -t ed25519 -N '' -f " + filepath.Join(dir, "ssh/id") + " makes the key; add " +
			filepath.Join(dir, "ssh/id") + ".pub to the receiver's authorized_keys"},
		problem{"3:89", "create it: ssh-keyscan -p 2222 standby.example.net > " + filepath.Join(dir, "ssh/known") +
			" records the receiver's host key"},
	)
	for _, e := range Problems(err) {
		if e.Pos.Line == 3 && strings.Contains(e.Msg, "hotzfs certs") {
			t.Errorf("an ssh file's message points at hotzfs certs: %s", e.Msg)
		}
	}

	path = writeFile(t, dir, "receiver.yaml", "root: tank/backup\nclients: {web01: {}}\n"+
		"tls: {ca: pki/ca.crt, cert: pki/backup.example.net.crt, key: pki/backup.example.net.key}\n")
	r, err := LoadReceiver(path)
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, r.CheckFiles(),
		problem{"3:11", "make the CA once with hotzfs certs ca --dir " + filepath.Join(dir, "pki")},
		problem{"3:29", "hotzfs certs server backup.example.net --dir " + filepath.Join(dir, "pki") +
			" makes backup.example.net.crt and backup.example.net.key"})
}

func TestReceiverCheckFiles(t *testing.T) {
	dir := t.TempDir()
	writePKI(t, dir)
	path := writeFile(t, dir, "receiver.yaml", "root: tank/backup\nclients: {web01: {}}\n"+
		"tls: {ca: ca.crt, cert: backup.example.net.crt, key: backup.example.net.key}\n")
	r, err := LoadReceiver(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CheckFiles(); err != nil {
		t.Fatalf("all files exist: %v", err)
	}
	os.Remove(filepath.Join(dir, "backup.example.net.key"))
	wantProblems(t, r.CheckFiles(), problem{"3:54", "tls.key: open " + filepath.Join(dir, "backup.example.net.key")})
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

// Every packaged example a message, an example or the docs name is where the packages install it, from the
// same place in examples/; no message points into the source tree's examples/, which a package install lacks.
func TestNamedExamplesAreInstalled(t *testing.T) {
	installed := packagedFiles(t)
	named := regexp.MustCompile(regexp.QuoteMeta(ExamplesDir) + `/([A-Za-z0-9_./-]*[A-Za-z0-9_])`)
	sourceHint := regexp.MustCompile(`"[^"]*[^/a-z]examples/|"examples/`)
	files, _ := filepath.Glob("../*/*.go")
	more, _ := filepath.Glob("../cmd/*/*.go")
	docs, _ := filepath.Glob("../docs/*.md")
	examples, _ := filepath.Glob("../examples/*/*")
	tops, _ := filepath.Glob("../examples/*.yaml")
	files = slices.Concat(files, more, docs, examples, tops, []string{"../README.md"})
	found := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range named.FindAllStringSubmatch(string(data), -1) {
			found++
			if src := installed[ExamplesDir+"/"+m[1]]; src != "examples/"+m[1] {
				t.Errorf("%s names %s/%s, which goreleaser.yaml installs from %q, want examples/%s", f, ExamplesDir,
					m[1], src, m[1])
			}
		}
		if strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, "_test.go") {
			if m := sourceHint.FindString(string(data)); m != "" {
				t.Errorf("%s has a message naming the source tree's examples/ (%s…); name %s instead", f, m, ExamplesDir)
			}
		}
	}
	if found < 5 {
		t.Errorf("found %d names of packaged examples, want at least 5", found)
	}
	for _, name := range []string{"hotzfs.yaml", "receiver.yaml"} {
		if installed[ExamplesDir+"/"+name] != "examples/"+name {
			t.Errorf("goreleaser.yaml does not install examples/%s as %s/%s", name, ExamplesDir, name)
		}
	}
}

// packagedFiles maps each file the deb and rpm packages install to its source in the repository.
func packagedFiles(t *testing.T) map[string]string {
	t.Helper()
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
	return installed
}
