package config

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/certs"
)

// writePKI writes, in dir, a CA (ca), a client web01 and a receiver backup.example.net issued by it, and
// another CA (other) with a client web01 of its own (foreign), as hotzfs certs names the files.
func writePKI(t *testing.T, dir string) {
	t.Helper()
	year := certs.Validity{Now: time.Now(), Duration: 365 * 24 * time.Hour}
	must := func(p *certs.Pair, err error) *certs.Pair {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := must(certs.NewCA("hotzfs CA", year))
	other := must(certs.NewCA("another CA", year))
	for name, p := range map[string]*certs.Pair{
		"ca":                 ca,
		"other":              other,
		"web01":              must(certs.NewClient(ca, "web01", year)),
		"foreign":            must(certs.NewClient(other, "web01", year)),
		"backup.example.net": must(certs.NewServer(ca, certs.ServerSpec{Name: "backup.example.net", DNSNames: []string{"backup.example.net"}}, year)),
	} {
		if err := certs.Write(p, filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), false); err != nil {
			t.Fatal(err)
		}
	}
}

// config check loads the TLS files as serve and backup do: a swapped pair, a key of another certificate, a
// receiver's certificate as a client's (and the reverse), a certificate of another CA and a CA file without a
// CA are each a problem at the setting, naming the file and what to do.
func TestCheckLoadsTheTLSFiles(t *testing.T) {
	dir := t.TempDir()
	writePKI(t, dir)
	server := "backup.example.net"
	for _, c := range []struct {
		name         string
		ca, crt, key string
		receiver     bool
		pos, want    string // line:col and a part of the problem; "" when the files are right
	}{
		{"client", "ca.crt", "web01.crt", "web01.key", false, "", ""},
		{"receiver", "ca.crt", server + ".crt", server + ".key", true, "", ""},
		{"swapped", "ca.crt", "web01.key", "web01.crt", false, "5:11", "cert: certificate file " +
			filepath.Join(dir, "web01.key") + " holds a private key, not a certificate: are the certificate and the key swapped?"},
		{"swapped on the receiver", "ca.crt", server + ".key", server + ".crt", true, "5:9", "holds a private key"},
		{"key of another certificate", "ca.crt", "web01.crt", server + ".key", false, "5:11", "cert: key " +
			filepath.Join(dir, server+".key") + " does not belong to certificate " + filepath.Join(dir, "web01.crt") +
			": give the key made with it"},
		{"receiver's certificate as a client's", "ca.crt", server + ".crt", server + ".key", false, "5:11",
			"cert: certificate " + filepath.Join(dir, server+".crt") + " is not a client certificate (no clientAuth " +
				"key usage; a receiver's?): hotzfs certs client NAME makes a client certificate"},
		{"client's certificate as the receiver's", "ca.crt", "web01.crt", "web01.key", true, "5:9",
			"tls: cert: certificate " + filepath.Join(dir, "web01.crt") + " is not a server certificate (no serverAuth " +
				"key usage; a client's?): hotzfs certs server HOST makes the receiver's certificate"},
		{"another CA's certificate", "ca.crt", "foreign.crt", "foreign.key", false, "5:11", "cert: certificate " +
			filepath.Join(dir, "foreign.crt") + ` was issued by "another CA", not by the CA it is checked against`},
		{"the receiver trusts another CA", "other.crt", server + ".crt", server + ".key", true, "5:9",
			`was issued by "hotzfs CA"`},
		{"a client certificate as the CA", "web01.crt", "web01.crt", "web01.key", false, "4:9", "ca: CA file " +
			filepath.Join(dir, "web01.crt") + `: certificate "web01" is not a CA certificate; name the CA's certificate`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, dir, "hotzfs.yaml", "targets:\n  offsite:\n    address: b:7390\n    ca: "+c.ca+
				"\n    cert: "+c.crt+"\n    key: "+c.key+"\njobs:\n  - {name: g, guests: [a], target: offsite}\n")
			if c.receiver {
				path = writeFile(t, dir, "receiver.yaml", "root: tank/backup\nclients: {web01: {}}\ntls:\n  ca: "+c.ca+
					"\n  cert: "+c.crt+"\n  key: "+c.key+"\n")
			}
			_, err := Check(path)
			if c.want == "" {
				if err != nil {
					t.Fatalf("right files: %v", err)
				}
				return
			}
			wantProblems(t, err, problem{c.pos, c.want})
			if n := len(Problems(err)); n != 1 {
				t.Errorf("want 1 problem, got %d:\n%v", n, err)
			}
		})
	}
}
